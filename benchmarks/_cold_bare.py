"""The bare baseline a user might write by hand: json.loads, one S3 put_object, one SNS publish.

A handler module: ``make bench`` serves it through scripts/lambda_bootstrap.py as it serves the artifact."""

import json
import os
import uuid
from typing import Any

import boto3

s3 = boto3.client("s3")
sns = boto3.client("sns")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event["body"]
    document = json.loads(body)
    s3.put_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=f"bare/{uuid.uuid4()}.json", Body=body.encode("utf-8"))
    sns.publish(TopicArn=os.environ["EVENTS_TOPIC_ARN"], Message=body)
    return {"statusCode": 200, "body": json.dumps({"type": document.get("EventType")})}
