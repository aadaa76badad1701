"""Tencent Cloud API clients: the SDK's CommonClient, signing requests with TC3-HMAC-SHA256.

One factory for every Tencent API mediahook calls: VOD's PullEvents/ConfirmEvents (lib/pull.py), VOD's
and MPS's DescribeTaskDetail and VOD's DescribeMediaInfos (lib/verify.py), and the listings the reconcile
run reads (lib/tencent/listing.py). The SDK is imported here, on first use, so the callback's cold start
never loads it unless verification is configured.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# The API version of each product, as its SDK package and the API documentation name it.
API_VERSIONS = {"vod": "2018-07-17", "mps": "2019-06-12", "cme": "2019-10-29"}


def make_client(service: str, endpoint: str, credentials: tuple[str, str, str | None], timeout: int) -> Any:
    """A CommonClient for ``service`` at ``endpoint`` (``https://vod.tencentcloudapi.com``, or a local fake)."""
    from tencentcloud.common import credential
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    secret_id, secret_key, token = credentials
    parts = urlsplit(endpoint)
    http = HttpProfile(endpoint=parts.netloc, protocol=parts.scheme, reqTimeout=timeout)
    return CommonClient(service, API_VERSIONS[service], credential.Credential(secret_id, secret_key, token), "",
                        profile=ClientProfile(httpProfile=http))
