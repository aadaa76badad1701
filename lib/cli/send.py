"""``mediahook send FILE... --url URL [--sign-key K] [--notify-key K] [--token T]``: post sample events to any
deployment, signed the way Tencent signs them (VOD ``Sign``/``T``, MPS ``Sign``/``Timestamp``, or a token)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lib.cli.common import Command, callback_url, load_sample, post, progress, sign_body
from lib.urls import url_argument


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="a bare Tencent payload, a batch envelope, or an API Gateway event from events/")
    parser.add_argument("--url", required=True, type=url_argument, help="the deployment's callback URL, e.g. https://.../callback")
    parser.add_argument("--sign-key", help="VOD callback key: adds T and Sign = md5(key + T)")
    parser.add_argument("--notify-key", help="MPS notify key: adds Timestamp and Sign = md5(Timestamp + key)")
    parser.add_argument("--token", help="append ?token=T (CME, unsigned VOD)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    failures = 0
    paths = [Path(p) for p in args.files]
    for index, path in enumerate(paths, 1):
        sample = load_sample(path)
        body = sign_body(sample.body, sample.product, vod_key=args.sign_key, mps_key=args.notify_key)
        status, response = post(callback_url(args.url, sample.product, args.token), body)
        failures += status != 200
        print(json.dumps({"file": sample.name, "status": status, "response": response}, ensure_ascii=False))
        if not args.quiet:
            progress(index, len(paths), path.name)
    return 1 if failures else 0


COMMAND = Command(
    "send", help="post sample events to a deployment, signed as Tencent signs them",
    description="Post each FILE to the deployment's callback URL, pinned to its product (/callback/vod, /mps or "
                "/cme), signed the way Tencent signs it: VOD with T and Sign (--sign-key), MPS with Timestamp and "
                "Sign (--notify-key), or with ?token= (--token). Prints one JSON line per file; exits 1 if any "
                "answer is not 200.",
    configure=configure, run=run)
