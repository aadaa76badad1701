"""``mediahook send FILE... --url URL [--sign-key K] [--notify-key K] [--token T]``: post sample events to any
deployment, signed the way Tencent signs them (VOD ``Sign``/``T``, MPS ``Sign``/``Timestamp``, or a token)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lib.cli.common import Command, Unreachable, UnreadableSample, callback_url, load_sample, post, progress, sign_body
from lib.cli.errors import CliError
from lib.urls import RULE as URL_RULE
from lib.urls import insecure_url


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="a bare Tencent payload, a batch envelope, or an API Gateway event from events/")
    parser.add_argument("--url", required=True, help="the deployment's callback URL, e.g. https://.../callback")
    parser.add_argument("--sign-key", help="VOD callback key: adds T and Sign = md5(key + T)")
    parser.add_argument("--notify-key", help="MPS notify key: adds Timestamp and Sign = md5(Timestamp + key)")
    parser.add_argument("--token", help="append ?token=T (CME, unsigned VOD)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (there is none unless stderr is a "
                                                             "terminal)")


def run(args: argparse.Namespace) -> int:
    if insecure_url(args.url):
        raise CliError(f"--url {args.url!r} is not a URL mediahook sends to ({URL_RULE}): give the "
                       "deployment's CallbackUrl (locally, the URL `make serve` prints)")
    failures = 0
    paths = [Path(p) for p in args.files]
    for index, path in enumerate(paths, 1):
        try:
            sample = load_sample(path)
        except UnreadableSample as err:  # its line, and the next file is still sent
            failures += 1
            print(json.dumps({"file": str(path), "status": None, "error": str(err)}, ensure_ascii=False))
            continue
        body = sign_body(sample.body, sample.product, vod_key=args.sign_key, mps_key=args.notify_key)
        try:
            status, response = post(callback_url(args.url, sample.product, args.token), body)
        except Unreachable as err:
            raise CliError(f"{err}: is --url right and the deployment up? (locally: make serve)") from None
        failures += status != 200
        print(json.dumps({"file": sample.name, "status": status, "response": response}, ensure_ascii=False))
        if not args.quiet:
            progress(index, len(paths), path.name)
    return 1 if failures else 0


COMMAND = Command(
    "send", help="post sample events to a deployment, signed as Tencent signs them",
    description="Post each FILE to the deployment's callback URL, pinned to its product (/callback/vod, /mps or "
                "/cme; an MPS live-stream notification, typed by NotificationType, is MPS's), signed the way "
                "Tencent signs it: VOD with T and Sign (--sign-key), MPS with Timestamp and "
                "Sign (--notify-key), or with ?token= (--token). Prints one JSON line per file (a file that cannot "
                "be read, is not JSON, or is an API Gateway event whose body is not a string: status null and its "
                "error, and it is not sent); exits 1 if any file was "
                "not answered 200, 2 if nothing answers at --url.",
    configure=configure, run=run)
