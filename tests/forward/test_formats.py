"""The two formats: cloudevents verified by the standardwebhooks library; tencent re-signed so that mediahook's own
verifier (lib/auth.py, the way Tencent's handlers check) accepts it, every other byte as Tencent sent it."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from lib.auth import Secrets, Verifier
from lib.errors import Unauthenticated
from lib.forward.signing import SecretError, standard_webhook_headers, tencent_resigned, top_level_spans
from tests.conftest import SAMPLES
from tests.forward.conftest import new_webhook_secret


def test_cloudevents_signature_verifies_with_the_standardwebhooks_library() -> None:
    secret = new_webhook_secret()
    body = json.dumps({"id": "abc", "data": {"text": "动物世界"}}, ensure_ascii=False)
    headers = standard_webhook_headers(secret, "abc", int(time.time()), body)
    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    assert headers["webhook-id"] == "abc" and headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("abc", "abd").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body.encode(), headers)


@pytest.mark.parametrize("secret", ["no-prefix", "whsec_c2hvcnQ="])
def test_a_cloudevents_secret_must_be_a_long_enough_whsec_secret(secret: str) -> None:
    with pytest.raises(SecretError) as caught:
        standard_webhook_headers(secret, "id", 0, "{}")
    assert secret not in str(caught.value)


def _verify(product: str, body: str, *, vod: tuple[str, ...] = (), mps: tuple[str, ...] = ()) -> None:
    document = json.loads(body)
    Verifier(Secrets(vod_sign_keys=vod, mps_notify_keys=mps)).check_signature(product, [document], time.time())


def _outside_signature(text: str, names: tuple[str, ...]) -> str:
    spans = top_level_spans(text)
    for start, end in sorted((spans[n] for n in names if n in spans), reverse=True):
        text = text[:start] + text[end:]
    return text


@pytest.mark.parametrize(("sample", "product", "fields"), [
    ("vod_ProcedureStateChanged.json", "vod", ("T", "Sign")),
    ("mps_WorkflowTask.json", "mps", ("Timestamp", "Sign")),
])
def test_tencent_format_is_resigned_and_otherwise_byte_for_byte(sample: str, product: str,
                                                               fields: tuple[str, ...]) -> None:
    original = (SAMPLES / sample).read_text(encoding="utf-8")
    # as Tencent delivered it: signed with Tencent's key (another key than the destination's)
    document = json.loads(original)
    document.update({fields[0]: 1, "Sign": "0" * 32})
    delivered = json.dumps(document, ensure_ascii=False, indent=1)
    resigned = tencent_resigned(delivered, product, "vod=destvodkey,mps=destmpskey", int(time.time()))
    keys = {"vod": ("destvodkey",)} if product == "vod" else {"mps": ("destmpskey",)}
    _verify(product, resigned, **keys)
    with pytest.raises(Unauthenticated):
        _verify(product, delivered, **keys)
    assert _outside_signature(resigned, fields) == _outside_signature(delivered, fields)


def test_tencent_format_adds_the_fields_to_an_unsigned_body_and_leaves_cme_alone() -> None:
    body = '{"EventType": "ProcedureStateChanged", "ProcedureStateChangeEvent": {"TaskId": "t", "T": "nested"}}'
    resigned = tencent_resigned(body, "vod", "onekey", int(time.time()))
    _verify("vod", resigned, vod=("onekey",))
    assert json.loads(resigned)["ProcedureStateChangeEvent"]["T"] == "nested"  # only top-level fields
    assert resigned.startswith(body[:-1])
    cme = (SAMPLES / "cme_Material.Imported.json").read_text(encoding="utf-8")
    assert tencent_resigned(cme, "cme", "onekey", 0) == cme
    assert tencent_resigned(body, "vod", "onekey", 0, legacy=True) == body


def test_a_string_expiry_stays_a_string() -> None:
    body = '{"EventType":"WorkflowTask","Timestamp":"1","Sign":"x","WorkflowTaskEvent":{}}'
    resigned = json.loads(tencent_resigned(body, "mps", "mps=k", 100))
    assert resigned["Timestamp"] == str(100 + 600)


def test_a_tencent_secret_without_the_products_key_is_refused() -> None:
    with pytest.raises(SecretError):
        tencent_resigned('{"EventType":"WorkflowTask"}', "mps", "vod=onlyvod", 0)
    with pytest.raises(SecretError):
        tencent_resigned('{"EventType":"WorkflowTask"}', "mps", "cme=x", 0)
