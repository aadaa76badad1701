"""``mediahook validate FILE... [--product P]``: check payloads against the models, with readable errors."""

from __future__ import annotations

import argparse
from pathlib import Path

from lib.cli.common import Command, UnreadableSample, load_sample, plural
from lib.errors import DeliveryError
from lib.routing import PRODUCTS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="a bare Tencent payload, a batch envelope, or an API Gateway event from events/")
    parser.add_argument("--product", choices=PRODUCTS, help="pin the product, as /callback/{product} does")


def run(args: argparse.Namespace) -> int:
    from lib.intake import parse_delivery  # the models: only when validating

    bad = 0
    for path in map(Path, args.files):
        try:
            sample = load_sample(path)
        except UnreadableSample as err:  # every file gets its line, the unreadable ones too
            bad += 1
            print(f"INVALID {path}: {err}")
            continue
        try:
            events = parse_delivery(sample.body.encode("utf-8"), pinned=args.product)
        except DeliveryError as err:
            bad += 1
            print(f"INVALID {path}: {err.code}: {err.message}")
            for detail in err.details:
                print(f"    at {detail.get('pointer') or '(body)'}: {detail.get('message')}")
            continue
        for event in events:
            kind = "legacy-v2 " if event.legacy else "" if event.known else "unknown type "
            print(f"OK      {path}: {kind}{event.product}.{event.event_type} event_id={event.event_id[:16]}... "
                  f"subject={event.summary.subject}")
    if bad:
        print(f"{plural(bad, 'file')} of {len(args.files)} invalid")
    return 1 if bad else 0


COMMAND = Command(
    "validate", help="check payloads against the models",
    description="Parse each FILE as the callback does (the same models, the same errors) without sending it "
                "anywhere. Prints one line per file: OK with the event's product, type, event_id and subject, or "
                "INVALID with the reason (no such file, not JSON, or a JSON pointer to each problem), then how "
                "many were invalid; exits 1 if any file is invalid.",
    configure=configure, run=run)
