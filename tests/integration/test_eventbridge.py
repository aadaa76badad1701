"""EventBridge as a notification target, under moto: rules, chunking, partial failures, storage first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lib import api, dedup
from lib.eventbridge import MAX_ENTRY_BYTES, entry_for, entry_size
from lib.settings import ConfigError, Settings
from tests.conftest import BUCKET, Aws, Bus, LambdaContext, load_event

TEMPLATE = json.loads(load_event("vod/ProcedureStateChanged.json")["body"])


def _event(n: int, *, failed: bool = False) -> dict[str, Any]:
    """A distinct VOD task flow event: FINISH, with ErrCode 0 or (failed) 40000."""
    event = json.loads(json.dumps(TEMPLATE))
    task = event["ProcedureStateChangeEvent"]
    task["TaskId"] = f"1256768367-Procedure-bus-{n:04d}"
    task["ErrCode"] = 40000 if failed else 0
    task["Message"] = "source file error" if failed else "SUCCESS"
    task["MediaProcessResultSet"] = []
    return event


def _deliver(*events: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    dedup.register_context(LambdaContext())  # as handler.callback does
    body = events[0] if len(events) == 1 else {"EventSet": list(events)}
    return api.receive(json.dumps(body).encode(), pinned="vod")


def test_a_rule_on_succeeded_gets_only_the_failures_with_the_sns_cloudevent_as_detail(aws: Aws,
                                                                                    event_bus: Bus) -> None:
    event_bus.rule("failed", {"source": ["tencentcloud/vod"], "detail": {"data": {"succeeded": [False]}}})
    for n in range(4):
        status, _ = _deliver(_event(n, failed=n in (1, 3)))
        assert status == 200
    failed = event_bus.received("failed")
    assert sorted(e["detail"]["data"]["task_id"] for e in failed) == ["1256768367-Procedure-bus-0001",
                                                                      "1256768367-Procedure-bus-0003"]
    everything = event_bus.received("all")
    assert len(everything) == 4
    sent_to_sns = {m["cloudevent"]["id"]: m["cloudevent"] for m in aws.messages()}
    for bus_event in everything:
        assert bus_event["detail"] == sent_to_sns[bus_event["detail"]["id"]]  # the same CloudEvent
        assert bus_event["source"] == "tencentcloud/vod"
        assert bus_event["detail-type"] == "tencentcloud.vod.ProcedureStateChanged"
        assert bus_event["time"].startswith(bus_event["detail"]["time"][:19])


def test_a_batch_of_25_goes_in_calls_of_at_most_ten(aws: Aws, event_bus: Bus) -> None:
    status, result = _deliver(*(_event(n) for n in range(25)))
    assert status == 200 and len(result["results"]) == 25
    assert sorted(len(call) for call in event_bus.calls) == [5, 10, 10]
    on_bus = event_bus.received()
    assert len(on_bus) == 25 and len({e["detail"]["id"] for e in on_bus}) == 25
    assert len(aws.messages()) == 25


def test_an_entry_that_fails_once_is_retried_alone(aws: Aws, event_bus: Bus) -> None:
    unlucky = "1256768367-Procedure-bus-0002"
    event_bus.fail = lambda call, entry: "ThrottlingException" if call == 1 and unlucky in entry["Detail"] else None
    status, _ = _deliver(*(_event(n) for n in range(4)))
    assert status == 200
    assert [len(call) for call in event_bus.calls] == [4, 1]
    assert unlucky in event_bus.calls[1][0]["Detail"]
    assert len(event_bus.received()) == 4  # every event on the bus, the failed one once


def test_a_bus_that_keeps_failing_is_a_503_and_the_retried_delivery_completes(aws: Aws, event_bus: Bus) -> None:
    events = [_event(n) for n in range(3)]
    event_bus.fail = lambda call, entry: "InternalFailure"
    status, body = _deliver(*events)
    assert status == 503 and body["error"]["code"] == "storage_unavailable"
    assert len(event_bus.calls) == 3  # the first call and two retries, then not acknowledged
    assert event_bus.received() == []
    assert len(aws.objects()) == 3  # storage first: archived all the same

    event_bus.fail = None
    status, _ = _deliver(*events)  # Tencent retries the delivery
    assert status == 200
    assert len({e["detail"]["id"] for e in event_bus.received()}) == 3
    # SNS had them on the first attempt and again on the retry: the same CloudEvent ids, which consumers dedupe.
    ids = [m["cloudevent"]["id"] for m in aws.messages()]
    assert len(ids) == 6 and len(set(ids)) == 3


def test_nothing_goes_to_the_bus_before_the_archive_has_it(aws: Aws, event_bus: Bus) -> None:
    archived_first: list[bool] = []

    def check(call: int, entry: dict[str, Any]) -> str | None:
        key = json.loads(entry["Detail"])["data"]["archive"]["key"]
        archived_first.append(key in aws.objects())
        return None

    event_bus.fail = check
    assert _deliver(*(_event(n) for n in range(12)))[0] == 200
    assert _deliver(_event(99))[0] == 200
    assert archived_first == [True] * 13


def test_a_rejected_delivery_puts_nothing_on_the_bus(aws: Aws, event_bus: Bus) -> None:
    bad = _event(1)
    bad["ProcedureStateChangeEvent"] = "not an object"
    status, _ = _deliver(_event(0), bad)  # one bad event rejects the whole batch
    assert status == 400
    assert event_bus.calls == [] and aws.objects() == {}


def test_with_a_bus_and_no_topic_only_the_bus_is_notified(aws: Aws, event_bus: Bus,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.settings import get_settings

    monkeypatch.delenv("EVENTS_TOPIC_ARN")
    get_settings.cache_clear()
    assert _deliver(_event(0))[0] == 200
    assert len(event_bus.received()) == 1 and aws.messages() == []


def test_neither_topic_nor_bus_is_a_clear_start_up_error() -> None:
    with pytest.raises(ConfigError, match="EVENTS_TOPIC_ARN or EVENT_BUS_NAME"):
        Settings.from_env({"ARCHIVE_BUCKET": BUCKET})
    with pytest.raises(ConfigError, match="EVENT_BUS_NAME"):
        Settings.from_env({"ARCHIVE_BUCKET": BUCKET, "EVENT_BUS_NAME": "no spaces allowed"})
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/media"
    assert Settings.from_env({"ARCHIVE_BUCKET": BUCKET, "EVENT_BUS_NAME": arn}).event_bus_name == arn


def test_entry_size_is_counted_as_aws_documents_it() -> None:
    entry = {"Source": "tencentcloud/vod", "DetailType": "t", "Detail": '{"a":"é"}', "Time": object()}
    assert entry_size(entry) == 14 + len("tencentcloud/vod") + 1 + len('{"a":"é"}'.encode())


def test_an_oversized_notification_goes_without_its_urls(aws: Aws) -> None:
    from lib.archive import ArchivedObject
    from lib.intake import parse_delivery
    from lib.publish import outgoing

    event = _event(7)
    event["ProcedureStateChangeEvent"]["MediaProcessResultSet"] = [
        {"Type": "Transcode", "TranscodeTask": {"Status": "SUCCESS", "ErrCode": 0, "Output": {
            "Url": f"https://example.vod2.myqcloud.com/{n:03d}/{'x' * 1400}.mp4"}}} for n in range(200)]
    (inbound,) = parse_delivery(json.dumps(event).encode(), pinned="vod")
    message = outgoing(inbound, ArchivedObject(BUCKET, "vod/k.json", True), "push", "2026-11-23T00:00:00.000Z")
    assert len(message.body.encode()) > MAX_ENTRY_BYTES
    entry = entry_for(message, "bus")
    assert entry_size(entry) <= MAX_ENTRY_BYTES
    detail = json.loads(entry["Detail"])
    assert detail["data"]["urls"] == [] and detail["data"]["archive"] == {"bucket": BUCKET, "key": "vod/k.json"}
    assert detail["id"] == message.notification.id


def test_with_exactly_once_a_failed_bus_leaves_the_event_to_be_retried(aws: Aws, idempotency_table: str,
                                                                        event_bus: Bus) -> None:
    events = [_event(n) for n in range(3)]
    event_bus.fail = lambda call, entry: "InternalFailure"
    assert _deliver(*events)[0] == 503
    event_bus.fail = None
    status, result = _deliver(*events)
    assert status == 200 and [r["duplicate"] for r in result["results"]] == [False] * 3  # not recorded as done
    assert len(event_bus.received()) == 3


def test_duplicates_in_a_window_leave_it_without_holding_the_others(aws: Aws, idempotency_table: str,
                                                                    event_bus: Bus) -> None:
    assert _deliver(*(_event(n) for n in range(5)))[0] == 200
    event_bus.calls.clear()
    status, result = _deliver(*(_event(n) for n in range(10)))
    assert status == 200
    assert [r["duplicate"] for r in result["results"]] == [True] * 5 + [False] * 5
    assert [len(call) for call in event_bus.calls] == [5]  # the five new ones, in one call
    assert len(event_bus.received()) == 10
