"""`osls deploy` as users run it, onto a fresh moto server: create, no-op, update, remove.

The service is deployed from a copy of the project (so that a code change can be made without touching
the checkout) with plugins/local-endpoint.js switched on, through scripts/deploy_local.py, the code
behind `make deploy-local`. What moto does not build (HTTP API, alarms, dashboard, bucket policy and
hardening, TTL, PITR) stays with the template assertions and cfn-lint (test_packaging.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from scripts import deploy_local
from tests.aws_server import ROOT, moto_server
from tests.packaging import BUILD_LOCK

pytestmark = pytest.mark.slow

SERVICE_FILES = ("handler.py", "lib", "serverless.yml", "plugins", "requirements.lock", "requirements.txt",
                 "package.json", "scripts/build_artifact.py")


def copy_service(into: Path) -> Path:
    """What `osls deploy` reads, copied; node_modules linked."""
    for name in SERVICE_FILES:
        source, target = ROOT / name, into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    (into / "node_modules").symlink_to(ROOT / "node_modules")
    return into


def code_sha256(zip_path: Path) -> str:
    return base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()


class Account:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def resources(self, stack: str) -> dict[str, str]:
        summaries = self.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
        return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}

    def functions(self, stage: str) -> dict[str, dict[str, Any]]:
        found = self.client("lambda").list_functions()["Functions"]
        return {f["FunctionName"].removeprefix(f"mediahook-{stage}-"): f for f in found
                if f["FunctionName"].startswith(f"mediahook-{stage}-")}


@pytest.fixture
def account() -> Iterator[Account]:
    with moto_server() as endpoint:
        yield Account(endpoint)


# Two forwarding destinations (plugins/forward-queues.js): a queue pair and an event source each.
DESTINATIONS = [{"name": "orders", "url": "https://orders.example.com/hook", "secret_param": "/mediahook/t/forward/o"},
                {"name": "legacy", "url": "https://legacy.example.com/hook", "format": "tencent",
                 "secret_param": "/mediahook/t/forward/l", "concurrency": 4}]
PARAMS = [f"--param=forwardDestinations={json.dumps(DESTINATIONS)}"]


def _deploy(account: Account, service: Path, stage: str) -> str:
    # The copy packages in its own folder, but serverless-python-requirements installs into a cache shared by
    # every build on the machine (its static cache): while one build fills it, another one that finds it
    # incomplete deletes it. So a deploy takes turns with the builds in the project folder.
    with BUILD_LOCK:
        result = deploy_local.osls(["deploy", "--stage", stage, *PARAMS], account.endpoint, service, capture=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_deploy_update_and_remove_on_moto(account: Account, tmp_path: Path) -> None:
    service = copy_service(tmp_path / "service")
    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = f"mediahook-{stage}"

    # 1. create
    _deploy(account, service, stage)
    resources = account.resources(stack)
    functions = account.functions(stage)
    assert set(functions) == {"callback", "pull", "queue", "cmq", "reconcile", "forward"}
    local_zip = code_sha256(service / ".serverless" / "mediahook.zip")
    assert {f["CodeSha256"] for f in functions.values()} == {local_zip}  # the artifact `make package` builds
    assert {f["Runtime"] for f in functions.values()} == {"python3.12"}
    topic_arn = resources["EventsTopic"]
    table = resources["IdempotencyTable"]
    # The stack's own resources, though this test's shell sets ARCHIVE_BUCKET and friends (conftest): only
    # the `local` stage reads them from the environment.
    for function in functions.values():
        env = function["Environment"]["Variables"]
        assert env["ARCHIVE_BUCKET"] == resources["ArchiveBucket"]
        assert env["EVENTS_TOPIC_ARN"] == topic_arn
        assert env["IDEMPOTENCY_TABLE"] == table
    # the ledger: its table, named on every function, which may write it and nothing else of it
    ledger = resources["LedgerTable"]
    ledger_arn = account.client("dynamodb").describe_table(TableName=ledger)["Table"]["TableArn"]
    dedup_arn = account.client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"]
    for name, function in functions.items():
        assert function["Environment"]["Variables"]["LEDGER_TABLE"] == ledger, name
        if name == "forward":  # it reads a resource's latest state and writes its delivery watermark (delivered#)
            assert _ledger_grants(account, function["Role"], dedup_arn) == [({"dynamodb:GetItem"}, ledger_arn),
                                                                             ({"dynamodb:UpdateItem"}, ledger_arn)]
            continue
        reads = [({"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}, ledger_arn)] * (name == "reconcile")
        assert _ledger_grants(account, function["Role"], dedup_arn) == [
            ({"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"}, ledger_arn), *reads], name
    # the resources the environment names exist
    account.client("s3").head_bucket(Bucket=resources["ArchiveBucket"])
    account.client("sns").get_topic_attributes(TopicArn=topic_arn)
    account.client("dynamodb").describe_table(TableName=table)
    sqs = account.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=resources["MpsQueue"], AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    mappings = {m["EventSourceArn"]: m for m in account.client("lambda").list_event_source_mappings()[
        "EventSourceMappings"]}
    mapping = mappings.pop(queue_arn)
    assert mapping["FunctionArn"] == functions["queue"]["FunctionArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # forwarding: per destination a FIFO queue (SSE, its own DLQ) every function queues on, the forward function its
    # consumer with the destination's concurrency; the functions find them by FORWARD_QUEUE_URL_PREFIX
    prefix = deploy_local.stack_outputs(account.endpoint, stage)["ForwardQueueUrlPrefix"]
    assert prefix.endswith(f"/mediahook-{stage}-forward-")
    for destination in DESTINATIONS:
        name = destination["name"]
        forward_queue, forward_dlq = resources[f"ForwardQueue{name}"], resources[f"ForwardDeadLetterQueue{name}"]
        assert forward_queue.rsplit("/", 1)[-1] == f"mediahook-{stage}-forward-{name}.fifo"
        assert forward_dlq.rsplit("/", 1)[-1] == f"mediahook-{stage}-forward-{name}-dlq.fifo"
        attributes = sqs.get_queue_attributes(QueueUrl=forward_queue, AttributeNames=["All"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=forward_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert attributes["FifoQueue"] == "true" and attributes["SqsManagedSseEnabled"] == "true"
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn
        dlq_attributes = sqs.get_queue_attributes(QueueUrl=forward_dlq, AttributeNames=["All"])["Attributes"]
        assert dlq_attributes["FifoQueue"] == "true"
        forward_mapping = mappings.pop(attributes["QueueArn"])
        assert forward_mapping["FunctionArn"] == functions["forward"]["FunctionArn"]
        assert forward_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert forward_mapping["ScalingConfig"]["MaximumConcurrency"] == destination.get("concurrency", 2)
    assert mappings == {}
    for name, function in functions.items():
        assert function["Environment"]["Variables"]["FORWARD_QUEUE_URL_PREFIX"] == prefix, name
        assert json.loads(function["Environment"]["Variables"]["FORWARD_DESTINATIONS"]) == DESTINATIONS, name
    rules = account.client("events").list_rules()["Rules"]
    schedules = {r["Name"]: r for r in rules if r["Name"].startswith(stack)}
    assert len(schedules) == 3 and {r["State"] for r in schedules.values()} == {"DISABLED"}
    assert {"Pull", "Cmq", "Reconcile"} == {name.split("-")[2].removesuffix("EventsRuleSchedule1") for name in schedules}
    reconcile_rule = next(r for n, r in schedules.items() if "Reconcile" in n)
    assert reconcile_rule["ScheduleExpression"] == "rate(10 minutes)"
    (target,) = account.client("events").list_targets_by_rule(Rule=reconcile_rule["Name"])["Targets"]
    assert target["Arn"] == functions["reconcile"]["FunctionArn"]
    assert functions["reconcile"]["Environment"]["Variables"]["RECONCILE_PRODUCTS"] == "vod"
    outputs = deploy_local.stack_outputs(account.endpoint, stage)
    assert outputs["EventsTopicArn"] == topic_arn and outputs["ArchiveBucketName"] == resources["ArchiveBucket"]
    assert "ForwardQueueUrl" not in outputs and "ForwardDeadLetterQueueUrl" not in outputs  # the prefix replaces them
    _check_events_table(account, stack, stage, resources, functions, outputs)

    # 2. the same again: nothing to do
    assert "Deployment skipped" in _deploy(account, service, stage)

    # 3. a code change reaches every function
    with (service / "lib" / "__init__.py").open("a") as f:
        f.write("# a code change\n")
    _deploy(account, service, stage)
    changed = code_sha256(service / ".serverless" / "mediahook.zip")
    assert changed != local_zip
    assert {f["CodeSha256"] for f in account.functions(stage).values()} == {changed}

    # 4. remove: the stack goes, the archive and the forwarding queues stay (DeletionPolicy: Retain)
    result = deploy_local.osls(["remove", "--stage", stage], account.endpoint, service, capture=True)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(ClientError):
        account.client("cloudformation").describe_stacks(StackName=stack)
    assert not account.functions(stage)
    account.client("s3").head_bucket(Bucket=resources["ArchiveBucket"])
    kept = sqs.list_queues(QueueNamePrefix=f"mediahook-{stage}-forward-").get("QueueUrls", [])
    assert sorted(url.rsplit("/", 1)[-1] for url in kept) == sorted(
        f"mediahook-{stage}-forward-{d['name']}{end}" for d in DESTINATIONS for end in (".fifo", "-dlq.fifo"))


def _resolve(value: Any, account: Account, resources: dict[str, str]) -> Any:
    """The template's intrinsic functions that the events table's resources use, resolved for this stack."""
    import re

    def ref(name: str) -> str:
        pseudo = {"AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::Partition": "aws"}
        return pseudo.get(name) or resources[name]

    def arn(name: str) -> str:
        if name.endswith("Role"):
            return str(account.client("iam").get_role(RoleName=resources[name].rsplit("/", 1)[-1])["Role"]["Arn"])
        return f"arn:aws:s3:::{resources[name]}"

    if isinstance(value, list):
        return [_resolve(v, account, resources) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return ref(value["Ref"])
    if "Fn::GetAtt" in value:
        assert value["Fn::GetAtt"][1] == "Arn"
        return arn(value["Fn::GetAtt"][0])
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}.]+)(\.Arn)?\}", lambda m: arn(m[1]) if m[2] else ref(m[1]), value["Fn::Sub"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve(parts, account, resources))
    return {k: _resolve(v, account, resources) for k, v in value.items()}


def _check_events_table(account: Account, stack: str, stage: str, resources: dict[str, str],
                        functions: dict[str, dict[str, Any]], outputs: dict[str, str]) -> None:
    """The events table's resources (lib/query/). moto's CloudFormation builds the results bucket and the
    operators' policy; the stream, the Glue database and table and the workgroup it does not build, so they
    are created here through moto's own APIs from the deployed template's properties: the APIs accept them,
    and a row put on the stream lands where the Glue table and the local engine read."""
    import json
    import os
    from unittest import mock

    from lib import aws as aws_clients
    from lib.query import run_query

    stream = f"mediahook-{stage}-events"
    for name, function in functions.items():
        assert function["Environment"]["Variables"]["EVENTS_STREAM_NAME"] == stream, name
    results = resources["QueryResultsBucket"]  # (its hardening and lifecycle: tests/test_query_template.py)
    account.client("s3").head_bucket(Bucket=results)
    assert account.client("iam").get_policy(PolicyArn=outputs["QueryPolicyArn"])["Policy"]["Arn"]
    assert outputs["QueryWorkGroupName"] == f"mediahook-{stage}" and outputs["EventsTableDatabase"] == f"mediahook_{stage}"

    body = account.client("cloudformation").get_template(StackName=stack)["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    # (a Glue database's Ref is its name)
    known = {**resources, "EventsDatabase": template["Resources"]["EventsDatabase"]["Properties"]["DatabaseInput"]["Name"]}
    props = {name: _resolve(template["Resources"][name]["Properties"], account, known)
             for name in ("EventsTableStream", "EventsDatabase", "EventsRowsTable", "QueryWorkGroup")}
    glue = account.client("glue")
    glue.create_database(DatabaseInput=props["EventsDatabase"]["DatabaseInput"])
    database = props["EventsDatabase"]["DatabaseInput"]["Name"]
    glue.create_table(DatabaseName=database, TableInput=props["EventsRowsTable"]["TableInput"])
    table = glue.get_table(DatabaseName=database, Name="events_rows")["Table"]
    assert table["Parameters"]["projection.enabled"] == "true"
    workgroup = props["QueryWorkGroup"]
    configuration = workgroup["WorkGroupConfiguration"]  # (a stage parameter is a string: CloudFormation casts it)
    configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
    account.client("athena").create_work_group(Name=workgroup["Name"], Description=workgroup["Description"],
                                               Configuration=configuration)
    config = account.client("athena").get_work_group(WorkGroup=workgroup["Name"])["WorkGroup"]["Configuration"]
    assert config["BytesScannedCutoffPerQuery"] == 1024**3
    assert config["ResultConfiguration"]["OutputLocation"] == f"s3://{results}/results/"
    firehose = account.client("firehose")
    firehose.create_delivery_stream(**props["EventsTableStream"])
    row = {"event_id": "0" * 64, "product": "vod", "event_type": "NewFileUpload",
           "received_at": "2026-12-03 10:00:00.000", "archive_key": "vod/NewFileUpload/2026/12/03/x.json"}
    firehose.put_record(DeliveryStreamName=stream, Record={"Data": json.dumps(row).encode() + b"\n"})
    location = table["StorageDescriptor"]["Location"]
    assert location == f"s3://{resources['ArchiveBucket']}/tables/events/"
    env = {"AWS_ENDPOINT_URL": account.endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "ARCHIVE_BUCKET": resources["ArchiveBucket"], "AWS_DEFAULT_REGION": "us-east-1"}
    with mock.patch.dict(os.environ, env):
        aws_clients.reset()
        try:
            found = run_query("SELECT event_id, event_type FROM events").rows
        finally:
            aws_clients.reset()
    assert found == [{"event_id": "0" * 64, "event_type": "NewFileUpload"}]


def _ledger_grants(account: Account, role_arn: str, dedup_arn: str) -> list[tuple[set[str], str]]:
    """The (actions, resource) of a role's DynamoDB statements, but for the dedup table's."""
    import ast
    import json
    from urllib.parse import unquote

    iam = account.client("iam")
    role = role_arn.rsplit("/", 1)[-1]
    grants = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):
            try:
                document = json.loads(unquote(document))
            except ValueError:  # moto's CloudFormation keeps an inline policy as the Python repr of its dict
                document = ast.literal_eval(document)
        for statement in filter(None, document["Statement"]):  # moto leaves an AWS::NoValue statement as None
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resource = statement["Resource"]
            if any(a.startswith("dynamodb:") for a in actions) and resource != dedup_arn:
                grants.append((set(actions), resource))
    return grants


def test_a_broken_reference_fails_the_deploy_with_the_frameworks_error(account: Account, tmp_path: Path) -> None:
    service = copy_service(tmp_path / "service")
    template = (service / "serverless.yml").read_text()
    (service / "serverless.yml").write_text(template.replace(
        "    ARCHIVE_PREFIX: ${param:archivePrefix}", "    ARCHIVE_PREFIX: ${self:custom.archivePrefixTypo}"))
    result = deploy_local.osls(["deploy", "--stage", "broken"], account.endpoint, service, capture=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'Cannot resolve variable at "provider.environment.ARCHIVE_PREFIX"' in output, output
    assert not account.client("cloudformation").describe_stacks()["Stacks"]  # nothing was created


def test_the_redirection_is_inert_unless_asked_for() -> None:
    import subprocess

    script = ("const p = require('./plugins/local-endpoint.js');"
              "const s = { getProvider() { throw new Error('touched'); }, service: { provider: {} }, cli: {} };"
              "const plugin = new p(s, {}, {});"
              "console.log(JSON.stringify({ hooks: Object.keys(plugin.hooks), provider: s.service.provider }));"
              "for (const bad of ['http://10.0.0.5:5000', 'https://s3.amazonaws.com']) {"
              "  try { p.localEndpoint({ MEDIAHOOK_LOCAL_AWS_ENDPOINT: bad }); console.log('accepted ' + bad); }"
              "  catch (e) { console.log('refused'); } }")
    env = {k: v for k, v in __import__("os").environ.items() if k != "MEDIAHOOK_LOCAL_AWS_ENDPOINT"}
    result = subprocess.run(["node", "-e", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == ['{"hooks":[],"provider":{}}', "refused", "refused"]


@pytest.mark.builds_in_root
def test_make_deploy_local_then_remove_local() -> None:
    """The README's two commands: moto server started and left up, outputs printed; then removed and stopped."""
    import os
    import subprocess

    from tests.aws_server import free_port

    port, stage = free_port(), f"m{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MOTO_PORT": str(port), "STAGE": stage}
    deployed = subprocess.run(["make", "deploy-local"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    try:
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert f"moto server: http://127.0.0.1:{port} (started; stays up)" in deployed.stdout
        assert f"Stack mediahook-{stage} on http://127.0.0.1:{port}:" in deployed.stdout
        assert "  CallbackUrl: " in deployed.stdout and "  EventsTopicArn: arn:aws:sns:" in deployed.stdout
        assert deploy_local.answers(f"http://127.0.0.1:{port}")  # still up after make returned
    finally:
        removed = subprocess.run(["make", "remove-local"], cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=600, check=False)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"stopped the moto server on http://127.0.0.1:{port}" in removed.stdout
    assert not deploy_local.answers(f"http://127.0.0.1:{port}")
