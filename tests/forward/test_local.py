"""`make serve`'s forwarding switches (FORWARD_URL, FORWARD_FORMAT, FORWARD_SECRET, FORWARD_SIGN_KEY): what they
configure and how a wrong one is refused (one line, without a traceback, as the other StackErrors)."""

from __future__ import annotations

import pytest

from scripts.local_stack import StackError, forwarding_from_env
from scripts.sqs_event_source import lambda_event


def test_no_url_no_forwarding_and_a_whsec_secret_made_up_when_not_given() -> None:
    assert forwarding_from_env({}) is None
    made_up = forwarding_from_env({"FORWARD_URL": "http://127.0.0.1:8080/hook"})
    assert made_up is not None and made_up.format == "cloudevents" and made_up.secret.startswith("whsec_")
    given = forwarding_from_env({"FORWARD_URL": "http://127.0.0.1:8080/hook", "FORWARD_SECRET": "whsec_abcd"})
    assert given is not None and given.secret == "whsec_abcd"
    tencent = forwarding_from_env({"FORWARD_URL": "http://127.0.0.1:8080/hook", "FORWARD_FORMAT": "tencent",
                                   "FORWARD_SIGN_KEY": "localdemovodkey"})
    assert tencent is not None and (tencent.format, tencent.secret) == ("tencent", "localdemovodkey")


@pytest.mark.parametrize(("env", "message"), [
    ({"FORWARD_FORMAT": "tencent"}, "FORWARD_FORMAT=tencent needs FORWARD_SIGN_KEY"),
    ({"FORWARD_FORMAT": "xml"}, "FORWARD_FORMAT: cloudevents or tencent"),
    ({"FORWARD_SECRET": "plain"}, "FORWARD_SECRET: a whsec_ secret expected"),
])
def test_a_wrong_switch_says_which_and_how(env: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=message):
        forwarding_from_env({"FORWARD_URL": "http://127.0.0.1:8080/hook", **env})


def test_the_event_source_builds_lambdas_sqs_records() -> None:
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "Attributes": {
        "MessageGroupId": "app/t", "ApproximateReceiveCount": "2"}}
    [record] = lambda_event([message], "arn:aws:sqs:us-east-1:123456789012:q.fifo")["Records"]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["MessageGroupId"] == "app/t" and record["messageId"] == "m1"
    assert len(record["md5OfBody"]) == 32
