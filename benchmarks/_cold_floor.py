"""The design card's floor: the least a handler can do with mediahook's mandated stack (pydantic to validate,
powertools Logger and idempotency on DynamoDB, boto3 for S3 and SNS), and nothing else (run by run.py).

It shows how much of mediahook's cold start the stack itself costs, next to the bare baseline."""

import time

T0 = time.perf_counter()

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import boto3  # noqa: E402
from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.utilities.idempotency import (  # noqa: E402
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import BaseModel, ConfigDict  # noqa: E402


class FileUploadEvent(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)
    FileId: str | None = None


logger = Logger(service="floor")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])


@idempotent_function(data_keyword_argument="key", persistence_store=persistence,  # type: ignore[untyped-decorator]
                     config=IdempotencyConfig(event_key_jmespath="event_id"))
def effects(key: dict[str, str], body: str) -> dict[str, str]:
    object_key = f"floor/{key['event_id']}.json"
    boto3.client("s3").put_object(Bucket=os.environ["ARCHIVE_BUCKET"], Key=object_key, Body=body.encode("utf-8"))
    boto3.client("sns").publish(TopicArn=os.environ["EVENTS_TOPIC_ARN"], Message=body)
    return {"archive_key": object_key}


with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
body = event["body"]
document = json.loads(body)
FileUploadEvent.model_validate(document["FileUploadEvent"])
event_id = hashlib.sha256(body.encode("utf-8")).hexdigest()
result = effects(key={"event_id": event_id}, body=body)
logger.info("archived and published", extra=result)
elapsed = (time.perf_counter() - T0) * 1000
sys.stderr.write(json.dumps({"ms": elapsed}) + "\n")
