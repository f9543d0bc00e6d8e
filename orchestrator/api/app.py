"""The results API (``premarket serve``): health, runs by New York business date, accuracy.

Reads are open (on 127.0.0.1 by default); ``POST /analyze`` starts a run and needs
``Authorization: Bearer <token>`` with the token from ``PREMARKET_API__TOKEN``, compared in
constant time. Without a configured token that endpoint is disabled (503) rather than open.
Dates are New York business dates: ``GET /results`` without a date means today in New York,
also between midnight UTC and midnight New York, where the original looked up the wrong day.
Errors are JSON ``{"error": ..., "field": ...}`` with a 4xx status, never a stack trace.
OpenAPI documentation is served at ``/docs``; the dashboard (``api.dashboard``) at ``/``.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import premarket
from orchestrator.api.analyze_request import AnalyzeRequest
from orchestrator.api.dashboard import mount_dashboard
from orchestrator.api.guard import BodyError, OneFraming, read_body
from orchestrator.api.probes import Probes
from orchestrator.common.clock import new_york_date, utc_now
from orchestrator.data.calendar import calendar_of, out_of_range
from orchestrator.documents.run import RunResult
from orchestrator.forecast.breaker import TARGETS, breaker_states
from orchestrator.storage.store import Store
from orchestrator.tracking.accuracy import AccuracyLedger
from orchestrator.tracking.accuracy_report import accuracy_document
from premarket.settings import Settings

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
MAX_RECENT_DAYS = 366
DOCUMENTS_AT_ONCE = 2
"""Run documents built at once: a 5,000-symbol run is 5.4 MB of JSON, and 100 concurrent reads
of one took the API from 245 MB to 2.7 GB. The rest wait their turn."""


class ApiError(Exception):
    """A client error with a status, a message and the field it concerns."""

    def __init__(self, status: int, error: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.field, self.extra = status, error, field, extra


Runner = Callable[[AnalyzeRequest], Awaitable[RunResult]]


REPLAYS = (
    "true: replayed mornings (--as-of, --offline runs); false: live runs; omitted: live runs, "
    "or replays when the store holds no live run"
)


def _error(status: int, error: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body = {"error": error, **({"field": field} if field else {}), **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _parse_date(text: str | None, field: str, default: date | None) -> date | None:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422, f"{field}: {text!r} is not a calendar date (YYYY-MM-DD)", field
        ) from None


def _run_summary(run: RunResult | None) -> dict | None:
    if run is None:
        return None
    keys = {"run_id", "timestamp", "business_date", "as_of", "slot", "status"}
    return run.model_dump(mode="json", include=keys)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    runner: Runner | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The app. ``store`` defaults to ``settings.database_url``; ``runner`` to ``run_analysis``."""
    store = store or Store(settings.database_url)
    accuracy = AccuracyLedger(store.engine)
    calendar = calendar_of(settings)
    token = settings.api.token.get_secret_value() if settings.api.token else None
    lock = asyncio.Lock()
    background: set[asyncio.Task] = set()
    # one client for all probes (a new one costs 0.1-0.2 s of loop time), one probe at a time
    probes = Probes(httpx.AsyncClient())

    async def default_runner(request: AnalyzeRequest) -> RunResult:
        from orchestrator.jobs.analysis import run_analysis

        return await run_analysis(
            settings,
            symbols=request.symbols,
            as_of=request.as_of,
            offline=request.offline,
            store=store,
        )

    run = runner or default_runner
    app = FastAPI(
        title="premarket results API",
        version=premarket.__version__,
        description="Pre-market signals by New York business date. POST /analyze needs a "
        "Bearer token (PREMARKET_API__TOKEN).",
    )
    app.add_middleware(OneFraming)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.field, **exc.extra)

    @app.exception_handler(BodyError)
    async def _body_error(_: Request, exc: BodyError) -> JSONResponse:
        answer = _error(exc.status, exc.error, exc.field)
        answer.headers["Connection"] = "close"  # the rest of the body may never be read
        return answer

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path")]
        field = ".".join(where) or "body"
        return _error(422, f"{field}: {first.get('msg', 'invalid')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def authorize(request: Request) -> None:
        if token is None:
            raise ApiError(503, "POST /analyze is disabled: set PREMARKET_API__TOKEN to enable it")
        values = request.headers.getlist("authorization")
        if len(values) > 1:  # servers and proxies disagree on which one counts: neither does
            raise ApiError(401, "Authorization: given more than once; send one", "Authorization")
        scheme, _, given = (values[0] if values else "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise ApiError(401, "missing or wrong bearer token", "Authorization")

    @app.get("/health", summary="Service status, targets, breakers and the last run")
    async def health() -> dict:
        names = list(TARGETS)
        found_all = await asyncio.gather(*(probes.of(n, getattr(settings, n)) for n in names))
        breakers = await asyncio.to_thread(breaker_states, settings)
        last = await asyncio.to_thread(store.latest_run)
        targets = {
            name: {
                "url": getattr(settings, name).url,
                "dialect": getattr(settings, name).dialect,
                **found,
                "breaker": breakers[name].state if name in breakers else "closed",
                "breaker_detail": (
                    breakers[name].model_dump(exclude_unset=True) if name in breakers else None
                ),
            }
            for name, found in zip(names, found_all, strict=True)
        }
        healthy = all(t["ready"] and t["breaker"] == "closed" for t in targets.values())
        now = clock()
        return {
            "status": "ok" if healthy else "degraded",
            "version": premarket.__version__,
            "time": now.isoformat(),
            "business_date": new_york_date(now).isoformat(),
            "run_in_progress": lock.locked(),
            "targets": targets,
            "last_run": _run_summary(last),
        }

    @app.post(
        "/analyze",
        summary="Start a run (Bearer token)",
        responses={401: {"description": "Missing or wrong token"}, 409: {}, 413: {}, 503: {}},
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": AnalyzeRequest.model_json_schema()}},
            }
        },
    )
    async def analyze(request: Request) -> JSONResponse:
        authorize(request)  # before a byte of the body is read (orchestrator.api.guard)
        body = await read_body(request, AnalyzeRequest, settings.api.read_timeout_s)
        body = body or AnalyzeRequest()
        if body.as_of and (why := out_of_range(body.as_of, new_york_date(clock()))):
            raise ApiError(422, f"as_of: {why}", "as_of")
        if lock.locked():
            raise ApiError(409, "a run is already in progress; try again when it ends")

        async def guarded() -> RunResult:
            async with lock:
                return await run(body)

        if body.wait:
            return JSONResponse((await guarded()).to_document())
        task = asyncio.create_task(guarded())
        background.add(task)
        task.add_done_callback(background.discard)
        await asyncio.sleep(0)  # let the task take the lock before the next request
        return JSONResponse({"status": "started"}, status_code=202)

    documents = asyncio.Semaphore(DOCUMENTS_AT_ONCE)

    async def document(build: Callable[[], str]) -> Response:
        """A stored document as JSON text, built off the loop, at most a few at a time."""
        async with documents:
            return Response(await asyncio.to_thread(build), media_type="application/json")

    @app.get("/results", summary="The best run of a New York business date")
    async def results(
        day_text: str | None = Query(  # noqa: B008 - FastAPI's idiom
            None,
            alias="date",
            pattern=DATE_PATTERN,
            description="New York business date, YYYY-MM-DD; today in New York when omitted.",
        ),
        replays: bool | None = Query(None, description=REPLAYS),  # noqa: B008
    ) -> Response:
        day = _parse_date(day_text, "date", new_york_date(clock()))

        def build() -> str:
            found = store.run_for_date(day, replays)
            if found is None:
                raise ApiError(404, f"no run for New York business date {day}", date=str(day))
            return found.to_json()

        return await document(build)

    @app.get("/results/latest", summary="The best live run of the newest business date")
    async def latest(replays: bool | None = Query(None, description=REPLAYS)) -> Response:  # noqa: B008

        def build() -> str:
            found = store.latest_run(replays)
            if found is None:
                raise ApiError(404, "no run has been stored yet")
            return found.to_json()

        return await document(build)

    @app.get("/results/recent", summary="Runs of the last N New York business dates")
    async def recent(
        days: int = Query(7, ge=1, le=MAX_RECENT_DAYS),  # noqa: B008
        replays: bool | None = Query(None, description=REPLAYS),  # noqa: B008
    ) -> Response:
        today = new_york_date(clock())

        def build() -> str:
            runs = ",".join(r.to_json() for r in store.recent_runs(days, today, replays))
            return f'{{"days":{days},"until":"{today.isoformat()}","runs":[{runs}]}}'

        return await document(build)

    @app.get("/accuracy", summary="Rolling 20/60/250-session forecast accuracy")
    def accuracy_figures(
        as_of: str | None = Query(  # noqa: B008
            None, pattern=DATE_PATTERN, description="Window end; the latest scored session."
        ),
        replays: bool = Query(False, description="Replayed mornings instead of live runs."),  # noqa: B008
    ) -> dict:
        day = _parse_date(as_of, "as_of", None)
        if day is not None and (why := out_of_range(day, new_york_date(clock()))):
            raise ApiError(422, f"as_of: {why}", "as_of")
        scores = accuracy.scores(modes=("replay",) if replays else ("live",))
        return accuracy_document(scores, calendar, day)

    mount_dashboard(
        app, settings=settings, store=store, calendar=calendar, clock=clock, health=health
    )
    return app
