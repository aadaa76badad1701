"""What more than one command (and the local stack, and the tests) shares: the ``Command`` every module
registers, reading sample files, signing them as Tencent does, posting them, the progress bar and plurals.

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

SIGNATURE_LIFETIME = 600  # Tencent's default: signatures expire 10 minutes after sending
DEBUG_HELP = "on an error, show the traceback too (every error is otherwise one line on stderr)"


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
        # Also after the command's name; SUPPRESS keeps the root's value when it is given before it.
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        parser.set_defaults(run=self.run)
        return parser


# --------------------------------------------------------------------------- reading sample files


@dataclass(frozen=True)
class Sample:
    """One deliverable payload read from a file: its body and the product it belongs to."""

    name: str
    body: str
    product: str


class UnreadableSample(ValueError):
    """A FILE argument that is not a readable JSON document; the message says why, for its line of output."""


def load_sample(path: Path) -> Sample:
    """A payload file or an ``events/`` gateway event (whose body and product are used). A missing or
    unreadable file, or one that is not UTF-8 JSON, is an :class:`UnreadableSample`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableSample("no such file") from None
    except IsADirectoryError:
        raise UnreadableSample("a directory, not a file") from None
    except OSError as exc:
        raise UnreadableSample(f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableSample(f"not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise UnreadableSample(f"not JSON: {detail}") from None
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


class Unreachable(ConnectionError):
    """Nothing answered at the URL (refused, unknown host, timed out): the message names the URL and why."""


def post(url: str, body: str | bytes, method: str = "POST", timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """Send one HTTP request; return (status, JSON body or {"raw": text}); :class:`Unreachable` when nothing
    answers."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"nothing answers at {url.split('?')[0]} ({reason})") from None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = {"raw": text}
    return status, parsed if isinstance(parsed, dict) else {"raw": parsed}


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 event``, ``2 events``: the count with its noun in the right number."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def progress(done: int, total: int, label: str = "", stream: Any = None) -> None:
    """A one-line progress bar on stderr, redrawn in place, when that is a terminal: redirected to a file or
    a CI log, the carriage returns would only be noise."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return
    width = 30
    filled = int(width * done / total) if total else width
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    if done >= total:
        stream.write("\n")
    stream.flush()
