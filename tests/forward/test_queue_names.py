"""The destination name rules in two places, held together: lib/forward/names.py (the settings refuse a bad
name at cold start) and plugins/forward-queues.js (packaging refuses it), and the plugin's logical ids."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lib.forward.names import name_problem
from tests.conftest import ROOT

NAMES = ["app", "my-app", "my_app", "myapp", "my0Dapp", "My-App", "0", "00", "-", "_", "a" * 40, "a" * 41, "",
         "has space", "app-dlq", "app-dlq2", "dlq", "-dlq", "app.fifo", "ümlaut", "a/b", "a" * 30, "x" * 39]
PREFIXES = [None, "mediahook-prod-forward-", "mediahook-production-eu-west-forward-"]


def _node(script: str) -> object:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run([node, "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_the_plugin_and_the_settings_refuse_the_same_names_for_the_same_reason() -> None:
    cases = [(name, prefix) for name in NAMES for prefix in PREFIXES]
    script = ("const { nameProblem } = require('./plugins/forward-queues.js');"
              f"const cases = {json.dumps(cases)};"
              "console.log(JSON.stringify(cases.map(([n, p]) => nameProblem(n, p === null ? undefined : p))));")
    assert _node(script) == [name_problem(name, prefix) for name, prefix in cases]
    assert name_problem("a" * 40, "mediahook-production-eu-west-forward-") is not None  # the length rule bites


def test_the_destination_model_keeps_the_same_rules() -> None:
    from lib.forward.config import Destination

    for name in NAMES:
        try:
            Destination(name=name, url="https://a.example/x", secret_param="/p")
        except ValueError:
            accepted = False
        else:
            accepted = True
        assert accepted is (name_problem(name) is None), name


def test_logical_ids_are_alphanumeric_and_one_to_one() -> None:
    valid = [n for n in NAMES if name_problem(n) is None]
    script = ("const { logicalSuffix } = require('./plugins/forward-queues.js');"
              f"console.log(JSON.stringify({json.dumps(valid)}.map(logicalSuffix)));")
    suffixes = _node(script)
    assert isinstance(suffixes, list)
    assert all(s.isalnum() and s.isascii() for s in suffixes)
    assert len(set(suffixes)) == len(valid)  # my-app, my_app, myapp, my0Dapp: four ids


CONCURRENCIES: list[object] = [2, 5, "5", " 5 ", 5.0, "5.0", "+5", 1000, 1, 1001, 0, -3, "0x10", "1e1", [5], True,
                                5.5, "5.5", "", "five", None]


def test_the_plugin_never_takes_a_concurrency_the_functions_refuse() -> None:
    """A package that deploys must start: whatever concurrency packaging takes, the model takes as the same number
    (the plugin may refuse more than pydantic, never less), and the usual forms are taken by both."""
    from lib.forward.config import Destination

    script = ("const { concurrencyOf } = require('./plugins/forward-queues.js');"
              f"console.log(JSON.stringify({json.dumps(CONCURRENCIES)}.map(concurrencyOf)));")
    taken = _node(script)
    assert isinstance(taken, list)
    for value, number in zip(CONCURRENCIES, taken, strict=True):
        if value is None or number is None:
            continue
        model = Destination(name="app", url="https://a.example/x", secret_param="/p", concurrency=value)
        assert model.concurrency == number, value
    assert [n for v, n in zip(CONCURRENCIES, taken, strict=True) if v in (2, "5", 1000)] == [2, 5, 1000]
    assert all(n is None for v, n in zip(CONCURRENCIES, taken, strict=True) if v in (1, 1001, "0x10", "1e1", True))


def test_a_bad_concurrency_is_refused_naming_where_it_was_given() -> None:
    script = ("const { forwardingResources } = require('./plugins/forward-queues.js');"
              "const config = (c) => ({ queueNamePrefix: 'mediahook-ci-forward-', concurrency: c,"
              " ageAlarmSeconds: '3600', alarmsTopic: 'AlarmsTopic' });"
              "const said = (d, c) => { try { forwardingResources(d, config(c)); return null; }"
              " catch (e) { return e.message; } };"
              "console.log(JSON.stringify([said([{ name: 'app', concurrency: '0x10' }], '2'),"
              " said([{ name: 'app' }], '1'), said([{ name: 'app', concurrency: '7' }], '1'),"
              " said([{ name: 'app' }], '2')]));")
    assert _node(script) == [
        "forwardDestinations: destination app: concurrency must be a whole number from 2 to 1000",
        'forwardConcurrency: a whole number from 2 to 1000 expected, got "1"',
        None,  # its own concurrency: the stage's default is not used
        None]


def test_packaging_refuses_each_bad_list_naming_the_destination() -> None:
    script = ("const { forwardingResources } = require('./plugins/forward-queues.js');"
              "const config = { queueNamePrefix: 'mediahook-a-rather-long-stage-name-forward-', concurrency: '2',"
              " ageAlarmSeconds: '3600', alarmsTopic: 'AlarmsTopic' };"
              "const d = (name) => ({ name, url: 'https://x.example/h', secret_param: '/p' });"
              "const said = (list) => { try { forwardingResources(list, config); return null; }"
              " catch (e) { return e.message; } };"
              "console.log(JSON.stringify([said([d('has space')]), said([d('a'.repeat(40))]),"
              " said([d('orders'), d('orders')]), said([d('orders'), d('legacy_app-2')])]));")
    said = _node(script)
    assert isinstance(said, list)
    space, long, twice, fine = said
    assert space == 'forwardDestinations: destination "has space": letters, digits, - and _ only, 1 to 40 of them'
    assert long.startswith(f'forwardDestinations: destination "{"a" * 40}": its dead-letter queue\'s name')
    assert "more than SQS's 80" in long
    assert twice == "forwardDestinations: destination orders is listed twice: names must be unique"
    assert fine is None
