"""event_id's canonical JSON: the fast encoder must write exactly the contract's bytes, or step aside."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.intake import DELIVERY_FIELDS, canonical_json, event_id_of
from tests.conftest import EVENTS


def contract_canonical(document: Any) -> bytes:
    """The contract's definition, word for word: keys sorted, compact separators, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


floats = (st.floats(allow_nan=False, allow_infinity=False)
          | st.floats(min_value=-1e-4, max_value=1e-4, allow_nan=False)  # where orjson and Python differ
          | st.sampled_from([1e16, 9.999999999999999e-05, 0.0001, -0.0, 1e-07, 2e-05, 1.7976931348623157e308]))
integers = st.integers() | st.integers(min_value=2**63 - 2, max_value=2**64 + 2) | st.integers(-2**63 - 2, -2**63 + 2)
leaves = st.none() | st.booleans() | integers | floats | st.text()
documents = st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                         | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=30)


@settings(max_examples=3000, deadline=None)
@given(documents)
def test_canonical_json_is_the_contracts_bytes_for_any_document(document: Any) -> None:
    assert canonical_json(document) == contract_canonical(document)


@pytest.mark.parametrize("value", [1e-07, -2.5e-05, 2e-05, 9.999999999999999e-05, 5e-324])
def test_small_floats_take_the_standard_encoder(value: float) -> None:
    # orjson writes these as 1e-7 / 0.00002: the guard must notice and fall back.
    assert canonical_json({"x": [value]}) == contract_canonical({"x": [value]})


def test_strings_that_look_like_small_floats_still_get_the_contracts_bytes() -> None:
    document = {"name": "v0.00001-cut", "id": "3e-5", "n": 1}
    assert canonical_json(document) == contract_canonical(document)


def test_every_sample_event_id_follows_the_contract() -> None:
    for path in sorted(EVENTS.rglob("*.json")):
        document = json.loads(json.loads(path.read_text(encoding="utf-8"))["body"])
        events = document.get("EventSet") or document.get("Response", {}).get("EventSet") or [document]
        for event in events:
            logical = {k: v for k, v in event.items() if k not in DELIVERY_FIELDS}
            assert event_id_of(event) == hashlib.sha256(contract_canonical(logical)).hexdigest(), path


def test_a_lone_surrogate_has_no_strict_id_but_a_lenient_one() -> None:
    with pytest.raises(UnicodeEncodeError):
        event_id_of({"EventType": "FileDeleted", "X": "\ud800"})
    assert len(event_id_of({"EventType": "FileDeleted", "X": "\ud800"}, lenient=True)) == 64


def _nested(depth: int) -> dict[str, object]:
    inner: list[object] = []
    outer = inner
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    return {"EventType": "X", "X": outer}


def test_an_event_nested_past_the_limit_is_refused_wherever_it_is_hashed() -> None:
    import pytest

    from lib.errors import InvalidJson
    from lib.intake import MAX_DEPTH, event_id_of

    assert len(event_id_of(_nested(MAX_DEPTH - 2))) == 64
    with pytest.raises(InvalidJson, match="nested more than 255 levels"):
        event_id_of(_nested(MAX_DEPTH + 10))
    assert len(event_id_of(_nested(MAX_DEPTH + 10), lenient=True)) == 64  # dead letters still get an id
