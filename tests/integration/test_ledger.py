"""The ledger under moto: every EventType's state_change, the race, the retry, every path records, lookup."""

from __future__ import annotations

import copy
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

import handler
from lib import api
from lib import aws as aws_clients
from lib.intake import payload_of, read_event
from lib.ledger import Ledger, Place, ledger_for, route_of
from lib.pipeline import process
from lib.routing import find_route
from lib.settings import get_settings
from tests.conftest import (
    BUCKET,
    EVENTS,
    Aws,
    Bus,
    LambdaContext,
    all_event_files,
    http_event,
    publish_fails_for,
    response_json,
)
from tests.fakes.cmq_api import FakeCmq
from tests.fakes.vod_api import FakeVodApi
from tests.integration.test_cmq import fake_cmq  # noqa: F401  (fixture)
from tests.integration.test_pull import fake_vod  # noqa: F401  (fixture)
from tests.integration.test_queue import _record, _workflow


def _ledger() -> Ledger:
    found = ledger_for(get_settings())
    assert found is not None
    return found


def _task(status: str, task: str = "1250000000-Procedure-t0", file_id: str = "5285890784246869930",
          **extra: Any) -> dict[str, Any]:
    return {"EventType": "ProcedureStateChanged",
            "ProcedureStateChangeEvent": {"TaskId": task, "Status": status, "ErrCode": 0, "FileId": file_id}, **extra}


def _send(aws: Aws, context: LambdaContext, document: dict[str, Any], product: str | None = None) -> dict[str, Any]:
    """POST one event; its notification (the CloudEvent's data and the SNS attributes)."""
    path = f"/callback/{product}" if product else "/callback"
    response = handler.callback(http_event(json.dumps(document, ensure_ascii=False), path=path), context)
    assert response["statusCode"] == 200, response["body"]
    message = aws.messages()[-1]
    data = message["cloudevent"]["data"]
    assert message["attributes"].get("state_change") == data["state_change"]
    return {"state_change": data["state_change"], "attributes": message["attributes"], "data": data}


def _resent(document: dict[str, Any]) -> dict[str, Any]:
    """The same event sent again with other bytes (another event_id, the same state)."""
    return {**document, "MediahookResentCopy": "1"}


# --------------------------------------------------------------------------- every EventType


def _sample(path: Path) -> tuple[dict[str, Any], str]:
    event = json.loads(path.read_text(encoding="utf-8"))
    return json.loads(event["body"]), event["pathParameters"]["product"]


def _with_a_subject(document: dict[str, Any], product: str) -> dict[str, Any]:
    """A sample whose subject ids are empty (some of Tencent's documented samples) gets synthetic ones, under the
    route's payload key (the Class.Created sample carries another type's key), so the walk moves a state."""
    route = find_route(product, str(document.get("EventType")))
    if route is None or route.subject is None or read_event(document, pinned=product).summary.subjects:
        return document
    document = copy.deepcopy(document)
    key = next((k for k in route.payload_keys if isinstance(document.get(k), dict)), None)
    payload = document.pop(key) if key else {}
    head, _, tail = route.subject.partition(".")
    synthetic = f"synthetic-{route.event_type}"
    if head.endswith("[]"):
        payload[head[:-2]] = [{tail: synthetic}] if tail else [synthetic]
    else:
        payload[head] = synthetic
    document[route.payload] = payload
    return document


@pytest.mark.parametrize("path", all_event_files(), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_event_type_first_advances_then_repeats(aws: Aws, ledger_table: str, context: LambdaContext,
                                                      path: Path) -> None:
    document, product = _sample(path)
    document = _with_a_subject(document, product)
    event = read_event(document, pinned=product)
    route = route_of(event)
    assert event.summary.subjects or route is None or route.subject is None  # the walk tests every routed type
    first = _send(aws, context, document, product)
    assert first["state_change"] == "advanced"  # a resource's first event
    again = _send(aws, context, _resent(document), product)
    always = route is None or route.order == "change" or not event.summary.subjects
    assert again["state_change"] == ("advanced" if always else "repeated")
    for subject in event.summary.subjects:
        state = _ledger().latest(event.product, subject)
        assert state is not None and state.event_type == event.event_type
    for resource in (*event.summary.subjects, *event.summary.file_ids):
        assert event.event_id in {e.event_id for e in _ledger().entries(resource)}


@pytest.mark.parametrize("route", [r for r in (find_route("vod", "ProcedureStateChanged"),
                                               find_route("mps", "WorkflowTask"),
                                               find_route("vod", "WechatPublishComplete"),
                                               find_route("cme", "Task.VideoExportCompleted")) if r],
                         ids=lambda r: f"{r.product}.{r.event_type}")
def test_a_status_behind_the_latest_is_stale(aws: Aws, ledger_table: str, context: LambdaContext, route: Any) -> None:
    document, product = _sample(EVENTS / route.product / f"{route.event_type}.json")
    key, _ = payload_of(document, route)
    document[key]["Status"] = "SUCCESS" if route.product == "cme" else "FINISH"
    assert _send(aws, context, document, product)["state_change"] == "advanced"
    for behind in ("PROCESSING", "WAITING"):
        late = copy.deepcopy(document)
        late[key]["Status"] = behind
        assert _send(aws, context, late, product)["state_change"] == "stale"


def test_finish_then_a_late_processing_then_a_resent_finish(aws: Aws, ledger_table: str,
                                                           context: LambdaContext) -> None:
    """The README's three events."""
    changes = [_send(aws, context, d)["state_change"]
               for d in (_task("FINISH"), _task("PROCESSING"), _task("FINISH", SessionContext="resent"))]
    assert changes == ["advanced", "stale", "repeated"]
    state = _ledger().latest("vod", "1250000000-Procedure-t0")
    assert state is not None and (state.status, state.final, state.rank) == ("FINISH", True, 3)


def test_waiting_processing_finish_in_order_each_advance(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    document, _ = _sample(EVENTS / "vod" / "WechatPublishComplete.json")
    route = find_route("vod", "WechatPublishComplete")
    assert route is not None
    key, _ = payload_of(document, route)
    changes = []
    for status in ("WAITING", "PROCESSING", "FINISH"):
        document = copy.deepcopy(document)
        document[key]["Status"] = status
        changes.append(_send(aws, context, document, "vod")["state_change"])
    assert changes == ["advanced", "advanced", "advanced"]


def test_a_file_is_followed_from_upload_to_deletion_and_nothing_comes_after(aws: Aws, ledger_table: str,
                                                                            context: LambdaContext) -> None:
    file_id = "5285890784246800001"
    upload = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id, "ProcedureTaskId": "p-1"}}
    deletion = {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [file_id, "5285890784246800002"]}}
    changes = [_send(aws, context, d)["state_change"] for d in (
        upload, _task("FINISH", task="p-1", file_id=file_id), deletion, _resent(upload), _resent(deletion))]
    assert changes == ["advanced", "advanced", "advanced", "stale", "repeated"]
    state = _ledger().latest("vod", file_id)
    assert state is not None and (state.event_type, state.final) == ("FileDeleted", True)
    history = _ledger().entries(file_id)
    assert [(e.event_type, e.state_change) for e in history] == [
        ("NewFileUpload", "advanced"), ("ProcedureStateChanged", "advanced"), ("FileDeleted", "advanced"),
        ("NewFileUpload", "stale"), ("FileDeleted", "repeated")]
    assert all(e.delivery == "push" and e.archive_key.startswith("vod/") for e in history)
    assert [e.event_type for e in _ledger().entries("p-1")] == ["NewFileUpload", "ProcedureStateChanged", "NewFileUpload"]


def test_a_project_status_is_not_monotonic_so_it_always_advances_until_deleted(aws: Aws, ledger_table: str,
                                                                             context: LambdaContext) -> None:
    document, _ = _sample(EVENTS / "cme" / "Project.Switcher.StatusChanged.json")
    changes = []
    for status in ("Started", "Stopped", "Started"):
        document = copy.deepcopy(document)
        document["ProjectSwitcherStatusChangedEvent"]["Status"] = status
        document["Seq"] = len(changes)
        changes.append(_send(aws, context, document, "cme")["state_change"])
    assert changes == ["advanced", "advanced", "advanced"]


def test_a_material_edit_after_its_deletion_is_stale(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    deleted = {"EventType": "Material.Deleted", "MaterialDeletedEvent": {"MaterialIdSet": ["m-1"]}}
    edited = {"EventType": "Material.Modified", "MaterialModifiedEvent": {"MaterialId": "m-1", "Name": "late"}}
    assert [_send(aws, context, d, "cme")["state_change"] for d in (deleted, edited)] == ["advanced", "stale"]


def test_the_consumers_filters_see_each_subject_move_forward_only(aws: Aws, ledger_table: str, event_bus: Bus,
                                                                   context: LambdaContext) -> None:
    """examples/consumer.py's ADVANCED_ONLY as an SNS filter policy, and the same as an EventBridge rule."""
    from examples.consumer import ADVANCED_ONLY

    url = aws.sqs.create_queue(QueueName="advanced-only")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=aws.topic_arn, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(ADVANCED_ONLY)})
    event_bus.rule("advanced", {"detail": {"data": {"state_change": ["advanced"]}}})
    for document in (_task("FINISH"), _task("PROCESSING"), _task("FINISH", SessionContext="resent")):
        _send(aws, context, document)
    received = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["data"]["status"] for m in received] == ["FINISH"]
    assert [e["detail"]["data"]["status"] for e in event_bus.received("advanced")] == ["FINISH"]
    assert len(event_bus.received()) == 3  # nothing is dropped: the consumer chooses


# --------------------------------------------------------------------------- the race and the retry


def test_events_of_one_subject_at_once_give_one_advanced(aws: Aws, ledger_table: str) -> None:
    """Eight copies of one task's FINISH (other bytes each) from eight threads released together."""
    bodies = [json.dumps(_task("FINISH", SessionContext=f"copy-{n}")).encode() for n in range(8)]
    barrier = threading.Barrier(len(bodies))

    def deliver(body: bytes) -> int:
        barrier.wait()
        return api.receive(body)[0]

    with ThreadPoolExecutor(len(bodies)) as pool:
        assert list(pool.map(deliver, bodies)) == [200] * len(bodies)
    changes = sorted(m["cloudevent"]["data"]["state_change"] for m in aws.messages())
    assert changes == ["advanced"] + ["repeated"] * 7


def test_a_retry_after_a_failed_publish_gets_what_it_got_the_first_time(aws: Aws, idempotency_table: str,
                                                                        ledger_table: str,
                                                                        context: LambdaContext) -> None:
    advancing, behind = _task("FINISH"), _task("PROCESSING")
    with publish_fails_for('"status":"FINISH"'):
        assert handler.callback(http_event(json.dumps(advancing)), context)["statusCode"] == 503
    assert aws.messages() == []  # recorded and archived, not published
    assert _send(aws, context, advancing)["state_change"] == "advanced"  # not repeated
    with publish_fails_for('"status":"PROCESSING"'):
        assert handler.callback(http_event(json.dumps(behind)), context)["statusCode"] == 503
    assert _send(aws, context, behind)["state_change"] == "stale"
    assert [m["cloudevent"]["data"]["state_change"] for m in aws.messages()] == ["advanced", "stale"]
    history = _ledger().entries("1250000000-Procedure-t0")
    assert [(e.status, e.state_change) for e in history] == [("FINISH", "advanced"), ("PROCESSING", "stale")]


def test_a_repeated_retry_stays_repeated_after_the_subject_moved_on(aws: Aws, ledger_table: str,
                                                                   context: LambdaContext) -> None:
    """The decision of an event that did not advance is kept once: a later retry finds it."""
    _send(aws, context, _task("PROCESSING"))
    resent = _task("PROCESSING", SessionContext="resent")
    with publish_fails_for(read_event(resent).event_id):
        assert handler.callback(http_event(json.dumps(resent)), context)["statusCode"] == 503
    _send(aws, context, _task("FINISH"))  # the task moves on before the retry comes
    assert _send(aws, context, resent)["state_change"] == "repeated"


def test_a_ledger_failure_is_503_nothing_is_published_and_the_retry_converges(aws: Aws, ledger_table: str,
                                                                             context: LambdaContext) -> None:
    make_client = aws_clients.client
    broken = mock.Mock(wraps=make_client("dynamodb"))
    broken.update_item.side_effect = ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}},
                                                 "UpdateItem")
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: broken if n == "dynamodb" else make_client(n)):
        response = handler.callback(http_event(json.dumps(_task("FINISH"))), context)
    assert response["statusCode"] == 503 and response_json(response)["error"]["code"] == "storage_unavailable"
    assert aws.messages() == []
    assert _send(aws, context, _task("FINISH"))["state_change"] == "advanced"
    assert len(aws.messages()) == 1


def test_an_entry_that_cannot_be_written_is_503_and_nothing_is_published(aws: Aws, ledger_table: str,
                                                                         context: LambdaContext) -> None:
    make_client = aws_clients.client
    real = make_client("dynamodb")

    def put_item(**kwargs: Any) -> Any:
        if kwargs["Item"]["pk"]["S"].startswith("resource#5285890784246869930"):  # the FileId's entry only
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")
        return real.put_item(**kwargs)

    flaky = mock.Mock(wraps=real)
    flaky.put_item.side_effect = put_item
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: flaky if n == "dynamodb" else make_client(n)):
        response = handler.callback(http_event(json.dumps(_task("FINISH"))), context)
    assert response["statusCode"] == 503 and aws.messages() == []
    assert _send(aws, context, _task("FINISH"))["state_change"] == "advanced"  # the retry converges
    assert len(_ledger().entries("5285890784246869930")) == 1 and len(_ledger().entries("1250000000-Procedure-t0")) == 1


# --------------------------------------------------------------------------- every path records


def test_push_records_before_publishing(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    seen: list[int] = []
    make_client = aws_clients.client
    sns = make_client("sns")

    def publish(**kwargs: Any) -> Any:  # at publish time, the entry is already in the ledger
        seen.append(len(_ledger().entries("5285890784246869930")))
        return sns.publish(**kwargs)

    spy = mock.Mock(wraps=sns)
    spy.publish.side_effect = publish
    with mock.patch.object(aws_clients, "client", side_effect=lambda n: spy if n == "sns" else make_client(n)):
        _send(aws, context, _task("FINISH"))
    assert seen == [1]


def test_the_queue_records(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    assert handler.queue({"Records": [_record("m1", json.dumps(_workflow("t-queue")))]}, context) == {
        "batchItemFailures": []}
    (entry,) = _ledger().entries("t-queue")
    assert (entry.delivery, entry.product, entry.state_change) == ("queue", "mps", "advanced")
    assert aws.messages()[0]["attributes"]["state_change"] == "advanced"


def test_pull_records(aws: Aws, ledger_table: str, fake_vod: FakeVodApi, context: LambdaContext) -> None:  # noqa: F811
    fake_vod.enqueue(_task("FINISH", task="t-pulled"), _task("PROCESSING", task="t-pulled"))
    summary = handler.pull({}, context)
    assert summary["confirmed"] == 2
    entries = _ledger().entries("t-pulled")
    assert {e.delivery for e in entries} == {"pull"}
    assert sorted(e.state_change or "" for e in entries) in (["advanced", "stale"], ["advanced", "advanced"])
    state = _ledger().latest("vod", "t-pulled")
    assert state is not None and state.status == "FINISH"  # whatever order the workers took them in


def test_cmq_records(aws: Aws, ledger_table: str, fake_cmq: FakeCmq, context: LambdaContext) -> None:  # noqa: F811
    fake_cmq.send(json.dumps(_workflow("t-cmq")))
    assert handler.cmq({}, context)["deleted"] == 1
    (entry,) = _ledger().entries("t-cmq")
    assert (entry.delivery, entry.product, entry.state_change) == ("queue", "mps", "advanced")


def test_a_recovered_event_says_so(aws: Aws, ledger_table: str) -> None:
    event = read_event(_task("FINISH"))
    outcome = process(event, delivery="reconcile", settings=get_settings())
    assert outcome.state_change == "advanced"
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["recovered"] is True and message["attributes"]["recovered"] == "true"
    assert aws.head(outcome.archive_key)["Metadata"]["delivery"] == "reconcile"
    assert _ledger().entries("1250000000-Procedure-t0")[0].delivery == "reconcile"


def test_without_a_ledger_there_is_no_state_change(aws: Aws, context: LambdaContext) -> None:
    response = handler.callback(http_event(json.dumps(_task("FINISH"))), context)
    assert response["statusCode"] == 200
    (message,) = aws.messages()
    assert message["cloudevent"]["data"]["state_change"] is None and "state_change" not in message["attributes"]
    assert message["cloudevent"]["data"]["recovered"] is False and message["attributes"]["recovered"] == "false"
    assert list(aws.objects()) and aws.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


# --------------------------------------------------------------------------- review findings (facts, deletions)


def test_different_facts_of_one_file_each_advance_and_a_resent_fact_repeats(aws: Aws, ledger_table: str,
                                                                             context: LambdaContext) -> None:
    file_id = "5285890784246800011"
    upload = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id, "MediaBasicInfo": {"Name": "a"}}}
    persisted = {"EventType": "PersistenceComplete", "PersistenceCompleteEvent": {"FileId": file_id}}
    restored = {"EventType": "RestoreMediaComplete", "RestoreMediaCompleteEvent": {"FileId": file_id}}
    deletion = {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [file_id]}}
    changes = [_send(aws, context, d)["state_change"]
               for d in (upload, persisted, restored, _resent(persisted), deletion, _resent(restored))]
    assert changes == ["advanced", "advanced", "advanced", "repeated", "advanced", "stale"]
    assert [e.state_change for e in _ledger().entries(file_id)] == changes


def test_cme_facts_of_one_material_each_advance(aws: Aws, ledger_table: str, context: LambdaContext) -> None:
    created = {"EventType": "Storage.NewFileCreated",
               "StorageNewFileCreatedEvent": {"MaterialId": "m-21", "FileId": "5285890784246800021"}}
    added = {"EventType": "Material.Added", "MaterialAddedEvent": {"MaterialIdSet": ["m-21"]}}
    assert all(read_event(d, pinned="cme").summary.subjects == ("m-21",) for d in (created, added))
    changes = [_send(aws, context, d, "cme")["state_change"] for d in (created, added, _resent(added))]
    assert changes == ["advanced", "advanced", "repeated"]


def test_a_task_event_naming_a_deleted_file_is_stale_and_its_retry_too(aws: Aws, ledger_table: str,
                                                                       context: LambdaContext) -> None:
    file_id = "5285890784246800077"
    deletion = {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [file_id]}}
    late = _task("FINISH", task="p-77", file_id=file_id)
    assert _send(aws, context, deletion)["state_change"] == "advanced"
    with publish_fails_for(read_event(late).event_id):
        assert handler.callback(http_event(json.dumps(late)), context)["statusCode"] == 503
    assert _send(aws, context, late)["state_change"] == "stale"
    assert [(e.event_type, e.state_change) for e in _ledger().entries(file_id)] == [
        ("FileDeleted", "advanced"), ("ProcedureStateChanged", "stale")]
    assert [e.state_change for e in _ledger().entries("p-77")] == ["stale"]
    # a task of a file that is not deleted still advances
    assert _send(aws, context, _task("FINISH", task="p-78", file_id="5285890784246800078"))["state_change"] == "advanced"


def test_a_task_event_retried_after_its_file_was_deleted_gets_what_it_got_first(aws: Aws, ledger_table: str,
                                                                                context: LambdaContext) -> None:
    file_id = "5285890784246800079"
    first = _task("FINISH", task="p-79", file_id=file_id)
    with publish_fails_for(read_event(first).event_id):
        assert handler.callback(http_event(json.dumps(first)), context)["statusCode"] == 503
    _send(aws, context, {"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [file_id]}})
    assert _send(aws, context, first)["state_change"] == "advanced"


def test_a_change_retried_after_a_deletion_gets_what_it_got_first(aws: Aws, ledger_table: str,
                                                                  context: LambdaContext) -> None:
    edited = {"EventType": "Material.Modified", "MaterialModifiedEvent": {"MaterialId": "m-11", "Name": "new"}}
    deleted = {"EventType": "Material.Deleted", "MaterialDeletedEvent": {"MaterialIdSet": ["m-11"]}}
    with publish_fails_for(read_event(edited, pinned="cme").event_id):
        assert handler.callback(http_event(json.dumps(edited), path="/callback/cme"), context)["statusCode"] == 503
    assert _send(aws, context, deleted, "cme")["state_change"] == "advanced"
    assert _send(aws, context, edited, "cme")["state_change"] == "advanced"  # not stale: it advanced the first time
    late = {"EventType": "Material.Modified", "MaterialModifiedEvent": {"MaterialId": "m-11", "Name": "late"}}
    assert _send(aws, context, late, "cme")["state_change"] == "stale"
    assert [e.state_change for e in _ledger().entries("m-11")] == ["advanced", "advanced", "stale"]


def test_a_non_advancing_decision_is_written_on_the_ledgers_threads(aws: Aws, ledger_table: str,
                                                                    context: LambdaContext) -> None:
    """Beside the archive's PutObject, not after it on the caller's thread (no sequential round trip)."""
    _send(aws, context, _task("FINISH"))
    threads: list[str] = []
    original = Ledger._remember

    def remember(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    with mock.patch.object(Ledger, "_remember", remember):
        assert _send(aws, context, _task("PROCESSING"))["state_change"] == "stale"
    assert len(threads) == 1 and threads[0].startswith("ledger")


def test_a_lookup_the_ledger_does_not_fully_answer_says_so(aws: Aws, ledger_table: str, context: LambdaContext,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    _send(aws, context, _task("FINISH"))
    client = aws_clients.client("dynamodb")
    original = client.batch_get_item

    def throttled(**kwargs: Any) -> dict[str, Any]:
        answer = original(**kwargs)
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"], **{k: v for k, v in answer.items()
                                                                               if k == "ResponseMetadata"}}

    with mock.patch.object(client, "batch_get_item", throttled), mock.patch("lib.ledger.time.sleep"):
        entries = _ledger().entries("1250000000-Procedure-t0")
    assert [e.state_change for e in entries] == [None]
    assert any("did not answer for every key" in r.getMessage() and getattr(r, "unprocessed_keys", 0) > 0
               for r in caplog.records)


# --------------------------------------------------------------------------- the decided order (seq) and the watermark


def _place(event: Any) -> tuple[str, Place]:
    """Record ``event`` straight in the ledger: its state_change and its place in its subject's order."""
    pending = _ledger().record(event, delivery="push", received_at="2026-12-03T00:00:00.000Z", archive_key="k")
    return pending.result(), pending.place()


def test_each_advancing_update_numbers_the_subjects_state_and_a_retry_gets_its_number(aws: Aws,
                                                                                     ledger_table: str) -> None:
    processing, finish = read_event(_task("PROCESSING")), read_event(_task("FINISH"))
    before = int(time.time() * 1000)
    change, first = _place(processing)
    assert change == "advanced" and first.sequence is not None and not first.moved_on
    assert before < first.sequence <= int(time.time() * 1000) + 1  # a subject's first number: the time in ms
    assert _place(finish) == ("advanced", Place(first.sequence + 1))
    assert _place(finish) == ("advanced", Place(first.sequence + 1))  # a retry of the event holding the state
    # a retry of an event that advanced the subject once, held by another since: moved on, no number
    assert _place(processing) == ("advanced", Place(None, moved_on=True))
    # a copy with other bytes shares the state's number; a state behind has none
    assert _place(read_event(_resent(_task("FINISH")))) == ("repeated", Place(first.sequence + 1))
    assert _place(read_event(_resent(_task("PROCESSING")))) == ("stale", Place())
    state = aws_clients.client("dynamodb").get_item(TableName=ledger_table, Key={
        "pk": {"S": "state#vod#1250000000-Procedure-t0"}, "sk": {"S": "state"}})["Item"]
    assert state["seq"] == {"N": str(first.sequence + 1)} and state["event_id"] == {"S": finish.event_id}


def test_a_state_that_expired_and_came_back_numbers_above_its_old_watermark(aws: Aws, ledger_table: str) -> None:
    ledger, dynamodb = _ledger(), aws_clients.client("dynamodb")
    _, old = _place(read_event(_task("FINISH")))
    assert old.sequence is not None
    assert ledger.claim_delivery("app", "vod", "1250000000-Procedure-t0", old.sequence, "finish")
    dynamodb.delete_item(TableName=ledger_table, Key={"pk": {"S": "state#vod#1250000000-Procedure-t0"},
                                                      "sk": {"S": "state"}})  # TTL took it; the watermark is left
    time.sleep(0.002)
    _, new = _place(read_event(_task("PROCESSING")))
    assert new.sequence is not None and new.sequence > old.sequence
    assert ledger.claim_delivery("app", "vod", "1250000000-Procedure-t0", new.sequence, "processing")


def test_a_change_is_numbered_at_every_move_and_a_take_over_keeps_the_number(aws: Aws, ledger_table: str) -> None:
    document, _ = _sample(EVENTS / "cme" / "Project.Switcher.StatusChanged.json")
    places = []
    for n, status in enumerate(("Started", "Stopped")):
        document = copy.deepcopy(document)
        document["ProjectSwitcherStatusChangedEvent"]["Status"] = status
        document["Seq"] = n
        places.append(_place(read_event(document, pinned="cme"))[1])
    first = places[0].sequence
    assert first is not None and places == [Place(first), Place(first + 1)]
    held, rebuilt = read_event(_task("FINISH")), read_event(_resent(_task("FINISH")))
    _, place = _place(held)
    assert place.sequence is not None
    assert _ledger().take_over("vod", "1250000000-Procedure-t0", held.event_id, rebuilt)
    assert _place(rebuilt) == ("advanced", place)  # the rebuilt event stands in the held one's place


def test_the_delivery_watermark_passes_newer_states_and_an_events_own_retry_only(aws: Aws, ledger_table: str) -> None:
    ledger = _ledger()
    assert ledger.claim_delivery("app", "vod", "t-1", 2, "b")
    assert ledger.claim_delivery("app", "vod", "t-1", 2, "b")  # its own retry
    assert not ledger.claim_delivery("app", "vod", "t-1", 1, "a")  # older: superseded
    assert ledger.claim_delivery("app", "vod", "t-1", 2, "other")  # a repeated copy of that state: not older
    assert ledger.claim_delivery("other-app", "vod", "t-1", 1, "a")  # each destination its own watermark
    assert ledger.claim_delivery("app", "vod", "t-1", 3, "c")
    item = aws_clients.client("dynamodb").get_item(TableName=ledger_table, Key={
        "pk": {"S": "delivered#app#vod#t-1"}, "sk": {"S": "delivered"}})["Item"]
    assert item["seq"] == {"N": "3"} and item["event_id"] == {"S": "c"} and int(item["expires_at"]["N"]) > 0


def _switcher(status: str, n: int) -> Any:
    """A CME project's status change (``change`` order): ``n`` makes each one another event."""
    document, _ = _sample(EVENTS / "cme" / "Project.Switcher.StatusChanged.json")
    document = copy.deepcopy(document)
    document["ProjectSwitcherStatusChangedEvent"]["Status"] = status
    document["Seq"] = n
    return read_event(document, pinned="cme")


def test_a_retried_change_neither_sets_the_state_back_nor_numbers_it_again(aws: Aws, ledger_table: str) -> None:
    started, stopped = _switcher("Started", 0), _switcher("Stopped", 1)
    _, first = _place(started)
    assert first.sequence is not None
    assert _place(stopped) == ("advanced", Place(first.sequence + 1))
    # the retry of the older change (the same bytes): what it got the first time, and it has moved on
    assert _place(started) == ("advanced", Place(None, moved_on=True))
    state = _ledger().latest("cme", started.summary.subject or "")
    assert state is not None and (state.event_id, state.status) == (stopped.event_id, "Stopped")
    assert _place(stopped) == ("advanced", Place(first.sequence + 1))  # the retry of the one holding the state
    item = aws_clients.client("dynamodb").get_item(TableName=ledger_table, Key={
        "pk": {"S": f"state#cme#{started.summary.subject}"}, "sk": {"S": "state"}})["Item"]
    assert item["seq"] == {"N": str(first.sequence + 1)}


def test_a_resent_copy_of_an_earlier_fact_shares_no_number_with_a_later_fact(aws: Aws, ledger_table: str) -> None:
    file_id = "5285890784246800031"
    upload = {"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": file_id, "MediaBasicInfo": {"Name": "a"}}}
    persisted = {"EventType": "PersistenceComplete", "PersistenceCompleteEvent": {"FileId": file_id}}
    _, first = _place(read_event(upload))
    assert first.sequence is not None
    assert _place(read_event(persisted)) == ("advanced", Place(first.sequence + 1))
    # the same rank, but not the state the subject holds: it must not pass the watermark after the later fact
    assert _place(read_event(_resent(upload))) == ("repeated", Place(None, moved_on=True))
    assert _place(read_event(_resent(persisted))) == ("repeated", Place(first.sequence + 1))  # the state held


def test_a_deletion_of_several_files_has_a_place_in_each_files_order(aws: Aws, ledger_table: str) -> None:
    one, two = "5285890784246800041", "5285890784246800042"
    _, uploaded = _place(read_event({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": two}}))
    assert uploaded.sequence is not None
    deletion = read_event({"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": [one, two]}})
    pending = _ledger().record(deletion, delivery="push", received_at="2026-12-03T00:00:00.000Z", archive_key="k")
    assert pending.result() == "advanced"
    places = pending.places()
    assert places[two] == Place(uploaded.sequence + 1) and places[one].sequence is not None
    assert pending.place() == places[one]  # the primary subject's


def test_a_watermark_outlives_the_messages_it_guards(aws: Aws, ledger_table: str) -> None:
    from lib.ledger import DELIVERED_MIN_DAYS

    ledger = Ledger(ledger_table, lambda: aws_clients.client("dynamodb"), retention_days=1)
    before = int(time.time())
    assert ledger.claim_delivery("app", "vod", "t-9", 1, "a")
    item = aws_clients.client("dynamodb").get_item(TableName=ledger_table, Key={
        "pk": {"S": "delivered#app#vod#t-9"}, "sk": {"S": "delivered"}})["Item"]
    assert DELIVERED_MIN_DAYS >= 28
    assert int(item["expires_at"]["N"]) >= before + DELIVERED_MIN_DAYS * 86400


def test_a_change_of_several_subjects_moves_those_not_deleted_in_one_transaction(aws: Aws, ledger_table: str) -> None:
    _place(read_event({"EventType": "Material.Deleted", "MaterialDeletedEvent": {"MaterialIdSet": ["m-32"]}},
                      pinned="cme"))
    moved = read_event({"EventType": "Material.Moved", "MaterialMovedEvent": {
        "MaterialIdSet": ["m-31", "m-32"], "DestinationClassPath": "/a"}}, pinned="cme")
    pending = _ledger().record(moved, delivery="push", received_at="2026-12-03T00:00:00.000Z", archive_key="k")
    assert pending.result() == "advanced"
    places = pending.places()
    assert places["m-31"].sequence is not None and places["m-32"] == Place()  # the deleted one holds no place
    state = _ledger().latest("cme", "m-32")
    assert state is not None and state.event_type == "Material.Deleted"
    again = _ledger().record(moved, delivery="push", received_at="2026-12-03T00:00:01.000Z", archive_key="k")
    assert again.result() == "advanced" and again.places()["m-31"] == places["m-31"]  # its retry moves nothing


def test_several_subjects_watermarks_are_claimed_all_or_none(aws: Aws, ledger_table: str) -> None:
    ledger = _ledger()
    assert ledger.claim_delivery("app", "vod", "f-2", 5, "newer")
    assert not ledger.claim_deliveries("app", "vod", {"f-1": 4, "f-2": 4}, "deletion")  # refused on f-2
    dynamodb = aws_clients.client("dynamodb")
    assert "Item" not in dynamodb.get_item(TableName=ledger_table, Key={  # f-1 not claimed for a message dropped
        "pk": {"S": "delivered#app#vod#f-1"}, "sk": {"S": "delivered"}})
    assert ledger.claim_deliveries("app", "vod", {"f-1": 6, "f-2": 6}, "later")
    assert ledger.claim_deliveries("app", "vod", {"f-1": 6, "f-2": 6}, "later")  # its own retry
