"""``mediahook console [--port N] [--bucket NAME] [--engine local|athena] [--stage STAGE]``: the operator's
console in the browser, on 127.0.0.1, reading the stack with the operator's own AWS credentials (lib/console/).

Self-contained on purpose: its failures are reported here, one line on stderr and exit 2, whatever the other
commands' error handling becomes. The web framework is imported only when the command runs."""

from __future__ import annotations

import argparse
import errno
import socket
import sys

from lib.cli.common import Command
from lib.cli.query import add_engine_option


def _fail(message: str) -> int:
    print(f"mediahook console: {message}", file=sys.stderr)
    return 2


def _aws_ready() -> str | None:
    """Why boto3 could not call AWS (no region, no credentials), checked before serving, or None."""
    import boto3

    session = boto3.session.Session()
    if not session.region_name:
        return "no AWS region: set AWS_DEFAULT_REGION (or AWS_PROFILE with a region)"
    if session.get_credentials() is None:
        return ("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value "
                "against the local stack)")
    return None


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one, chosen by the system)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    return sock


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0,
                        help="the port on 127.0.0.1 (default: a free one, printed with the URL)")
    parser.add_argument("--bucket", help="the archive bucket; defaults to ARCHIVE_BUCKET")
    add_engine_option(parser)  # mediahook query's: the counts, the events list and replay by filter
    parser.add_argument("--stage", help="the deployed stage, for its alarms (mediahook-STAGE-*) and its reconcile "
                                        "function's log; defaults to MEDIAHOOK_STAGE, else dev")


def run(args: argparse.Namespace) -> int:
    from lib.console.reads import Connection

    conn = Connection.from_env(bucket=args.bucket, stage=args.stage, engine=args.engine)
    if not conn.bucket:
        return _fail("no archive bucket: set ARCHIVE_BUCKET or give --bucket (the stack's ArchiveBucketName "
                     "output; mediahook-local-archive for make serve)")
    if not 0 <= args.port <= 65535:
        return _fail(f"--port: a port from 1 to 65535 expected (0 for a free one), got {args.port}")
    problem = _aws_ready()
    if problem:
        return _fail(problem)
    try:  # the console's own dependencies are the dev ones (requirements-dev.txt), not the function's
        import uvicorn

        from lib.console.app import create_app
        from lib.console.security import Sessions
    except ImportError as exc:
        return _fail(f"the console's web framework is not installed (no module {exc.name}): install the operator "
                     "tools with `make install` (or pip install -r requirements-dev.txt)")
    try:
        sock = bind(args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"port {args.port} on 127.0.0.1 is busy: give another --port, or none for a free one")
        return _fail(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")

    sessions = Sessions(port=sock.getsockname()[1])
    app = create_app(conn, sessions)
    print(f"mediahook console for archive {conn.bucket} (stage {conn.stage}); open this URL once (its token is "
          f"used up by the first visit), Ctrl-C to stop:\n    {sessions.url}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


COMMAND = Command(
    "console", help="the operator's console in the browser (127.0.0.1)",
    description="Serve the operator's console on 127.0.0.1: an overview (events per product and outcome over the "
                "last day and week, recent failures, dead letters, the last reconcile run, alarms), the events "
                "with filters, each event's notification and archived body, each resource's timeline, and "
                "replay with a dry run first. Prints its URL with a one-time token; answers only to its own "
                "Host; every state-changing request needs the session's CSRF token and the console's own "
                "origin. Reads the stack as the other commands do: ARCHIVE_BUCKET (or --bucket), "
                "ARCHIVE_PREFIX, LEDGER_TABLE, the events table's settings (as mediahook query), the topics "
                "and bus for a replay, and the usual AWS settings "
                "(AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL for the local stack). Exit 2: a missing "
                "setting, a busy port, or the console's dependencies not installed.",
    configure=configure, run=run)
