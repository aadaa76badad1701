"""Errors that end a delivery, each with the HTTP status and stable code of the public contract."""

from __future__ import annotations

from typing import Any


class DeliveryError(Exception):
    """A delivery that cannot be acknowledged. ``status`` < 500 means the sender must not retry."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, *, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidJson(DeliveryError):
    status, code = 400, "invalid_json"


class InvalidEvent(DeliveryError):
    status, code = 400, "invalid_event"


class UnknownProduct(DeliveryError):
    status, code = 400, "unknown_product"


class ProductMismatch(DeliveryError):
    status, code = 400, "product_mismatch"


class Unauthenticated(DeliveryError):
    """Never says which secret was expected; ``reason`` goes to metrics and logs only."""

    status, code = 401, "unauthenticated"

    def __init__(self, reason: str) -> None:
        super().__init__("the delivery is not signed with a configured key or token")
        self.reason = reason


class MethodNotAllowed(DeliveryError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(DeliveryError):
    status, code = 413, "payload_too_large"


class StorageUnavailable(DeliveryError):
    """An AWS dependency failed: nothing was acknowledged, so the sender retries."""

    status, code = 503, "storage_unavailable"


class InProgress(DeliveryError):
    """Another copy of the same event is being processed right now; retry later."""

    status, code = 503, "in_progress"


class NotConfirmed(DeliveryError):
    """Tencent's API contradicts the event (VERIFY_EVENTS). The answer says no more than that; ``reason``
    (what Tencent said) goes to the log and to the copy kept under ``_rejected/``."""

    status, code = 401, "not_confirmed"

    def __init__(self, reason: str) -> None:
        super().__init__("the event is not confirmed by Tencent's API")
        self.reason = "not_confirmed"
        self.detail = reason


class VerificationUnavailable(DeliveryError):
    """Tencent's API could not be asked (unreachable, throttled, credentials refused): retry later."""

    status, code = 503, "verification_unavailable"
