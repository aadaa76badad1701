"""The console's pages (Starlette, Jinja2 templates, htmx served from ``static/``), behind ``security.Guard``.

Every page reads the stack when it is asked for (the console keeps nothing), through ``queries`` (the events
table), ``reads`` (the archive, the ledger, the alarms, the reconcile log) and ``replaying``. A part that
cannot be read (no query engine, no ledger table, no alarms on a local stack) shows why, in its place; the
rest of the page is still shown.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from lib.console import charts, queries, reads, replaying
from lib.console.queries import BadFilter, EventFilter, QueryUnavailable
from lib.console.reads import Connection, NotFound, Unavailable, Unreadable
from lib.console.security import CSRF_FIELD, Guard, Sessions
from lib.errors import StorageUnavailable
from lib.settings import ConfigError

HERE = Path(__file__).resolve().parent
PLAN_FIELD = "plan"  # the dry run's Plan.digest, carried by the confirming form
HTMX_VERSION = "2.0.11"  # static/htmx.min.js, from the npm package htmx.org (static/README.md)
# What a panel shows instead of its content when its source is absent or failing.
READ_ERRORS = (Unavailable, QueryUnavailable, ClientError, BotoCoreError)


def _panel(read: Callable[[], Any]) -> dict[str, Any]:
    """``{"value": ...}`` or ``{"error": "why"}``: one panel of a page that failed does not fail the page."""
    try:
        return {"value": read()}
    except READ_ERRORS as exc:
        return {"error": str(exc)}


def when(value: Any) -> str:
    """A receipt time as every page shows it: ``2026-12-03 10:00:00.123`` (UTC), from the table's timestamps and
    the ledger's RFC 3339 strings alike."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return "-" if value is None else str(value)


def create_app(conn: Connection, sessions: Sessions) -> Guard:
    """The console for one stack, guarded by ``sessions`` (its port, its one-time token)."""
    sql = queries.runner(conn.engine)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = when
    templates.env.globals.update(htmx_version=HTMX_VERSION, csrf_field=CSRF_FIELD, plan_field=PLAN_FIELD,
                                 stage=conn.stage, engine=conn.engine, bucket=conn.bucket)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context["csrf_token"] = request.scope.get("state", {}).get("csrf_token", "")
        return templates.TemplateResponse(request, name, context, status_code=status)

    def overview(request: Request) -> Response:
        now = datetime.now(UTC)
        # The panels read different services (the local engine alone takes a few hundred ms a query): side by side.
        reads_by_panel: dict[str, Callable[[], Any]] = {
            "counts": lambda: queries.counts(now, sql), "failures": lambda: queries.recent_failures(sql),
            "dead": lambda: reads.dead_letters(conn), "forwarding": lambda: reads.forwarding_backlog(conn),
            "reconcile": lambda: reads.last_reconcile(conn), "alarms": lambda: reads.alarms(conn)}
        with ThreadPoolExecutor(len(reads_by_panel), thread_name_prefix="console-overview") as pool:
            futures = {name: pool.submit(_panel, read) for name, read in reads_by_panel.items()}
            panels: dict[str, Any] = {name: future.result() for name, future in futures.items()}
        both = panels.pop("counts")
        day, week = ({"value": both["value"][0]}, {"value": both["value"][1]}) if "value" in both else (both, both)
        empty = "value" in week and not any(sum(parts.values()) for parts in week["value"].values())
        return page(request, "overview.html", now=now, day=day, week=week, empty_table=empty,
                    day_chart=charts.stacked_bars("events in the last day", day["value"]) if "value" in day else None,
                    week_chart=(charts.stacked_bars("events in the last week", week["value"])
                                if "value" in week else None), **panels)

    def events(request: Request) -> Response:
        template = "_events_table.html" if request.headers.get("hx-request") else "events.html"
        choices: dict[str, Any] = {"products": queries.PRODUCTS, "state_changes": queries.STATE_CHANGES}
        try:
            flt = EventFilter.from_params(request.query_params)
        except BadFilter as exc:  # htmx swaps a 400 in too (base.html's htmx-config): the message is shown
            return page(request, template, status=400, flt=EventFilter(), listing={"error": str(exc)}, **choices)
        return page(request, template, flt=flt, listing=_panel(lambda: queries.list_events(flt, sql)), **choices)

    def event(request: Request) -> Response:
        key = request.query_params.get("key", "")
        try:
            found = reads.archived_event(conn, key)
        except NotFound as exc:
            return page(request, "error.html", status=404, message=str(exc))
        except Unreadable as exc:  # the bytes are there: said, and offered as they are
            return page(request, "error.html", status=500, message=str(exc), download=key)
        except READ_ERRORS as exc:
            return page(request, "error.html", status=503, message=str(exc))
        return page(request, "event.html", event=found)

    def event_body(request: Request) -> Response:
        key = request.query_params.get("key", "")
        try:
            body, _ = reads.archived_body(conn, key)
        except NotFound as exc:
            return PlainTextResponse(str(exc), status_code=404)
        except READ_ERRORS as exc:
            return PlainTextResponse(str(exc), status_code=503)
        name = key.rsplit("/", 1)[-1]
        return Response(body, media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    def resource(request: Request) -> Response:
        resource_id = request.path_params["resource"]
        return page(request, "resource.html", resource=resource_id,
                    timeline=_panel(lambda: reads.timeline(conn, resource_id)))

    def _plan(params: Any) -> replaying.Plan:
        if params.get("key"):
            return replaying.for_event(conn, str(params["key"]))
        if params.get("resource"):
            return replaying.for_resource(conn, str(params["resource"]))
        return replaying.for_filter(conn, sql, EventFilter.from_params({k: str(v) for k, v in params.items()}))

    def _selection(params: Any) -> dict[str, str]:
        """The replay's selection as the confirming form carries it again (a filter's every page: no page)."""
        return {k: str(v) for k, v in params.items() if k not in (CSRF_FIELD, PLAN_FIELD, "page") and v}

    def replay_dry_run(request: Request) -> Response:
        params = request.query_params
        try:
            plan = _plan(params)
        except (BadFilter, NotFound, replaying.TooMany) as exc:
            return page(request, "error.html", status=400, message=str(exc))
        except READ_ERRORS as exc:
            return page(request, "error.html", status=503, message=str(exc))
        return page(request, "replay.html", plan=plan, selection=_selection(params), result=None)

    async def replay_confirmed(request: Request) -> Response:
        form = await request.form()

        def work() -> tuple[replaying.Plan, replaying.Result]:
            plan = _plan(form)
            if form.get(PLAN_FIELD) != plan.digest:  # only what the operator saw in the dry run is published
                raise replaying.Changed(f"the selection changed since the dry run (it now holds {len(plan.keys)} "
                                        "events): nothing was published; look at the dry run again")
            return plan, replaying.run(conn, plan)

        try:
            plan, result = await run_in_threadpool(work)
        except (BadFilter, NotFound, replaying.TooMany) as exc:
            return page(request, "error.html", status=400, message=str(exc))
        except replaying.Changed as exc:
            return page(request, "error.html", status=409, message=str(exc),
                        again=f"/replay?{urlencode(_selection(form))}")
        except READ_ERRORS as exc:
            return page(request, "error.html", status=503, message=str(exc))
        except ConfigError as exc:  # the targets' settings (a dry run needs none)
            return page(request, "error.html", status=503, message=f"the replay needs the stage's targets: {exc}")
        except ValueError as exc:  # an archived body that is not a readable event (JSON's or pydantic's error)
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            return page(request, "error.html", status=500,
                        message=f"the replay stopped at an archived body that is not a readable event: {reason}; "
                                "the events before it were re-published")
        except StorageUnavailable as exc:  # a target refused: the events before it went out
            return page(request, "error.html", status=503,
                        message=f"the replay stopped: {exc}; the events before it were re-published, and replaying "
                                "again is safe (the same event ids: consumers dedupe)")
        return page(request, "replay.html", plan=plan, selection=_selection(form), result=result)

    app = Starlette(routes=[
        Route("/", overview),
        Route("/events", events),
        Route("/event", event),
        Route("/event/body", event_body),
        Route("/resource/{resource:path}", resource),
        Route("/replay", replay_dry_run, methods=["GET"]),
        Route("/replay", replay_confirmed, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ])
    return Guard(app, sessions)
