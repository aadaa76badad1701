"""The scanner findings that apply, fixed in the packaged template (issue 24; docs/security.md, "What the
scanners check"): the HTTP API's access log never holds the query string (the ``?token=``), the deployment
bucket is private, versioned and encrypted, every queue is encrypted at rest, and every asynchronously invoked
function (each one a schedule targets) dead-letters its failed runs to a queue of its own that it alone may
write and an alarm watches. cfn-lint over the same template: tests/test_packaging.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
# $context variables of HTTP API access logs that carry no part of the query string.
SAFE_CONTEXT = {"$context.requestId", "$context.identity.sourceIp", "$context.requestTime", "$context.httpMethod",
                "$context.routeKey", "$context.path", "$context.status", "$context.protocol",
                "$context.responseLength", "$context.integrationStatus", "$context.integrationLatency"}


def _resources(packaged: Path) -> dict[str, Any]:
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text(encoding="utf-8"))
    resources: dict[str, Any] = template["Resources"]
    return resources


def test_the_http_api_access_log_keeps_a_retention_and_never_the_query_string(packaged: Path) -> None:
    resources = _resources(packaged)
    settings = resources["HttpApiStage"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]}
    assert resources["HttpApiLogGroup"]["Properties"]["RetentionInDays"] == 30
    fields = json.loads(settings["Format"])
    assert set(fields.values()) <= SAFE_CONTEXT, set(fields.values()) - SAFE_CONTEXT
    assert {"routeKey", "path", "status", "requestId"} <= set(fields)
    assert not re.search(r"query|request\.|\$input|requestOverride", settings["Format"], re.IGNORECASE)


def test_the_deployment_bucket_is_private_versioned_and_encrypted(packaged: Path) -> None:
    bucket = _resources(packaged)["ServerlessDeploymentBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_every_queue_is_encrypted_at_rest(packaged: Path) -> None:
    queues = {name: r["Properties"] for name, r in _resources(packaged).items() if r["Type"] == "AWS::SQS::Queue"}
    assert {"MpsQueue", "MpsDeadLetterQueue", "PullDeadLetterQueue", "CmqDeadLetterQueue",
            "ReconcileDeadLetterQueue"} <= set(queues)
    for name, properties in queues.items():
        assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), name


def _scheduled_functions(resources: dict[str, Any]) -> set[str]:
    """Every function a schedule (an EventBridge rule) invokes: asynchronously, so Lambda retries, then drops."""
    return {target["Arn"]["Fn::GetAtt"][0] for r in resources.values() if r["Type"] == "AWS::Events::Rule"
            for target in r["Properties"]["Targets"]}


def test_every_scheduled_function_dead_letters_to_its_own_watched_queue(packaged: Path) -> None:
    resources = _resources(packaged)
    scheduled = _scheduled_functions(resources)
    assert scheduled == {"PullLambdaFunction", "CmqLambdaFunction", "ReconcileLambdaFunction"}
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in resources.values()
               if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"].get("Namespace") == "AWS/SQS"
               and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"}
    queues_seen = set()
    for function in sorted(scheduled):
        properties = resources[function]["Properties"]
        queue = properties["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
        assert resources[queue]["Type"] == "AWS::SQS::Queue", function
        assert queue not in queues_seen, f"{function} shares its dead-letter queue"
        queues_seen.add(queue)
        assert queue in alarmed, f"no alarm watches {queue}"
        role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [queue, "Arn"]}} in statements
        for name, other in resources.items():  # no other function's role may write to it
            if other["Type"] == "AWS::IAM::Role" and other["Properties"] is not role:
                texts = json.dumps(other["Properties"].get("Policies", []))
                assert f'"{queue}", "Arn"' not in texts, f"{name} may write to {queue}"
