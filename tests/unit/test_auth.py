"""One test per failure mode of each verifier; signatures computed here from Tencent's documented formulas."""

from __future__ import annotations

import hashlib

import pytest

from lib.auth import Secrets, Verifier
from lib.errors import Unauthenticated

NOW = 1_800_000_000
VOD_KEY, VOD_OLD_KEY, MPS_KEY = "vodKey123", "vodOldKey9", "mpsKey456"


def vod_sign(key: str, t: int | str) -> str:
    return hashlib.md5(f"{key}{t}".encode()).hexdigest()  # Sign = MD5(SignKey + T)


def mps_sign(key: str, timestamp: int | str) -> str:
    return hashlib.md5(f"{timestamp}{key}".encode()).hexdigest()  # Sign = MD5(Timestamp + NotifyKey)


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(Secrets(vod_sign_keys=(VOD_KEY, VOD_OLD_KEY), mps_notify_keys=(MPS_KEY,)),
                    clock_skew=300, max_lifetime=3600)


def reason(verifier: Verifier, product: str, sources: list[dict[str, object]], token: str | None = None) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(product, sources, token, now=NOW)
    return caught.value.reason


# ---- VOD: Sign = md5(SignKey + T)

def test_vod_valid_signature_in_body(verifier: Verifier) -> None:
    t = NOW + 600
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}], None, now=NOW) == "signature"


def test_vod_t_as_string_or_number(verifier: Verifier) -> None:
    t = NOW + 600
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_KEY, t), "T": str(t)}], None, now=NOW) == "signature"
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}], None, now=NOW) == "signature"


def test_vod_uppercase_hex_is_accepted(verifier: Verifier) -> None:
    t = NOW + 600
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_KEY, t).upper(), "T": t}], None, now=NOW)


def test_vod_rotated_key_is_accepted(verifier: Verifier) -> None:
    t = NOW + 600
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_OLD_KEY, t), "T": t}], None, now=NOW) == "signature"


def test_vod_missing_sign(verifier: Verifier) -> None:
    assert reason(verifier, "vod", [{"T": NOW + 600}]) == "missing_signature"


def test_vod_missing_t(verifier: Verifier) -> None:
    assert reason(verifier, "vod", [{"Sign": vod_sign(VOD_KEY, NOW)}]) == "missing_signature"


def test_vod_wrong_signature(verifier: Verifier) -> None:
    assert reason(verifier, "vod", [{"Sign": vod_sign("someoneElse", NOW + 600), "T": NOW + 600}]) == "bad_signature"


def test_vod_signature_for_another_t(verifier: Verifier) -> None:
    assert reason(verifier, "vod", [{"Sign": vod_sign(VOD_KEY, NOW + 601), "T": NOW + 600}]) == "bad_signature"


def test_vod_expired(verifier: Verifier) -> None:
    t = NOW - 301  # past the 300 s clock skew
    assert reason(verifier, "vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}]) == "expired"


def test_vod_just_expired_within_skew_is_accepted(verifier: Verifier) -> None:
    t = NOW - 299
    assert verifier.verify("vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}], None, now=NOW)


def test_vod_implausibly_far_future(verifier: Verifier) -> None:
    t = NOW + 3600 + 301
    assert reason(verifier, "vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}]) == "expiry_too_far"


def test_vod_wrong_order_of_concatenation(verifier: Verifier) -> None:
    t = NOW + 600
    assert reason(verifier, "vod", [{"Sign": mps_sign(VOD_KEY, t), "T": t}]) == "bad_signature"


@pytest.mark.parametrize("t", [True, 1.5, "12abc", "", [1], "-5", "99999999999999999999"])
def test_vod_malformed_t(verifier: Verifier, t: object) -> None:
    assert reason(verifier, "vod", [{"Sign": vod_sign(VOD_KEY, NOW), "T": t}]) == "malformed_signature"


def test_vod_sign_not_a_string(verifier: Verifier) -> None:
    assert reason(verifier, "vod", [{"Sign": 12345, "T": NOW + 600}]) == "malformed_signature"


def test_vod_fields_in_query_string_after_an_unsigned_body(verifier: Verifier) -> None:
    t = NOW + 600
    body: dict[str, object] = {"EventType": "NewFileUpload"}
    query = {"Sign": vod_sign(VOD_KEY, t), "T": str(t)}
    assert verifier.verify("vod", [body, query], None, now=NOW) == "signature"


def test_vod_body_wins_over_query(verifier: Verifier) -> None:
    t = NOW + 600
    body = {"Sign": "0" * 32, "T": t}
    query = {"Sign": vod_sign(VOD_KEY, t), "T": str(t)}
    assert reason(verifier, "vod", [body, query]) == "bad_signature"


def test_vod_key_of_mps_is_not_accepted_for_vod(verifier: Verifier) -> None:
    t = NOW + 600
    assert reason(verifier, "vod", [{"Sign": vod_sign(MPS_KEY, t), "T": t}]) == "bad_signature"


# ---- MPS: Sign = md5(Timestamp + NotifyKey)

def test_mps_valid(verifier: Verifier) -> None:
    ts = NOW + 600
    assert verifier.verify("mps", [{"Sign": mps_sign(MPS_KEY, ts), "Timestamp": ts}], None, now=NOW) == "signature"


def test_mps_wrong_order_of_concatenation(verifier: Verifier) -> None:
    ts = NOW + 600
    assert reason(verifier, "mps", [{"Sign": vod_sign(MPS_KEY, ts), "Timestamp": ts}]) == "bad_signature"


def test_mps_uses_timestamp_not_t(verifier: Verifier) -> None:
    ts = NOW + 600
    assert reason(verifier, "mps", [{"Sign": mps_sign(MPS_KEY, ts), "T": ts}]) == "missing_signature"


def test_mps_expired(verifier: Verifier) -> None:
    ts = NOW - 1000
    assert reason(verifier, "mps", [{"Sign": mps_sign(MPS_KEY, ts), "Timestamp": str(ts)}]) == "expired"


def test_mps_in_headers(verifier: Verifier) -> None:
    ts = NOW + 600
    headers = {"Sign": mps_sign(MPS_KEY, ts), "Timestamp": str(ts)}
    assert verifier.verify("mps", [{}, {}, headers], None, now=NOW) == "signature"


# ---- tokens and fail-closed

def test_token_accepted_for_any_product_and_rotation() -> None:
    v = Verifier(Secrets(callback_tokens=("new-token", "old-token")))
    for product in ("vod", "cme", "mps"):
        assert v.verify(product, [{}], "old-token", now=NOW) == "token"


def test_wrong_token() -> None:
    v = Verifier(Secrets(callback_tokens=("right",)))
    assert reason(v, "cme", [{}], token="wrong") == "bad_token"


def test_missing_token() -> None:
    assert reason(Verifier(Secrets(callback_tokens=("right",))), "cme", [{}]) == "missing_token"


def test_non_ascii_token_is_refused_not_crashed() -> None:
    assert reason(Verifier(Secrets(callback_tokens=("right",))), "cme", [{}], token="ríght") == "bad_token"


def test_nothing_configured_fails_closed() -> None:
    assert reason(Verifier(Secrets()), "cme", [{}], token="anything") == "not_configured"
    v = Verifier(Secrets(vod_sign_keys=(VOD_KEY,)))
    assert reason(v, "cme", [{}]) == "not_configured"  # VOD keys say nothing about CME


def test_signature_still_checked_when_tokens_exist_but_none_is_sent() -> None:
    v = Verifier(Secrets(vod_sign_keys=(VOD_KEY,), callback_tokens=("tok",)))
    t = NOW + 600
    assert v.verify("vod", [{"Sign": vod_sign(VOD_KEY, t), "T": t}], None, now=NOW) == "signature"
    assert reason(v, "vod", [{"Sign": "x" * 32, "T": t}]) == "bad_signature"
