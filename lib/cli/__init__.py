"""The operator's command line: ``mediahook {send,validate,events,replay,schema,smoke} ...`` (or ``python -m lib.cli``).

One module per command, each defining ``COMMAND`` (a :class:`lib.cli.common.Command`: its name, help,
description, options and what it runs); ``COMMANDS`` below lists them in the order ``--help`` shows them.
A new command is a new module here plus one line in ``COMMANDS``. The CLI reference in the docs is
generated from :func:`parser` (``make cli-docs``), so every option needs its ``help``.
"""

from __future__ import annotations

import argparse

from lib.cli import console, events, query, replay, schema, send, smoke, validate
from lib.cli.common import Command, callback_url, load_sample, post, progress, sign_body

COMMANDS: tuple[Command, ...] = (
    send.COMMAND,
    validate.COMMAND,
    events.COMMAND,
    replay.COMMAND,
    query.COMMAND,
    schema.COMMAND,
    smoke.COMMAND,
    console.COMMAND,
)

DESCRIPTION = ("The operator's command line for mediahook: post signed sample events to a deployment, validate "
               "payloads, look up a resource's history in the ledger, replay archived events, write the JSON "
               "Schemas, and smoke-check a deployment.")

# What scripts and tests import from ``lib.cli`` (they live in lib.cli.common).
__all__ = ["COMMANDS", "Command", "callback_url", "load_sample", "main", "parser", "post", "progress", "sign_body"]


def parser() -> argparse.ArgumentParser:
    """The ``mediahook`` parser with every command in ``COMMANDS``."""
    root = argparse.ArgumentParser(prog="mediahook", description=DESCRIPTION)
    commands = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    """The ``mediahook`` console command (pyproject.toml [project.scripts]) and ``python -m lib.cli``."""
    args = parser().parse_args(argv)
    return int(args.run(args))

