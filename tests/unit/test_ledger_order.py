"""The routing table's order column: every EventType's rank rules, and the ledger's condition expressions."""

from __future__ import annotations

from typing import Any

import pytest

from lib.intake import read_event
from lib.ledger import ADVANCE_CONDITION, CHANGE_CONDITION, combine, judge, resources_of, state_update
from lib.routing import (
    LEGACY,
    RANK_DELETED,
    RANK_FINAL,
    RANK_FIRST,
    RANK_PROCESSING,
    TABLE,
    Route,
    position,
)

# Each EventType's documented statuses, from /work/shared/tencent/catalog.md (sections 1.3, 2.3 and 3: the
# payload struct's `Status` field; None: the type has no status). Copied here: the tests never read ../shared.
_PF = ("PROCESSING", "FINISH")
_WPF = ("WAITING", "PROCESSING", "FINISH")
DOCUMENTED: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("vod", "NewFileUpload"): None, ("vod", "ProcedureStateChanged"): _PF, ("vod", "FileDeleted"): None,
    ("vod", "PullComplete"): _PF, ("vod", "EditMediaComplete"): _PF, ("vod", "SplitMediaComplete"): _PF,
    ("vod", "ComposeMediaComplete"): _PF, ("vod", "ClipComplete"): None, ("vod", "TranscodeComplete"): None,
    ("vod", "CreateImageSpriteComplete"): None, ("vod", "ConcatComplete"): None,
    ("vod", "CreateSnapshotByTimeOffsetComplete"): None, ("vod", "WechatPublishComplete"): _WPF,
    ("vod", "WechatMiniProgramPublishComplete"): _WPF, ("vod", "RemoveWatermark"): _PF,
    ("vod", "RestoreMediaComplete"): None,  # an int, "disused"
    ("vod", "RebuildMediaComplete"): _PF, ("vod", "ExtractTraceWatermarkComplete"): _PF,
    ("vod", "ExtractCopyRightWatermarkComplete"): _PF, ("vod", "ReviewAudioVideoComplete"): _PF,
    ("vod", "ReduceMediaBitrateComplete"): _PF, ("vod", "DescribeFileAttributesComplete"): ("PROCESSING", "SUCCESS", "FAIL"),
    ("vod", "QualityInspectComplete"): _PF, ("vod", "QualityEnhanceComplete"): _PF,
    ("vod", "MediaCastStatusChanged"): ("Working", "Scheduled", "Stopped", "Idle"),
    ("vod", "PersistenceComplete"): None, ("vod", "ComplexAdaptiveDynamicStreamingComplete"): _PF,
    ("vod", "ProcessMediaByMPSComplete"): _PF, ("vod", "AigcImageTaskComplete"): _PF,
    ("vod", "AigcVideoTaskComplete"): _PF, ("vod", "ExtractBlindWatermarkComplete"): _WPF,
    ("vod", "SceneAigcImageCompleteEvent"): _PF, ("vod", "ProcessImageAsyncCompleteEvent"): None,
    ("vod", "CreateAigcAdvancedCustomElementCompleteEvent"): _PF, ("vod", "CreateAigcCustomVoiceCompleteEvent"): _PF,
    ("vod", "DescribeAigcFaceInfoAsyncComplete"): _PF,
    ("vod", "AigcHunyuan3DTaskComplete"): _PF,  # newer than the catalog: the SDK's AigcHunyuan3DTask (3.1.194)
    ("cme", "Storage.NewFileCreated"): None,
    ("cme", "Project.StreamConnect.StatusChanged"): ("Working", "Stopped", "InputInterrupted", "OutputInterrupted"),
    ("cme", "Project.Switcher.StatusChanged"): ("Started", "Stopped", "PvwStarted", "PgmStarted", "PvwStopped",
                                                "PgmStopped"),
    ("cme", "Project.MediaCast.StatusChanged"): ("Started", "Stopped", "SourceInterrupted", "DestinationInterrupted"),
    ("cme", "Material.Imported"): None, ("cme", "Material.Added"): None, ("cme", "Material.Moved"): None,
    ("cme", "Material.Modified"): None, ("cme", "Material.Deleted"): None, ("cme", "Class.Created"): None,
    ("cme", "Class.Moved"): None, ("cme", "Class.Deleted"): None, ("cme", "Task.VideoExportCompleted"): ("SUCCESS", "FAIL"),
    ("mps", "WorkflowTask"): _PF, ("mps", "EditMediaTask"): _PF, ("mps", "ScheduleTask"): _PF,
    ("mps", "BatchTask"): _PF,  # BatchSubTaskResult documents no status: the task fields the model reads
    ("mps", "ExtractBlindWatermark"): _WPF,
    ("mps", "ProcedureStateChanged"): _PF,
    # MPS live-stream processing (NotificationType; the SDK's ParseLiveStreamProcessNotification): no status.
    **{("mps", t): None for t in ("AiReviewResult", "AiRecognitionResult", "AiAnalysisResult", "AiQualityControlResult",
                                  "AiSmartSubtitleResult", "LiveRecordResult", "ProcessEof")},
}
DELETIONS = {("vod", "FileDeleted"), ("cme", "Material.Deleted"), ("cme", "Class.Deleted")}
# Not monotonic: what they report can go back and forth (started, stopped, started again; moved, edited).
CHANGES = {("vod", "MediaCastStatusChanged"), ("cme", "Project.StreamConnect.StatusChanged"),
           ("cme", "Project.Switcher.StatusChanged"), ("cme", "Project.MediaCast.StatusChanged"),
           ("cme", "Material.Moved"), ("cme", "Material.Modified"), ("cme", "Class.Moved"),
           # a live task sends many results, each a new one; none ends the task (ProcessEof does: a task result)
           *(("mps", t) for t in ("AiReviewResult", "AiRecognitionResult", "AiAnalysisResult", "AiQualityControlResult",
                                 "AiSmartSubtitleResult", "LiveRecordResult"))}
ROUTES = [*TABLE, LEGACY]


def _id(route: Route) -> str:
    return f"{route.product}.{route.event_type}"


def test_the_walk_covers_every_event_type_of_the_table() -> None:
    assert {(r.product, r.event_type) for r in TABLE} == set(DOCUMENTED)


@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_each_event_type_ranks_by_the_rules(route: Route) -> None:
    key = (route.product, route.event_type)
    statuses = DOCUMENTED.get(key)
    if key in DELETIONS:
        assert route.order == "delete"
    elif key in CHANGES:
        assert route.order == "change"
    elif route is LEGACY:
        assert route.order == "end"  # its "status" is a result code, sent once the task is done
    elif statuses is None:  # a type without a status is one step: a task's result ends it, a fact does not
        task_result = (route.task is not None and route.task == route.subject) or route.subject is None
        assert route.order == ("end" if task_result else "fact"), route
    else:
        assert route.order == "status" and route.status is not None
        ranks = {s: position("status", s) for s in statuses}
        finals = [s for s in statuses if s not in ("WAITING", "PROCESSING")]
        assert finals, "a status-ordered type documents a final status"
        assert all(ranks[s].rank == RANK_FINAL and ranks[s].final for s in finals)
        waiting, processing = position("status", "WAITING"), position("status", "PROCESSING")
        assert waiting.rank < processing.rank < RANK_FINAL and not waiting.final and not processing.final
        assert all(ranks[s] in (waiting, processing) for s in statuses if s not in finals)
    at = position(route.order, (statuses or (None,))[0])
    if route.order == "delete":
        assert at == position("delete", None) and at.final and at.rank == RANK_DELETED
    else:
        assert at.rank < RANK_DELETED, "a deletion outranks every other state"
    if route.order in ("fact", "change"):
        assert at.rank == RANK_FIRST and not at.final


def test_status_ranks_in_order() -> None:
    assert [position("status", s).rank for s in (None, "WAITING", "PROCESSING", "FINISH")] == [1, 1, 2, 3]
    assert position("status", "finish") == position("status", "FAIL") == position("status", "ABORTED")
    assert position("status", "SOMETHING_NEW").rank == RANK_PROCESSING  # unknown: under way, not an end
    assert position("end", None).final and position("end", None).rank == RANK_FINAL
    assert max(position(o, "FINISH").rank for o in ("status", "end", "fact", "change")) < position("delete", None).rank


# --------------------------------------------------------------------------- the conditional writes


def _event(status: str = "FINISH", **extra: Any) -> Any:
    return read_event({"EventType": "ProcedureStateChanged",
                       "ProcedureStateChangeEvent": {"TaskId": "t-1", "Status": status, "FileId": "f-1"}, **extra})


def test_the_state_update_moves_only_forward_and_remembers_who_moved_it() -> None:
    event = _event()
    request = state_update("vod", "t-1", event, "status", position("status", "FINISH"), received_at="now",
                           expires_at=1)
    assert request["ConditionExpression"] == ADVANCE_CONDITION == "attribute_not_exists(#rank) OR #rank < :rank"
    assert request["ExpressionAttributeValues"][":rank"] == {"N": "3"}
    assert request["ExpressionAttributeValues"][":ids"] == {"SS": [event.event_id]}
    assert request["UpdateExpression"].endswith("#seq = if_not_exists(#seq, :first) + :one ADD #advanced :ids")
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert request["ReturnValues"] == "UPDATED_NEW"  # the new seq, on the same call
    assert request["Key"] == {"pk": {"S": "state#vod#t-1"}, "sk": {"S": "state"}}


def test_a_change_is_refused_only_after_an_end_or_a_deletion() -> None:
    request = state_update("cme", "p-1", _event(), "change", position("change", "Working"), received_at="now",
                           expires_at=1)
    assert request["ConditionExpression"] == CHANGE_CONDITION
    ended = int(request["ExpressionAttributeValues"][":ended"]["N"])
    assert ended == position("end", None).rank == position("status", "FINISH").rank  # a live task's ProcessEof
    assert position("change", None).rank < ended <= position("delete", None).rank
    assert all(position("status", s).rank < ended for s in ("WAITING", "PROCESSING", None))
    assert ":ids" not in request["ExpressionAttributeValues"]


def test_judging_a_refusal_from_the_old_item() -> None:
    old = {"rank": {"N": "3"}, "advanced_by": {"SS": ["a", "b"]}}
    assert judge(old, "b", "status", 2) == "advanced"  # a retry of an event that moved it
    assert judge(old, "c", "status", 3) == "repeated"
    assert judge(old, "c", "status", 2) == "stale"
    assert judge({"rank": {"N": "9"}}, "c", "change", 1) == "stale"


def test_an_event_of_several_subjects_advanced_if_it_moved_one() -> None:
    assert combine(["stale", "advanced"]) == "advanced"
    assert combine(["stale", "repeated"]) == "repeated"
    assert combine(["stale"]) == "stale"
    assert combine([]) == "advanced"  # no subject: nothing to be behind


def test_resources_are_every_id_the_event_names() -> None:
    assert resources_of(_event()) == ("t-1", "f-1")
    deletion = read_event({"EventType": "FileDeleted", "FileDeleteEvent": {"FileIdSet": ["f-1", "f-2"]}})
    assert deletion.summary.subjects == ("f-1", "f-2") and resources_of(deletion) == ("f-1", "f-2")


def test_the_ledger_table_helper_is_the_stacks_table() -> None:
    """The local stack and the tests create the ledger from lib.ledger's schema: it is serverless.yml's."""
    from lib.ledger import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, TTL_ATTRIBUTE
    from tests.test_docs import _resources

    declared = _resources()["LedgerTable"]["Properties"]
    assert declared["KeySchema"] == KEY_SCHEMA
    assert declared["AttributeDefinitions"] == ATTRIBUTE_DEFINITIONS
    assert declared["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_a_fact_condition_admits_another_fact_type_at_the_same_rank_but_not_after_a_deletion() -> None:
    from lib.ledger import FACT_CONDITION

    upload = read_event({"EventType": "NewFileUpload", "FileUploadEvent": {"FileId": "f-1"}}, pinned="vod")
    request = state_update("vod", "f-1", upload, "fact", position("fact", None), received_at="t", expires_at=1)
    assert request["ConditionExpression"] == FACT_CONDITION
    assert request["ExpressionAttributeValues"][":types"] == {"SS": ["NewFileUpload"]}
    assert "#rank < :rank" in FACT_CONDITION and "NOT contains(#facts, :type)" in FACT_CONDITION
    assert RANK_FIRST < RANK_DELETED  # a fact's equal-rank clause never reaches a deleted subject's rank
