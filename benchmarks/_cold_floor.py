"""The design card's floor: the least a handler can do with mediahook's mandated stack (pydantic to validate,
powertools Logger and idempotency on DynamoDB, boto3 for S3 and SNS), and nothing else.

A handler module: ``make bench`` serves it through scripts/lambda_bootstrap.py with the artifact's own
pydantic and powertools on the path, so it shows what the stack itself costs next to the bare baseline."""

import hashlib
import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import BaseModel, ConfigDict


class FileUploadEvent(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)
    FileId: str | None = None


logger = Logger(service="floor")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
s3 = boto3.client("s3")
sns = boto3.client("sns")


@idempotent_function(data_keyword_argument="key", persistence_store=persistence,  # type: ignore[untyped-decorator]
                     config=IdempotencyConfig(event_key_jmespath="event_id"))
def effects(key: dict[str, str], body: str) -> dict[str, str]:
    object_key = f"floor/{key['event_id']}.json"
    s3.put_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=object_key, Body=body.encode("utf-8"))
    sns.publish(TopicArn=os.environ["EVENTS_TOPIC_ARN"], Message=body)
    return {"archive_key": object_key}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event["body"]
    document = json.loads(body)
    FileUploadEvent.model_validate(document["FileUploadEvent"])
    event_id = hashlib.sha256(body.encode("utf-8")).hexdigest()
    result = effects(key={"event_id": event_id}, body=body)
    logger.info("archived and published", extra=result)
    return {"statusCode": 200, "body": json.dumps(result)}
