"""Drift from Tencent's schema of record: the installed SDKs' EventContent models vs the routing table.

The SDKs are dev dependencies only; bumping them in requirements-dev.txt is how a new EventType
surfaces here, in CI, before it reaches production as ``_unknown``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from lib.routing import TABLE

NOT_PAYLOADS = {"EventHandle", "EventType", "Operator", "SessionId", "SessionContext", "Timestamp", "Sign",
                "RequestId"}


def _documented_types(model: Any) -> set[str]:
    doc = inspect.getsource(type(model).EventType.fget)
    return set(re.findall(r"<li>\s*([A-Za-z][\w.]*)\s*[：:]", doc))


def _payload_fields(model: Any) -> set[str]:
    return {name.lstrip("_") for name in vars(model)} - NOT_PAYLOADS


def _sdk(product: str) -> Any:
    if product == "vod":
        from tencentcloud.vod.v20180717 import models

        return models.EventContent()
    if product == "cme":
        from tencentcloud.cme.v20191029 import models as cme

        return cme.EventContent()
    from tencentcloud.mps.v20190612 import models as mps

    return mps.ParseNotificationResponse()


@pytest.mark.parametrize("product", ["vod", "cme", "mps"])
def test_every_documented_event_type_is_routed(product: str) -> None:
    routed = {r.event_type for r in TABLE if r.product == product}
    documented = _documented_types(_sdk(product))
    assert documented, "the SDK's EventType doc string could not be read"
    assert sorted(documented - routed) == []


@pytest.mark.parametrize("product", ["vod", "cme", "mps"])
def test_every_sdk_payload_field_is_a_routed_payload_key(product: str) -> None:
    keys = {k for r in TABLE if r.product == product for k in r.payload_keys}
    assert sorted(_payload_fields(_sdk(product)) - keys) == []


def test_cme_has_all_thirteen_types() -> None:
    assert len([r for r in TABLE if r.product == "cme"]) == 13


def _struct_classes(source: str) -> dict[str, str]:
    return dict(re.findall(r'params\.get\("(\w+)"\) is not None:\s*\n\s*self\._\w+ = (\w+)\(\)', source))


@pytest.mark.parametrize("product", ["vod", "mps"])
def test_the_confirmation_table_follows_the_sdk(product: str) -> None:
    """routing.CONFIRM's DescribeTaskDetail field of a task event is the field whose struct is the event's."""
    from lib.routing import CONFIRM

    if product == "vod":
        from tencentcloud.vod.v20180717 import models
        content, answer = models.EventContent, models.DescribeTaskDetailResponse
    else:
        from tencentcloud.mps.v20190612 import models
        content, answer = models.ParseNotificationResponse, models.DescribeTaskDetailResponse
    payload_struct = _struct_classes(inspect.getsource(content._deserialize))
    field_of_struct = {cls: field for field, cls in _struct_classes(inspect.getsource(answer._deserialize)).items()}
    expected = {}
    for route in (r for r in TABLE if r.product == product):
        struct = next((payload_struct[k] for k in route.payload_keys if k in payload_struct), None)
        if struct in field_of_struct:
            expected[route.event_type] = f"task:{field_of_struct[struct]}"
    table = {t: how for (p, t), how in CONFIRM.items() if p == product and how.startswith("task:")}
    assert table == expected
    assert len(table) >= (30 if product == "vod" else 4)
