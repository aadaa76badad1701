"""The reconcile function in the template `osls package` builds: schedule, concurrency, role, settings, alarms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.packaging import template as build_template
from tests.test_packaging import _role_statements

pytestmark = pytest.mark.slow


def _template(out: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    return template


def _reconcile(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = [r["Properties"] for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "handler.reconcile"]
    return function


def _schedule(template: dict[str, Any]) -> dict[str, Any]:
    (rule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"
               and r["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == "ReconcileLambdaFunction"]
    return rule


def test_the_reconcile_function_is_scheduled_but_off_by_default(packaged: Path) -> None:
    template = _template(packaged)
    function = _reconcile(template)
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Timeout"] == 300
    env = function["Environment"]["Variables"]
    assert {k: env[k] for k in ("RECONCILE_PRODUCTS", "RECONCILE_LOOKBACK_SECONDS", "RECONCILE_GRACE_SECONDS",
                                "RECONCILE_RESERVE_MS")} == {"RECONCILE_PRODUCTS": "vod",
                                                              "RECONCILE_LOOKBACK_SECONDS": "3600",
                                                              "RECONCILE_GRACE_SECONDS": "300",
                                                              "RECONCILE_RESERVE_MS": "15000"}
    assert env["TENCENTCLOUD_SECRET_KEY_PARAM"] == "/mediahook/ci/tencentcloud-secret-key"
    assert {"VOD_SUB_APP_IDS", "VOD_API_ENDPOINT", "MPS_API_ENDPOINT", "CME_API_ENDPOINT", "CME_PLATFORM"} <= set(env)
    rule = _schedule(template)
    assert rule["State"] == "DISABLED" and rule["ScheduleExpression"] == "rate(10 minutes)"


def test_the_reconcile_role_has_what_the_run_needs_and_nothing_else(packaged: Path) -> None:
    template = _template(packaged)
    resources = template["Resources"]
    role = resources[_reconcile(template)["Role"]["Fn::GetAtt"][0]]
    statements = _role_statements(template, role)
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"s3:PutObject", "s3:GetObject", "sns:Publish", "dynamodb:GetItem", "ssm:GetParameter"} <= actions
    assert not any(a.startswith(("s3:Delete", "s3:List")) for a in actions)
    # of SQS, only a failed run to its own dead-letter queue (and, with destinations, queueing recovered events
    # on their queues: plugins/forward-queues.js, tests/test_packaging.py)
    assert sorted((s["Resource"] for s in statements if any(a.startswith("sqs:") for a in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))), key=str) == [
        {"Fn::GetAtt": ["ReconcileDeadLetterQueue", "Arn"]}]
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:SendMessage"}
    ledger = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["LedgerTable", "Arn"]}]
    assert {a for s in ledger for a in s["Action"]} == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem",
                                                       "dynamodb:UpdateItem", "dynamodb:PutItem"}
    (read,) = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert read["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/*"}
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    assert "mediahook-ci-reconcile" in logs["Resource"]["Fn::Sub"]


def test_the_reconcile_alarms(packaged: Path) -> None:
    resources = _template(packaged)["Resources"]
    errors = resources["ReconcileErrorsAlarm"]["Properties"]
    assert errors["MetricName"] == "Errors" and errors["Dimensions"][0]["Value"] == {"Ref": "ReconcileLambdaFunction"}
    recovered = resources["RecoveredEventsAlarm"]["Properties"]
    assert (recovered["MetricName"], recovered["Threshold"]) == ("ReconcileTasks", 1)
    assert {d["Name"]: d["Value"] for d in recovered["Dimensions"]} == {"service": "mediahook", "outcome": "recovered"}
    backlog = resources["PullBacklogAlarm"]["Properties"]
    (growth,) = [m for m in backlog["Metrics"] if m.get("ReturnData")]
    assert growth["Expression"] == "DIFF(backlog)" and backlog["ComparisonOperator"] == "GreaterThanThreshold"
    # Growing for EvaluationPeriods x Period: hours, far inside Tencent's 4 days of retention.
    stat = next(m["MetricStat"] for m in backlog["Metrics"] if "MetricStat" in m)
    assert stat["Metric"]["MetricName"] == "PullBacklog"
    assert backlog["DatapointsToAlarm"] * stat["Period"] <= 6 * 3600
    for alarm in (errors, recovered, backlog):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmsTopic"}]


def test_the_schedule_follows_the_stage_parameters(tmp_path: Path) -> None:
    build_template(tmp_path, "reconcileEnabled=true", "reconcileRate=rate(30 minutes)", "reconcileProducts=vod,mps")
    template = _template(tmp_path)
    rule = _schedule(template)
    assert rule["State"] == "ENABLED" and rule["ScheduleExpression"] == "rate(30 minutes)"
    assert _reconcile(template)["Environment"]["Variables"]["RECONCILE_PRODUCTS"] == "vod,mps"


def test_the_reconcile_parameters_point_to_the_page_that_documents_them() -> None:
    """serverless.yml's comment on the reconcile parameters names the docs page that describes them."""
    root = Path(__file__).resolve().parent.parent
    lines = (root / "serverless.yml").read_text(encoding="utf-8").splitlines()
    (comment,) = [line for line in lines if "# Reconcile with Tencent" in line]
    assert "README" not in comment
    (page,) = [word.strip("():,") for word in comment.split() if word.startswith("(docs/") or word.startswith("docs/")]
    assert (root / page.split("#")[0]).is_file()
    assert "## Reconciliation" in (root / page.split("#")[0]).read_text(encoding="utf-8")
