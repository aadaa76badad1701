"""`npx osls invoke local -f callback -p events/...` works against moto server (the README's local path)."""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest

from tests.aws_server import ROOT, moto_server

pytestmark = pytest.mark.slow


def test_invoke_local_with_a_sample_event_archives_and_publishes() -> None:
    with moto_server() as endpoint:
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local",
               "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
               "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
        env.pop("AWS_SESSION_TOKEN", None)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                          aws_secret_access_key="local")
        sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                           aws_secret_access_key="local")
        s3.create_bucket(Bucket="mediahook-invoke-local")
        topic = sns.create_topic(Name="mediahook-invoke-local")["TopicArn"]
        env |= {"ARCHIVE_BUCKET": "mediahook-invoke-local", "EVENTS_TOPIC_ARN": topic, "IDEMPOTENCY_TABLE": ""}
        result = subprocess.run(
            [str(ROOT / "node_modules" / ".bin" / "osls"), "invoke", "local", "-f", "callback", "--stage", "local",
             "-p", "events/vod/NewFileUpload.json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        response, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index('{\n    "statusCode"'):])
        assert response["statusCode"] == 200, response
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mediahook-invoke-local").get("Contents", [])]
        assert len(keys) == 1 and keys[0].startswith("vod/NewFileUpload/")
