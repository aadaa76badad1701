"""Write ``events/``: one API Gateway HTTP API (payload 2.0) event per EventType, for
``osls invoke local -p events/...`` and for the tests. The body of each is a payload from
``tests/samples/`` byte for byte (see ``tests/samples/SOURCES.md`` for where each came from).

Run ``python scripts/build_events.py`` after changing the samples; a test checks events/ is in sync.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"
EVENTS = ROOT / "events"
sys.path.insert(0, str(ROOT))

from lib.routing import TABLE  # noqa: E402


def sample_for(product: str, event_type: str) -> Path:
    """The published sample for a type if there is one, else the constructed shape-only one."""
    # MPS ProcedureStateChanged is the VTS-era name: the VOD payload, posted to /callback/mps.
    prefix = "vod" if (product, event_type) == ("mps", "ProcedureStateChanged") else product
    for candidate in (SAMPLES / f"{prefix}_{event_type}.json", SAMPLES / "constructed" / f"{prefix}_{event_type}.json"):
        if candidate.exists():
            return candidate
    raise SystemExit(f"no sample for {product} {event_type}")


# The `local` stage of serverless.yml accepts this token, so `osls invoke local --stage local -p events/...`
# passes authentication; deployed stages have their own secrets and refuse it.
LOCAL_TOKEN = "local-demo-token"


def gateway_event(product: str, body: str, token: str = LOCAL_TOKEN) -> dict[str, object]:
    """An HTTP API v2 event for ``POST /callback/{product}?token=...``, as API Gateway would send it."""
    path = f"/callback/{product}"
    return {
        "version": "2.0",
        "routeKey": "POST /callback/{product}",
        "rawPath": path,
        "rawQueryString": f"token={token}",
        "headers": {"content-type": "application/json", "host": "localhost", "user-agent": "mediahook-sample"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "mediahook-sample"},
            "requestId": "sample",
            "routeKey": "POST /callback/{product}",
            "stage": "$default",
            "time": "21/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795219200000,
        },
        "queryStringParameters": {"token": token},
        "pathParameters": {"product": product},
        "body": body,
        "isBase64Encoded": False,
    }


def planned() -> dict[Path, tuple[str, Path]]:
    """events/ file -> (product, sample) for every routed type plus the legacy v2.0 samples."""
    plan: dict[Path, tuple[str, Path]] = {
        EVENTS / r.product / f"{r.event_type}.json": (r.product, sample_for(r.product, r.event_type)) for r in TABLE
    }
    for legacy in sorted(SAMPLES.glob("vod_legacy-v2_*.json")):
        event_type = legacy.stem.removeprefix("vod_legacy-v2_")
        plan[EVENTS / "vod" / "legacy-v2" / f"{event_type}.json"] = ("vod", legacy)
    return plan


def render(product: str, sample: Path) -> str:
    return json.dumps(gateway_event(product, sample.read_text(encoding="utf-8")), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    for target, (product, sample) in planned().items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(product, sample), encoding="utf-8")
    print(f"wrote {len(planned())} events under {EVENTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
