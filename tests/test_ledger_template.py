"""The ledger in the template `osls package` builds: the LedgerTable, LEDGER_TABLE on every function that runs the
pipeline, least privilege, and the stage parameters `ledger` and `ledgerRetentionDays`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.test_packaging import _evaluate

pytestmark = pytest.mark.slow
LEDGER_ACTIONS = {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"}


@pytest.fixture(scope="module")
def ledger_off(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.packaging import template

    out = tmp_path_factory.mktemp("ledger-off")
    template(out, "ledger=false", "ledgerRetentionDays=30")
    return out


def _template(out: Path) -> dict[str, Any]:
    return json.loads((out / "cloudformation-template-update-stack.json").read_text())


def _created(template: dict[str, Any]) -> set[str]:
    conditions = template.get("Conditions", {})
    return {name for name, r in template["Resources"].items()
            if "Condition" not in r or _evaluate({"Condition": r["Condition"]}, conditions)}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["Handler"]: r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"}


def _ledger_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    conditions = template.get("Conditions", {})
    statements = _evaluate(template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"],
                           conditions)
    actions = lambda s: set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])  # noqa: E731
    return [s for s in statements if "dynamodb:UpdateItem" in actions(s) and s.get("Resource") != {
        "Fn::GetAtt": ["IdempotencyTable", "Arn"]}]


def test_the_ledger_is_on_by_default(packaged: Path) -> None:
    template = _template(packaged)
    assert "LedgerTable" in _created(template)
    table = template["Resources"]["LedgerTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    conditions = template["Conditions"]
    functions = _functions(template)
    assert set(functions) == {"handler.callback", "handler.pull", "handler.queue", "handler.cmq", "handler.reconcile",
                              "handler.forward"}
    for name, function in functions.items():  # every function but forward runs the pipeline: each records
        env = function["Environment"]["Variables"]
        assert _evaluate(env["LEDGER_TABLE"], conditions) == {"Ref": "LedgerTable"}, name
        assert env["LEDGER_RETENTION_DAYS"] == "90"
        if name == "handler.forward":  # it writes its delivery watermark there, and nothing else
            (statement,) = _ledger_statements(template, function["Role"]["Fn::GetAtt"][0])
            assert statement["Action"] == "dynamodb:UpdateItem"
            assert statement["Resource"] == {"Fn::GetAtt": ["LedgerTable", "Arn"]}
            assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["delivered#*"]}}
            continue
        (statement,) = _ledger_statements(template, function["Role"]["Fn::GetAtt"][0])
        assert set(statement["Action"]) == LEDGER_ACTIONS  # writes and GetItem only: no queries, scans, deletes
        assert statement["Resource"] == {"Fn::GetAtt": ["LedgerTable", "Arn"]}  # the ledger table only
    assert "LedgerTableName" in template["Outputs"]


def test_the_ledger_can_be_switched_off_and_its_retention_set(ledger_off: Path) -> None:
    template = _template(ledger_off)
    assert "LedgerTable" not in _created(template)
    conditions = template["Conditions"]
    for name, function in _functions(template).items():
        env = function["Environment"]["Variables"]
        assert _evaluate(env["LEDGER_TABLE"], conditions) == "", name  # off: no state_change, nothing else changes
        assert env["LEDGER_RETENTION_DAYS"] == "30"
        assert _ledger_statements(template, function["Role"]["Fn::GetAtt"][0]) == []
    lint = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), "--ignore-checks", "W3005", "W8003", "--",
                           str(ledger_off / "cloudformation-template-update-stack.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
