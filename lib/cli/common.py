"""What more than one command (and the local stack, and the tests) shares: the ``Command`` every module
registers, reading sample files, signing them as Tencent does, posting them, and the progress bar.

Kept free of heavy imports: ``mediahook --help`` should not pay for pydantic models or boto3."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lib.routing import candidate_products
from lib.urls import require_secure_url

SIGNATURE_LIFETIME = 600  # Tencent's default: signatures expire 10 minutes after sending


@dataclass(frozen=True)
class Command:
    """One ``mediahook`` sub-command: its name, its one-line help, the longer description shown by
    ``mediahook NAME --help`` (and in the generated CLI reference), its options, and what it runs."""

    name: str
    help: str
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]

    def register(self, commands: Any) -> argparse.ArgumentParser:
        """Add this command to the root parser's sub-parsers (``argparse._SubParsersAction``)."""
        parser: argparse.ArgumentParser = commands.add_parser(self.name, help=self.help, description=self.description)
        self.configure(parser)
        parser.set_defaults(run=self.run)
        return parser


# --------------------------------------------------------------------------- reading sample files


@dataclass(frozen=True)
class Sample:
    """One deliverable payload read from a file: its body and the product it belongs to."""

    name: str
    body: str
    product: str


def load_sample(path: Path) -> Sample:
    """A payload file or an ``events/`` gateway event (whose body and product are used)."""
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    if isinstance(document, dict) and "body" in document and "requestContext" in document:
        product = (document.get("pathParameters") or {}).get("product") or _guess_product(document["body"])
        return Sample(str(path), document["body"], product)
    return Sample(str(path), text, _guess_product(text))


def _guess_product(body: str) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return "vod"
    event_type = document.get("EventType") if isinstance(document, dict) else None
    if isinstance(event_type, str):
        return candidate_products(event_type)[0]
    return "vod"


# --------------------------------------------------------------------------- signing and sending


def sign_body(body: str, product: str, *, vod_key: str | None = None, mps_key: str | None = None,
              now: float | None = None) -> str:
    """Add Tencent's signature fields to a single-event body (VOD: ``T``/``Sign``; MPS: ``Timestamp``/``Sign``).

    Legacy v2.0 bodies, batches and CME events are returned as they are: Tencent does not sign them."""
    document = json.loads(body)
    if not isinstance(document, dict) or "EventType" not in document:
        return body
    expiry = int(now if now is not None else time.time()) + SIGNATURE_LIFETIME
    if product == "vod" and vod_key:
        document["T"] = expiry
        document["Sign"] = hashlib.md5(f"{vod_key}{expiry}".encode(), usedforsecurity=False).hexdigest()
    elif product == "mps" and mps_key:
        document["Timestamp"] = expiry
        document["Sign"] = hashlib.md5(f"{expiry}{mps_key}".encode(), usedforsecurity=False).hexdigest()
    else:
        return body
    return json.dumps(document, ensure_ascii=False)


def callback_url(base: str, product: str, token: str | None = None) -> str:
    """``base`` (a deployment's ``.../callback``) pinned to ``product``, with ``?token=`` if given."""
    url = base.rstrip("/")
    if url.endswith("/callback"):
        url = f"{url}/{product}"
    return f"{url}?{urlencode({'token': token})}" if token else url


def post(url: str, body: str | bytes, method: str = "POST", timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """Send one HTTP request; return (status, JSON body or {"raw": text})."""
    require_secure_url(url, "--url")  # https, or http to loopback only (lib/urls.py)
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scan/skips.yaml)
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = {"raw": text}
    return status, parsed if isinstance(parsed, dict) else {"raw": parsed}


def progress(done: int, total: int, label: str = "", stream: Any = None) -> None:
    """A one-line progress bar on stderr (redrawn in place)."""
    stream = stream or sys.stderr
    width = 30
    filled = int(width * done / total) if total else width
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    if done >= total:
        stream.write("\n")
    stream.flush()
