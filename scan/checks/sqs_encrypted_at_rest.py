"""checkov check CKV_MEDIAHOOK_1: every SQS queue is encrypted at rest, with SQS-managed keys (SSE-SQS,
``SqsManagedSseEnabled: true``) or a KMS key (``KmsMasterKeyId``).

checkov's own CKV_AWS_27 accepts only ``KmsMasterKeyId`` and so fails the SSE-SQS the stack uses on purpose
(a KMS key would make Tencent's MPS producer and Lambda's dead-lettering need key grants); scan/skips.yaml
skips CKV_AWS_27 and this check takes its place, so an unencrypted queue still fails ``make scan``.
Loaded by checkov (``--external-checks-dir scan/checks``) in its own virtualenv, not by mediahook."""

from __future__ import annotations

from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


class SqsQueueEncryptedAtRest(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(name="Ensure the SQS queue is encrypted at rest (SSE-SQS or SSE-KMS)", id="CKV_MEDIAHOOK_1",
                         categories=[CheckCategories.ENCRYPTION], supported_resources=["AWS::SQS::Queue"])

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = conf.get("Properties") or {}
        if properties.get("KmsMasterKeyId"):
            return CheckResult.PASSED
        managed = properties.get("SqsManagedSseEnabled")
        return CheckResult.PASSED if managed is True or str(managed).lower() == "true" else CheckResult.FAILED


check = SqsQueueEncryptedAtRest()
