"""``mediahook schema [--out DIR]``: write the JSON Schema of every modelled event, and of the notification."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, create_model

from lib.cli.common import Command
from lib.cli.errors import CliError
from lib.routing import TABLE


def envelope_models() -> dict[str, type[BaseModel]]:
    """One pydantic model per EventType: the envelope with its ``EventType`` and payload key."""
    models: dict[str, type[BaseModel]] = {}
    for route in TABLE:
        name = f"{route.product}.{route.event_type}"
        fields: dict[str, Any] = {
            "EventType": (Literal[route.event_type], ...),
            route.payload: (route.model | None, None),
        }
        for alias in route.aliases:
            fields[alias] = (route.model | None, None)
        model = create_model(re.sub(r"\W", "_", name), __config__={"extra": "allow"}, **fields)
        model.__doc__ = f"Tencent {route.product.upper()} {route.event_type} event (payload key {route.payload})."
        models[name] = model
    return models


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="schemas", help="the directory to write into (default: schemas)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot write into {out} ({exc.strerror or exc}): give --out a directory, or a path to "
                       "create one at") from None
    from lib.notification import Notification

    models: dict[str, type[BaseModel]] = {**envelope_models(), "notification": Notification}  # what is published
    for name, model in models.items():
        (out / f"{name}.schema.json").write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False)
                                                 + "\n", encoding="utf-8")
    print(f"wrote {len(models)} JSON Schemas to {out}/ (the events, and notification.schema.json)")
    return 0


COMMAND = Command(
    "schema", help="write the JSON Schema of every modelled event",
    description="Write one PRODUCT.EventType.schema.json per routed event type (the envelope with its payload "
                "model) and notification.schema.json (the CloudEvent mediahook publishes) into --out.",
    configure=configure, run=run)
