"""The open internet's limits in the template: route throttling, the callback's reserved concurrency, and
the alarm on signature and expiry refusals, each from its stage parameter (defaults and set values)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.aws_server import ROOT

pytestmark = pytest.mark.slow
SET = {"callbackRateLimit": "7", "callbackBurstLimit": "9", "callbackReservedConcurrency": "50",
       "refusalAlarmThreshold": "5"}


def _resources(directory: Path) -> dict[str, Any]:
    template = json.loads((directory / "cloudformation-template-update-stack.json").read_text())
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="module")
def with_limits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.packaging import template

    out = tmp_path_factory.mktemp("limits")
    template(out, *(f"{name}={value}" for name, value in SET.items()))
    return out


def test_defaults_throttle_the_routes_and_reserve_no_concurrency(packaged: Path) -> None:
    resources = _resources(packaged)
    settings = resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert (int(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"])) == (100, 200)
    assert settings["DetailedMetricsEnabled"] is False  # osls's own setting, kept
    assert "ReservedConcurrentExecutions" not in resources["CallbackLambdaFunction"]["Properties"]
    assert resources["PullLambdaFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1  # untouched
    assert int(resources["SignatureRefusalsAlarm"]["Properties"]["Threshold"]) == 20


def test_set_values_reach_the_template_and_lint_clean(with_limits: Path) -> None:
    resources = _resources(with_limits)
    settings = resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert (int(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"])) == (7, 9)
    assert resources["CallbackLambdaFunction"]["Properties"]["ReservedConcurrentExecutions"] == 50
    assert int(resources["SignatureRefusalsAlarm"]["Properties"]["Threshold"]) == 5
    lint = subprocess.run([str(ROOT / ".venv" / "bin" / "cfn-lint"), "--ignore-checks", "W3005", "W8003", "--",
                           str(with_limits / "cloudformation-template-update-stack.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_refusal_alarm_sums_the_signature_and_expiry_reasons_and_waits_for_three_periods(packaged: Path) -> None:
    alarm = _resources(packaged)["SignatureRefusalsAlarm"]["Properties"]
    (total,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    summed = {m["Id"]: m for m in alarm["Metrics"] if not m.get("ReturnData")}
    assert set(summed) == {"bad_signature", "bad_token", "expired", "expiry_too_far"}
    assert total["Expression"] == "SUM([" + ", ".join(sorted(summed)) + "])"
    for reason, metric in summed.items():
        stat = metric["MetricStat"]["Metric"]
        assert stat["MetricName"] == "Rejections" and stat["Namespace"] == "Mediahook"
        assert {d["Name"]: d["Value"] for d in stat["Dimensions"]} == {"service": "mediahook", "reason": reason}
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
    assert alarm["AlarmActions"] == [{"Ref": "AlarmsTopic"}]


def test_the_reasons_the_alarm_watches_are_the_ones_the_verifier_gives() -> None:
    import re

    source = (ROOT / "lib" / "auth.py").read_text()
    given = set(re.findall(r'Unauthenticated\("([a-z_]+)"\)', source))
    assert {"bad_signature", "bad_token", "expired", "expiry_too_far"} <= given
