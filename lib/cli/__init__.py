"""The operator's command line: ``mediahook {send,validate,events,replay,schema,smoke} ...`` (or ``python -m lib.cli``).

One module per command, each defining ``COMMAND`` (a :class:`lib.cli.common.Command`: its name, help,
description, options and what it runs); ``COMMANDS`` below lists them in the order ``--help`` shows them.
A new command is a new module here plus one line in ``COMMANDS``. The CLI reference in the docs is
generated from :func:`parser` (``make cli-docs``), so every option needs its ``help``.

Failing: a command raises :class:`lib.cli.errors.CliError` (message, exit code) wherever it finds something
missing; :func:`main` prints it as one line, ``mediahook CMD: message``, and exits with its code (2 usage or
configuration, 1 a failed check). What a command lets through (botocore's errors, a bad setting) is worded by
:func:`lib.cli.errors.explain`; anything else is one line naming the exception. ``--debug`` (before or after
the command's name) shows the traceback too. A reader of its output that goes away (``| head``) ends it
quietly, exit 141; Ctrl-C, exit 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from lib.cli import console, events, forward, query, replay, schema, send, smoke, validate
from lib.cli.common import DEBUG_HELP, Command, callback_url, load_sample, post, progress, sign_body
from lib.cli.errors import CliError, explain

COMMANDS: tuple[Command, ...] = (
    send.COMMAND,
    validate.COMMAND,
    events.COMMAND,
    replay.COMMAND,
    query.COMMAND,
    schema.COMMAND,
    smoke.COMMAND,
    forward.COMMAND,
    console.COMMAND,
)

DESCRIPTION = ("The operator's command line for mediahook: post signed sample events to a deployment, validate "
               "payloads, look up a resource's history in the ledger, replay archived events, write the JSON "
               "Schemas, and smoke-check a deployment.")

# What scripts and tests import from ``lib.cli`` (they live in lib.cli.common).
__all__ = ["COMMANDS", "CliError", "Command", "callback_url", "load_sample", "main", "parser", "post", "progress",
           "sign_body"]


def parser() -> argparse.ArgumentParser:
    """The ``mediahook`` parser with every command in ``COMMANDS``."""
    root = argparse.ArgumentParser(prog="mediahook", description=DESCRIPTION,
                                   epilog="Exit codes: 0 done, 1 a check failed, 2 usage or configuration (a missing "
                                          "option, setting, region, credentials, table, bucket or endpoint).")
    root.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return root


PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a program that a closed pipe ended


def _discard_stdout() -> None:
    """Its reader went away (``mediahook validate ... | head -1``): what is left unwritten has nowhere to go, and
    is not an error to report. Standard output becomes /dev/null, so Python's last flush cannot fail either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # io.UnsupportedOperation is both: a stream with no file (a test's capture)
        pass


@contextmanager
def _service_logs_quiet(debug: bool) -> Iterator[None]:
    """The pipeline's JSON log lines (an error's with its traceback) are for CloudWatch, not for a terminal: a
    command prints its own lines. ``--debug`` lets them through. Restored afterwards (tests run commands in
    process)."""
    if debug:
        yield
        return
    saved = os.environ.get("POWERTOOLS_LOG_LEVEL")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"  # for lib.observability if a command imports it now
    loaded = sys.modules.get("lib.observability")
    level = loaded.logger.log_level if loaded else None
    if loaded:
        loaded.logger.setLevel("CRITICAL")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
        else:
            os.environ["POWERTOOLS_LOG_LEVEL"] = saved
        if (observability := sys.modules.get("lib.observability")) is not None:
            observability.logger.setLevel(level if level is not None else saved or os.environ.get("LOG_LEVEL", "INFO"))


def main(argv: list[str] | None = None) -> int:
    """The ``mediahook`` console command (pyproject.toml [project.scripts]) and ``python -m lib.cli``."""
    args = parser().parse_args(argv)
    try:
        with _service_logs_quiet(args.debug):
            code = int(args.run(args))
            sys.stdout.flush()  # a reader that went away (`| head`) shows here, not in Python's flush at exit
            return code
    except KeyboardInterrupt:
        print(f"mediahook {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return PIPE_CLOSED
    except Exception as exc:  # noqa: BLE001 (every failure becomes one line; --debug shows the traceback)
        if args.debug:
            traceback.print_exc()
        error = exc if isinstance(exc, CliError) else explain(exc)
        if error is None:
            cause = f" (caused by {type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            error = CliError(f"{type(exc).__name__}: {exc}{cause}" + ("" if args.debug else
                             "; run again with --debug for the traceback"), 1)
        print(f"mediahook {args.command}: {error.message}", file=sys.stderr)
        return error.exit_code
