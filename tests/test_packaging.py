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
    assert set(functions) == {"handler.callback", "handler.pull", "handler.queue", "handler.cmq", "handler.reconcile",
                              "handler.forward"}
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
    assert stages == {"archive", "publish", "dedup", "bus", "ledger", "forward"}
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    # the MPS queue's; no destinations (the default): no forwarding queues, the forward function has no event source
    assert len(mappings) == 1 and all(m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
                                      for m in mappings)
    assert not any(name.startswith(("ForwardQueue", "ForwardDeadLetter", "ForwardAge")) for name in resources)
    assert "FORWARD_DESTINATIONS" in callback_env and "FORWARD_QUEUE_URL_PREFIX" in callback_env
    assert template["Outputs"]["ForwardQueueUrlPrefix"]["Value"] == {
        "Fn::Sub": "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/mediahook-ci-forward-"}
    assert {f["Environment"]["Variables"]["FORWARD_QUEUE_URL_PREFIX"]["Fn::Sub"] for f in functions.values()} == {
        template["Outputs"]["ForwardQueueUrlPrefix"]["Value"]["Fn::Sub"]}
    # the destinations' secrets are SSM names inside the destinations: no secret value in any environment
    assert not any("whsec_" in json.dumps(f.get("Environment", {})) for f in functions.values())
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
    assert len(set(roles.values())) == 6

    def actions(role: str) -> set[str]:
        statements = _role_statements(template, resources[role])
        return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}

    # of SQS, the scheduled entry points may send a failed run to their own dead-letter queue and nothing more (with
    # destinations, every entry point may also queue on their queues: test_forwarding_queues_per_destination)
    assert {a for a in actions(roles["handler.callback"]) if a.startswith("sqs:")} == set()
    assert all({a for a in actions(roles[name]) if a.startswith("sqs:")} == {"sqs:SendMessage"}
               for name in ("handler.pull", "handler.cmq", "handler.reconcile"))
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions(roles["handler.queue"])
    assert {a for a in actions(roles["handler.forward"]) if a.startswith("sqs:")} == set()
    # only reconcile (an event never published is run again) and forward (a body too large for its message)
    # read the archive
    for name, role in roles.items():
        assert ("s3:GetObject" in actions(role)) == (name in ("handler.reconcile", "handler.forward"))
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


Dashboard = tuple[list[tuple[str, str, frozenset[str]]], list[tuple[str, str]], list[list[Any]], set[str]]


def _dashboard_metrics(packaged: Path) -> Dashboard:
    """The dashboard's SEARCH expressions of mediahook's metrics as (namespace, metric, dimension names), those of
    AWS/SQS as (metric, the rest of the search term), its explicit metric rows (with the "." / "..." shorthand
    expanded), and the template references in its body."""
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    body_template = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", body_template))
    body = json.loads(re.sub(r"\$\{[^}]+\}", "REF", body_template))
    searches, sqs_searches, rows = [], [], []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"]["metrics"]:
            assert isinstance(row, list), f"a metric row must be an array: {row}"
            if isinstance(row[0], dict):
                for match in re.finditer(r"SEARCH\('\{([^}]+)\} MetricName=\"(\w+)\"([^']*)'", row[0]["expression"]):
                    namespace, *dimensions = match.group(1).split(",")
                    if namespace == "AWS/SQS":  # the forwarding queues, one pair per destination: by name
                        sqs_searches.append((match.group(2), match.group(3).strip()))
                        continue
                    searches.append((namespace, match.group(2), frozenset(dimensions)))
                continue
            names = [v for v in row if not isinstance(v, dict)]
            if names == ["..."]:
                names = previous
            names = [previous[i] if v == "." else v for i, v in enumerate(names)]
            rows.append(names)
            previous = names
    return searches, sqs_searches, rows, references


def test_the_dashboard_shows_only_metrics_the_code_emits(packaged: Path) -> None:
    searches, sqs_searches, rows, references = _dashboard_metrics(packaged)
    emitted = _emitted_metrics()
    for metric in searches:
        assert metric in emitted, f"the dashboard reads {metric}, which no count() emits"
    # Everything the code counts is on the dashboard, and everything the issue asked to see.
    assert {name for _, name, _ in emitted} == {name for _, name, _ in searches}
    assert {"EventsAccepted", "Rejections", "Failures", "Duplicates", "UnknownEventType", "DeadEvents", "PullEvents",
            "CmqMessages", "ReconcileTasks", "RecoveredEvents", "PullBacklog", "ForwardDelivered", "ForwardRetried",
            "ForwardDeadLettered", "ForwardMessageAge"} <= {name for _, name, _ in searches}
    assert {(r[0], r[1]) for r in rows} == {("AWS/Lambda", "Duration"), ("AWS/Lambda", "Invocations"),
                                            ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                                            ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    # every destination's queue (its age) and dead-letter queue (its depth), found by the stage's queue name prefix
    # as plugins/forward-queues.js names them: the queues are not in the template unless destinations are
    assert sorted(sqs_searches) == [
        ("ApproximateAgeOfOldestMessage", "QueueName=mediahook-ci-forward NOT QueueName=dlq"),
        ("ApproximateNumberOfMessagesVisible", "QueueName=mediahook-ci-forward QueueName=dlq")]
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
    from tests.packaging import template

    built = {"": packaged}
    for setting in ("create", "shared", BUS_ARN):
        out = tmp_path_factory.mktemp("bus")
        template(out, f"eventBus={setting}")
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
    for name, role in ((n, r) for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"):
        statements = _evaluate(role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"], conditions)
        granted = [s["Resource"] for s in statements if s["Action"] == "events:PutEvents"]
        # that bus only, or nothing; the forward function publishes nothing (it delivers what was queued)
        # (the events table's delivery stream has a role of its own, for Firehose: no bus either)
        assert granted == ([] if put_events_on is None or name in ("ForwardRole", "EventsTableStreamRole")
                           else [put_events_on]), name


def test_the_dead_events_alarm_watches_every_product_that_dead_letters(packaged: Path) -> None:
    """VOD pull and MPS through TDMQ-CMQ both dead-letter poison events (lib/pipeline.dead_letter)."""
    template = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())
    alarm = template["Resources"]["DeadEventsAlarm"]["Properties"]
    watched = {d["Value"] for m in alarm["Metrics"] if "MetricStat" in m
               for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "product"}
    assert watched == {"vod", "mps"}
    assert [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")] == ["SUM([vod, mps])"]


DESTINATIONS = [{"name": "orders", "url": "https://orders.example.com/hook", "secret_param": "/mediahook/ci/forward/o"},
                {"name": "legacy_app-2", "url": "https://legacy.example.com/hook", "format": "tencent",
                 "secret_param": "/mediahook/ci/forward/l", "concurrency": 7}]


@pytest.fixture(scope="module")
def forwarding_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.packaging import template

    return template(tmp_path_factory.mktemp("forwarding"), f"forwardDestinations={json.dumps(DESTINATIONS)}",
                    "forwardConcurrency=3")


def test_forwarding_queues_per_destination(forwarding_template: Path) -> None:
    """plugins/forward-queues.js: per destination a FIFO queue and FIFO dead-letter queue (kept when the destination
    leaves the list), the forward function's event source on its queue with its concurrency, two alarms, and IAM:
    the entry points may queue on the queues (not the dead-letter queues), the forward function consume them and
    dead-letter."""
    template = json.loads(forwarding_template.read_text())
    resources = template["Resources"]
    lint = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), "--ignore-checks", "W3005", "W8003", "--",
                           str(forwarding_template)], capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    queues = {n: r for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue" and n.startswith("Forward")}
    ids = {"orders": "orders", "legacy_app-2": "legacy0Uapp0D2"}  # one to one: test_queue_names.py
    assert set(queues) == {f"{kind}{i}" for i in ids.values() for kind in ("ForwardQueue", "ForwardDeadLetterQueue")}
    functions = {r["Properties"]["Handler"]: (n, r["Properties"]) for n, r in resources.items()
                 if r["Type"] == "AWS::Lambda::Function"}
    forward_id, forward = functions["handler.forward"]
    mappings = {r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    alarms = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name, i in ids.items():
        queue, dead = queues[f"ForwardQueue{i}"], queues[f"ForwardDeadLetterQueue{i}"]
        for resource in (queue, dead):
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
            assert resource["Properties"]["FifoQueue"] is True and resource["Properties"]["SqsManagedSseEnabled"] is True
            assert resource["Properties"]["MessageRetentionPeriod"] == 1209600
        props = queue["Properties"]
        assert props["QueueName"] == f"mediahook-ci-forward-{name}.fifo"  # what the dashboard's SEARCH finds
        assert dead["Properties"]["QueueName"] == f"mediahook-ci-forward-{name}-dlq.fifo"
        assert (props["DeduplicationScope"], props["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
        assert props["VisibilityTimeout"] >= 6 * forward["Timeout"]
        assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [f"ForwardDeadLetterQueue{i}", "Arn"]},
                                          "maxReceiveCount": 1000}
        mapping = mappings[f"ForwardQueue{i}"]
        assert mapping["FunctionName"] == {"Fn::GetAtt": [forward_id, "Arn"]}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] == 10
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == (7 if name == "legacy_app-2" else 3)
        dead_alarm, age_alarm = alarms[f"ForwardDeadLettersAlarm{i}"], alarms[f"ForwardAgeAlarm{i}"]
        assert dead_alarm["Dimensions"] == [{"Name": "QueueName",
                                             "Value": {"Fn::GetAtt": [f"ForwardDeadLetterQueue{i}", "QueueName"]}}]
        assert (dead_alarm["MetricName"], dead_alarm["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 1)
        assert age_alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [f"ForwardQueue{i}", "QueueName"]}
        assert (age_alarm["MetricName"], age_alarm["Threshold"]) == ("ApproximateAgeOfOldestMessage", 3600)
        assert (age_alarm["EvaluationPeriods"], age_alarm["DatapointsToAlarm"], age_alarm["Period"]) == (3, 3, 300)
        assert f"destination {name} " in dead_alarm["AlarmDescription"]
        assert dead_alarm["AlarmDescription"].endswith("docs/operations/runbook.md#forwarddeadlettersalarm")
        assert f"destination {name} " in age_alarm["AlarmDescription"]
        assert age_alarm["AlarmDescription"].endswith("docs/operations/runbook.md#forwardagealarm")
    assert len(mappings) == 3  # the MPS queue's and one per destination
    queue_arns = [{"Fn::GetAtt": [f"ForwardQueue{i}", "Arn"]} for i in ids.values()]
    dead_arns = [{"Fn::GetAtt": [f"ForwardDeadLetterQueue{i}", "Arn"]} for i in ids.values()]

    def sqs_grants(role: str) -> list[tuple[Any, Any]]:
        return [(s["Action"], s["Resource"]) for s in _role_statements(template, resources[role])
                if any(a.startswith("sqs:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]

    for handler, (_, function) in functions.items():
        role = function["Role"]["Fn::GetAtt"][0]
        grants = sqs_grants(role)
        if handler == "handler.forward":
            assert sorted(grants, key=str) == sorted([
                (["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                 queue_arns), ("sqs:SendMessage", dead_arns)], key=str)
            continue
        assert ("sqs:SendMessage", queue_arns) in grants, handler  # every entry point queues, on the queues only
        assert not any(arn in dead_arns for _, resource in grants for arn in resource), handler


def test_a_bad_destination_name_fails_packaging_in_one_line(tmp_path: Path) -> None:
    """The plugin's refusal reaches the user as one line (each rule, and a name listed twice, is held in
    tests/forward/test_queue_names.py against the plugin's function, without a package each)."""
    from tests.packaging import package

    listed = [{"name": "orders-dlq", "url": "https://x.example/h", "secret_param": "/p"}]
    result = package(tmp_path / "out", f"forwardDestinations={json.dumps(listed)}", check=False,
                     env={"MEDIAHOOK_TEMPLATE_ONLY": "1"})
    assert result.returncode != 0
    [line] = [line for line in result.stdout.splitlines() if line.startswith("forwardDestinations:")]
    assert line.startswith('forwardDestinations: destination "orders-dlq": must not have dlq as a word'), line
