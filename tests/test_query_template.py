"""The events table's resources in the template `osls package` builds: the Glue table is lib/query/schema.py's
columns, partition projection over the prefix Firehose writes, the workgroup's cutoff, the results bucket's
safety and lifecycle, and each function's grant to put rows (cfn-lint: test_packaging.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lib.query.schema import COLUMNS, PARTITION, ROWS_TABLE
from lib.settings import QuerySettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resources(packaged: Path) -> dict[str, Any]:
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    found: dict[str, Any] = template["Resources"]
    return found


def test_the_glue_table_is_the_public_schema_with_partition_projection(resources: dict[str, Any]) -> None:
    table = resources["EventsRowsTable"]["Properties"]["TableInput"]
    assert table["Name"] == ROWS_TABLE
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        (c.name, c.glue_type) for c in COLUMNS]
    assert table["PartitionKeys"] == [{"Name": PARTITION.name, "Type": PARTITION.glue_type}]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    prefix = QuerySettings.model_fields["events_table_prefix"].default
    assert parameters["storage.location.template"] == {
        "Fn::Join": ["", ["s3://", {"Ref": "ArchiveBucket"}, f"/{prefix}dt=$", "{dt}/"]]}
    stream = resources["EventsTableStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert stream["Prefix"] == f"{prefix}dt=!{{timestamp:yyyy-MM-dd}}/"  # the partitions the projection reads
    assert stream["CompressionFormat"] == "GZIP" and stream["BucketARN"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
    assert not stream["ErrorOutputPrefix"].startswith(prefix)  # failed records never land among the rows


def test_the_workgroup_enforces_its_cutoff_and_results_location(resources: dict[str, Any]) -> None:
    config = resources["QueryWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert int(config["BytesScannedCutoffPerQuery"]) == 1024**3  # the stage parameter's default: 1 GB
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${QueryResultsBucket}/results/"}
    results = resources["QueryResultsBucket"]["Properties"]
    assert results["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                         "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert results["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = results["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and int(rule["ExpirationInDays"]) == 7
    assert resources["QueryResultsBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "QueryResultsBucket"}


def test_each_function_may_put_rows_on_the_stages_stream_only(resources: dict[str, Any]) -> None:
    stream = "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/mediahook-ci-events"
    assert resources["EventsTableStream"]["Properties"]["DeliveryStreamName"] == "mediahook-ci-events"
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 5
    for function in functions:
        assert function["Environment"]["Variables"]["EVENTS_STREAM_NAME"] == "mediahook-ci-events"
        role = resources[function["Role"]["Fn::GetAtt"][0]]["Properties"]
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if "Action" in s]
        grants = [s for s in statements if "firehose" in json.dumps(s["Action"])]
        assert grants == [{"Effect": "Allow", "Action": "firehose:PutRecord", "Resource": {"Fn::Sub": stream}}]


def test_the_delivery_stream_writes_only_under_tables(resources: dict[str, Any]) -> None:
    role = resources["EventsTableStreamRole"]["Properties"]
    (policy,) = role["Policies"]
    objects = [s for s in policy["PolicyDocument"]["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in objects] == [{"Fn::Sub": "${ArchiveBucket.Arn}/tables/*"}]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
