"""Destinations' configuration, the retry policy and the SSRF guard: what each refuses and allows."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lib.forward import retry, ssrf
from lib.forward.config import destinations_of, parse_destinations
from lib.forward.message import Queued, group_id
from lib.settings import ConfigError, Settings

BASE = {"ARCHIVE_BUCKET": "bucket", "EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "FORWARD_QUEUE_URL_PREFIX": "https://sqs.us-east-1.amazonaws.com/123456789012/mediahook-prod-forward-"}


def _destination(**fields: object) -> dict[str, object]:
    return {"name": "app", "url": "https://hooks.example.com/tencent", "secret_param": "/mediahook/prod/f", **fields}


def test_defaults_and_filters() -> None:
    [d] = parse_destinations([_destination()]).items
    assert (d.format, d.timeout_seconds, d.max_age_seconds) == ("cloudevents", 10, 86_400)
    assert d.filter.matches("vod", "NewFileUpload", True, "advanced")
    assert not d.filter.matches("vod", "NewFileUpload", True, "stale")  # stale: not sent by default
    [picky] = parse_destinations([_destination(filter={"products": ["mps"], "event_types": ["WorkflowTask"],
                                                       "succeeded": False, "stale": True})]).items
    assert picky.filter.matches("mps", "WorkflowTask", False, "stale")
    assert not picky.filter.matches("mps", "WorkflowTask", True, None)
    assert not picky.filter.matches("vod", "WorkflowTask", False, None)
    assert not picky.filter.matches("mps", "EditMediaTask", False, None)


@pytest.mark.parametrize(("fields", "message"), [
    ({"url": "http://hooks.example.com/x"}, "plain http is allowed for loopback addresses only"),
    ({"url": "ftp://hooks.example.com/x"}, "an https URL expected"),
    ({"url": "https://user:pw@hooks.example.com/x"}, "credentials in the URL"),
    ({"url": "https://hooks.example.com:99999/x"}, "port"),  # else each delivery raises, then the DLQ
    ({"format": "xml"}, "FORMAT"),
    ({"name": "has space"}, "NAME"),
    ({"name": "app-dlq"}, "must not have dlq as a word"),
    ({"name": "dlq_app"}, "must not have dlq as a word"),
    ({"concurrency": 1}, "CONCURRENCY"),
    ({"secret": "whsec_abc"}, "SECRET: Extra inputs are not permitted"),  # a secret itself is refused
    ({"timeout_seconds": 0}, "TIMEOUT_SECONDS"),
])
def test_a_bad_destination_fails_at_start_up_naming_it(fields: dict[str, object], message: str) -> None:
    import json

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, "FORWARD_DESTINATIONS": json.dumps([_destination(**fields)])})
    assert "FORWARD_DESTINATIONS" in str(caught.value) and message.lower() in str(caught.value).lower()


def test_destinations_need_unique_names_a_queue_and_json() -> None:
    import json

    with pytest.raises(ConfigError, match="unique: app"):
        Settings.from_env({**BASE, "FORWARD_DESTINATIONS": json.dumps([_destination(), _destination()])})
    with pytest.raises(ConfigError, match="FORWARD_DESTINATIONS is set: FORWARD_QUEUE_URL_PREFIX"):
        Settings.from_env({**BASE, "FORWARD_QUEUE_URL_PREFIX": "", "FORWARD_DESTINATIONS": json.dumps([_destination()])})
    Settings.from_env({**BASE, "FORWARD_DESTINATIONS": json.dumps([_destination(name="a" * 40)])})  # 72: fits
    long_stage = BASE["FORWARD_QUEUE_URL_PREFIX"].replace("-prod-", "-production-eu-west-")
    with pytest.raises(ConfigError, match=r"destination a{40}: its dead-letter queue's name .* more than SQS's 80"):
        Settings.from_env({**BASE, "FORWARD_QUEUE_URL_PREFIX": long_stage,
                           "FORWARD_DESTINATIONS": json.dumps([_destination(name="a" * 40)])})
    with pytest.raises(ConfigError, match="JSON list"):
        Settings.from_env({**BASE, "FORWARD_DESTINATIONS": "[{"})
    assert destinations_of(Settings.from_env({**BASE, "FORWARD_DESTINATIONS": "[]"}).forward_destinations).items == ()
    [local] = destinations_of(Settings.from_env({**BASE, "FORWARD_DESTINATIONS": json.dumps([_destination(
        url="http://127.0.0.1:8080/hook")])}).forward_destinations).items
    assert local.host == "127.0.0.1"


@pytest.mark.parametrize(("status", "expected"), [
    (200, "delivered"), (204, "delivered"), (408, "retry"), (425, "retry"), (429, "retry"), (500, "retry"),
    (503, "retry"), (None, "retry"), (400, "rejected"), (401, "rejected"), (404, "rejected"), (301, "rejected"),
    (302, "rejected"),
])
def test_verdicts(status: int | None, expected: str) -> None:
    assert retry.verdict(status) == expected


def test_retry_after_seconds_or_date_and_the_backoff() -> None:
    now = datetime.now(UTC)
    assert retry.retry_after_seconds("7", now.timestamp()) == 7
    assert retry.retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True),
                                     now.timestamp()) in (29, 30, 31)
    assert retry.retry_after_seconds("soon", now.timestamp()) is None
    # what an endpoint may send that int() would choke on: not an exception after the POST, a wait
    assert retry.retry_after_seconds("²", now.timestamp()) is None
    assert retry.retry_after_seconds("9" * 5000, now.timestamp()) == retry.MAX_VISIBILITY
    assert retry.backoff_seconds(3, 120) == 120 and retry.backoff_seconds(1, 0) == 1
    assert retry.backoff_seconds(1, 10**9) == retry.MAX_VISIBILITY
    rng = random.Random(7)
    draws = {attempt: [retry.backoff_seconds(attempt, rng=rng) for _ in range(200)] for attempt in (1, 4, 30)}
    assert max(draws[1]) <= 2 and max(draws[4]) <= 16 and max(draws[30]) <= retry.MAX_DELAY
    assert min(min(v) for v in draws.values()) >= 1
    assert len(set(draws[30])) > 50  # jitter: not all at the cap


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", "an instance-metadata address"), ("fd00:ec2::254", "an instance-metadata address"),
    ("169.254.10.1", "a link-local address"), ("fe80::1", "a link-local address"),
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("::ffff:169.254.169.254",
                                                                        "an instance-metadata address"),
    ("0.0.0.0", "not a unicast address"), ("8.8.8.8", None), ("10.1.2.3", None),  # noqa: S104 - not bound
])
def test_the_ssrf_guard(address: str, reason: str | None) -> None:
    assert ssrf.refusal(ipaddress.ip_address(address), allow_loopback=False) == reason
    if reason == "a loopback address":
        assert ssrf.refusal(ipaddress.ip_address(address), allow_loopback=True) is None


def test_a_host_resolving_to_a_refused_address_among_others_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(ssrf.RefusedDestination, match="instance-metadata"):
        ssrf.resolve("rebinding.example", 443, allow_loopback=False)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers[:1])
    assert ssrf.resolve("fine.example", 443, allow_loopback=False) == "93.184.216.34"


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "::ffff:127.0.0.1", "0",
                                  "0.0.0.0"])  # noqa: S104 - not bound
def test_loopback_spelled_otherwise_is_refused(host: str) -> None:
    # the address checked is the one the resolver makes of the name, however the name spells it
    with pytest.raises(ssrf.RefusedDestination):
        ssrf.resolve(host, 443, allow_loopback=False)


def test_message_groups_keep_a_resource_of_a_destination_together() -> None:
    assert group_id("app", "1250000001-Procedure-a", "e" * 64) == "app/1250000001-Procedure-a"
    assert group_id("app", None, "e" * 64) == "app/" + "e" * 64
    odd = group_id("app", "路径/带 空格" * 20, "e" * 64)
    assert odd.startswith("app/") and len(odd) <= 128 and odd == group_id("app", "路径/带 空格" * 20, "f" * 64)
    queued = Queued("app", "e" * 64, "vod", "NewFileUpload", "f", 0.0, "{}", "b", "k")
    assert Queued.from_json(queued.to_json()) == queued
    assert queued.deduplication_id != Queued("other", "e" * 64, "vod", "NewFileUpload", "f", 0.0, "{}", "b",
                                             "k").deduplication_id


def test_a_message_carries_a_sequence_per_subject_and_one_queued_with_a_single_sequence_still_reads() -> None:
    queued = Queued("app", "e" * 64, "vod", "FileDeleted", "f1", 0.0, "{}", "b", "k", sequences={"f1": 7, "f2": 9})
    assert Queued.from_json(queued.to_json()) == queued
    older = json.loads(queued.to_json())
    del older["sequences"]
    older["sequence"] = 7  # a message queued before there were several: its subject's number
    assert Queued.from_json(json.dumps(older)).sequences == {"f1": 7}
    older["sequence"] = None
    assert Queued.from_json(json.dumps(older)).sequences is None


def test_a_queued_message_leaves_room_for_its_dead_letters_failure() -> None:
    from lib.forward.message import MAX_MESSAGE_BYTES, Failure

    for size in range(200_000, 260_000, 4_000):  # around the point where the body goes by claim check
        queued = Queued("app", "e" * 64, "vod", "NewFileUpload", "f", 0.0, "x" * size, "b", "k", format="tencent")
        worst = Failure("rejected", 400, "\x00" * 4096, 1, 0.0)  # every character escaped as \u0000
        assert len(queued.fitting().dead(worst).to_json().encode()) <= MAX_MESSAGE_BYTES, size
