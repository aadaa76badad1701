"""The bare baseline a user might write by hand: json.loads, one S3 put_object, one SNS publish."""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import boto3  # noqa: E402

with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
body = event["body"]
document = json.loads(body)
boto3.client("s3").put_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=f"bare/{uuid.uuid4()}.json",
                              Body=body.encode("utf-8"))
boto3.client("sns").publish(TopicArn=os.environ["EVENTS_TOPIC_ARN"], Message=body)
elapsed = (time.perf_counter() - T0) * 1000
sys.stderr.write(json.dumps({"ms": elapsed, "type": document.get("EventType")}) + "\n")
