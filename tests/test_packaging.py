"""The template `osls package` builds: resources, safety settings, least privilege (the zip: test_artifact.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _role_statements(template: dict[str, Any], role: dict[str, Any]) -> list[dict[str, Any]]:
    """A role's statements as CloudFormation makes them (conditional ones resolved for this template)."""
    statements = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    resolved: list[dict[str, Any]] = _evaluate(statements, template.get("Conditions", {}))
    return resolved


def test_template_declares_the_callback_api_and_safe_storage(packaged: Path) -> None:
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    bucket = resources["ArchiveBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert resources["EventsTopic"]["Properties"]["KmsMasterKeyId"]
    assert resources["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"] is True
    functions = {r["Properties"]["Handler"]: r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"handler.callback", "handler.pull", "handler.queue", "handler.cmq", "handler.reconcile"}
    assert {f["Runtime"] for f in functions.values()} == {"python3.12"}
    assert functions["handler.pull"]["ReservedConcurrentExecutions"] == 1
    callback_env = functions["handler.callback"]["Environment"]["Variables"]
    assert callback_env["VERIFY_EVENTS"] == "" and callback_env["TENCENTCLOUD_SECRET_ID_PARAM"].startswith("/mediahook/")
    schedules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert len(schedules) == 3 and {r["Properties"]["State"] for r in schedules} == {"DISABLED"}  # off until configured
    queue = resources["MpsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * functions["handler.queue"]["Timeout"]
    alarm_props = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    alarms = {p["MetricName"] for p in alarm_props if "MetricName" in p}
    alarms |= {m["MetricStat"]["Metric"]["MetricName"] for p in alarm_props for m in p.get("Metrics", [])
               if "MetricStat" in m}
    assert {"Errors", "DeadEvents", "Failures", "ApproximateNumberOfMessagesVisible"} <= alarms
    failures = resources["StorageFailuresAlarm"]["Properties"]  # every stage the code counts failures for
    stages = {d["Value"] for m in failures["Metrics"] if "MetricStat" in m
              for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "stage"}
    assert stages == {"archive", "publish", "dedup", "bus", "ledger"}
    mapping = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert {"POST /callback", "POST /callback/{product}"} <= routes
    statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Role" for s in _role_statements(template, r)]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement


def test_cfn_lint_finds_nothing_in_the_template(packaged: Path) -> None:
    # W3005 (a DependsOn already implied by a Ref) is in the HTTP API routes the framework generates, not ours.
    # W8003 (a condition that is always true or false): the eventBus conditions compare a stage parameter,
    # which is a literal once packaged; one template serving every stage is what they are for.
    cfn_lint = ROOT / ".venv" / "bin" / "cfn-lint"
    result = subprocess.run([str(cfn_lint), "--ignore-checks", "W3005", "W8003", "--",
                             str(packaged / "cloudformation-template-update-stack.json")],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_wildcard_actions_or_resources_on_data(packaged: Path) -> None:
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    statements = [s for r in roles for s in _role_statements(template, r)]
    data_prefixes = ("s3:", "sns:", "dynamodb:", "sqs:", "ssm:")
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith(data_prefixes) for a in actions):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources, statement


def test_each_function_has_its_own_least_privilege_role(packaged: Path) -> None:
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    roles = {r["Properties"]["Handler"]: r["Properties"]["Role"]["Fn::GetAtt"][0] for r in resources.values()
             if r["Type"] == "AWS::Lambda::Function"}
    assert len(set(roles.values())) == 5

    def actions(role: str) -> set[str]:
        statements = _role_statements(template, resources[role])
        return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}

    assert not any(a.startswith("sqs:") for name in ("handler.callback", "handler.pull", "handler.cmq")
                   for a in actions(roles[name]))
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions(roles["handler.queue"])
    for name, role in roles.items():  # only reconcile reads the archive (an event never published is run again)
        assert ("s3:GetObject" in actions(role)) == (name == "handler.reconcile")
        assert "s3:DeleteObject" not in actions(role)


def _emitted_metrics() -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, name, dimension names) of every metric the code counts: each ``count("Name", ..., dim=...)``
    call in lib/, with the ``service`` dimension every count carries (lib/observability.py)."""
    import ast

    from lib.observability import NAMESPACE

    found = set()
    for path in (ROOT / "lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "count"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                dimensions = frozenset({"service", *(k.arg for k in node.keywords if k.arg and k.arg != "amount")})
                found.add((NAMESPACE, node.args[0].value, dimensions))
    return found


def _dashboard_metrics(packaged: Path) -> tuple[list[tuple[str, str, frozenset[str]]], list[list[Any]], set[str]]:
    """The dashboard's SEARCH expressions as (namespace, metric, dimension names), its explicit metric rows
    (with the "." / "..." shorthand expanded), and the template references in its body."""
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    body_template = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", body_template))
    body = json.loads(re.sub(r"\$\{[^}]+\}", "REF", body_template))
    searches, rows = [], []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"]["metrics"]:
            assert isinstance(row, list), f"a metric row must be an array: {row}"
            if isinstance(row[0], dict):
                for match in re.finditer(r"SEARCH\('\{([^}]+)\} MetricName=\"(\w+)\"", row[0]["expression"]):
                    namespace, *dimensions = match.group(1).split(",")
                    searches.append((namespace, match.group(2), frozenset(dimensions)))
                continue
            names = [v for v in row if not isinstance(v, dict)]
            if names == ["..."]:
                names = previous
            names = [previous[i] if v == "." else v for i, v in enumerate(names)]
            rows.append(names)
            previous = names
    return searches, rows, references


def test_the_dashboard_shows_only_metrics_the_code_emits(packaged: Path) -> None:
    searches, rows, references = _dashboard_metrics(packaged)
    emitted = _emitted_metrics()
    for metric in searches:
        assert metric in emitted, f"the dashboard reads {metric}, which no count() emits"
    # Everything the code counts is on the dashboard, and everything the issue asked to see.
    assert {name for _, name, _ in emitted} == {name for _, name, _ in searches}
    assert {"EventsAccepted", "Rejections", "Failures", "Duplicates", "UnknownEventType", "DeadEvents", "PullEvents",
            "CmqMessages", "ReconcileTasks", "RecoveredEvents", "PullBacklog"} <= {name for _, name, _ in searches}
    assert {(r[0], r[1]) for r in rows} == {("AWS/Lambda", "Duration"), ("AWS/Lambda", "Invocations"),
                                            ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                                            ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    for reference in references - {"AWS::Region"}:
        assert reference.split(".")[0] in template["Resources"], reference
    assert references >= {"CallbackLambdaFunction", "MpsDeadLetterQueue.QueueName"}


def _evaluate(value: Any, conditions: dict[str, Any]) -> Any:
    """What CloudFormation makes of the condition functions in ``value`` (the others are left as they are)."""
    def condition(name: str) -> bool:
        return bool(_evaluate(conditions[name], conditions))

    if isinstance(value, list):
        return [v for v in (_evaluate(v, conditions) for v in value) if v != {"Ref": "AWS::NoValue"}]
    if not isinstance(value, dict):
        return value
    if "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        return _evaluate(when_true if condition(name) else when_false, conditions)
    if "Fn::Equals" in value:
        left, right = (_evaluate(v, conditions) for v in value["Fn::Equals"])
        return left == right
    if "Fn::Not" in value:
        return not _evaluate(value["Fn::Not"][0], conditions)
    if "Condition" in value and len(value) == 1:
        return condition(value["Condition"])
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return _evaluate(items, conditions)[index]
    if "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return _evaluate(text, conditions).split(separator)
    if "Fn::Join" in value and all(isinstance(v, str) for v in value["Fn::Join"][1]):
        return value["Fn::Join"][0].join(value["Fn::Join"][1])
    return {k: _evaluate(v, conditions) for k, v in value.items()}


BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/shared"


@pytest.fixture(scope="module")
def bus_templates(packaged: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.packaging import package

    built = {"": packaged}
    for setting in ("create", "shared", BUS_ARN):
        out = tmp_path_factory.mktemp("bus")
        package(out, f"eventBus={setting}")
        built[setting] = out
    return built


@pytest.mark.parametrize(("setting", "env_value", "put_events_on"), [
    ("", "", None),
    ("create", {"Ref": "EventBus"}, {"Fn::GetAtt": ["EventBus", "Arn"]}),
    ("shared", "shared", {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/shared"}),
    (BUS_ARN, BUS_ARN, BUS_ARN),
], ids=["off", "create", "name", "arn"])
def test_the_event_bus_parameter(bus_templates: dict[str, Path], setting: str, env_value: Any,
                                 put_events_on: Any) -> None:
    path = bus_templates[setting] / "cloudformation-template-update-stack.json"
    template = json.loads(path.read_text())
    conditions, resources = template["Conditions"], template["Resources"]
    lint = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), "--ignore-checks", "W3005", "W8003", "--",
                           str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    created = {name for name, r in resources.items() if "Condition" not in r or _evaluate(
        {"Condition": r["Condition"]}, conditions)}
    assert ({"EventBus", "EventBusArchive"} <= created) is (setting == "create")
    if setting == "create":
        archive = resources["EventBusArchive"]["Properties"]
        assert int(archive["RetentionDays"]) == 30 and archive["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert {json.dumps(_evaluate(f["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"], conditions))
            for f in functions} == {json.dumps(env_value)}
    for function in functions:  # each function's role (the events table's delivery stream has its own, apart)
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        statements = _evaluate(role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"], conditions)
        granted = [s["Resource"] for s in statements if s["Action"] == "events:PutEvents"]
        assert granted == ([] if put_events_on is None else [put_events_on])  # that bus only, or nothing


def test_the_dead_events_alarm_watches_every_product_that_dead_letters(packaged: Path) -> None:
    """VOD pull and MPS through TDMQ-CMQ both dead-letter poison events (lib/pipeline.dead_letter)."""
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    alarm = template["Resources"]["DeadEventsAlarm"]["Properties"]
    watched = {d["Value"] for m in alarm["Metrics"] if "MetricStat" in m
               for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "product"}
    assert watched == {"vod", "mps"}
    assert [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")] == ["SUM([vod, mps])"]
