"""A small Python client of the results API, for notebooks, scripts and the paper tracker.

It replaces the original's local client (``get_latest_analysis``, ``trigger_manual_analysis``,
``check_worker_health``, ``get_recent_analysis_batch``, ``monitor_daily_results``,
``sync_with_paper_trading``) with one method each. Failures raise one of a few exceptions
with a message that says what to do: ``Unauthorized`` (401, the token), ``NotFound`` (404, no
run for that date), ``Unreachable`` (no answer), ``ApiError`` (any other refusal).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

import httpx

from orchestrator.documents.run import RunResult
from premarket.settings import Settings

log = logging.getLogger(__name__)

ANALYZE_TIMEOUT_S = 600.0
"""A whole run can take minutes (model services on CPU, retries); reads take milliseconds."""


class ClientError(Exception):
    """Base of the client's errors."""


class ApiError(ClientError):
    """The API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(ApiError):
    """401: no token, or not the server's token."""


class NotFound(ApiError):
    """404: no run for the date asked (or none at all yet)."""


class Unreachable(ClientError):
    """No HTTP answer: the server is not running, or the address is wrong."""


class PaperTracker(Protocol):
    def apply_run(self, run: RunResult) -> list[str]: ...


class PremarketClient:
    """Talks to ``premarket serve``; use as a context manager or call ``close()``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> PremarketClient:
        """The API at ``settings.api`` with the token of ``PREMARKET_API__TOKEN``, if set."""
        token = settings.api.token.get_secret_value() if settings.api.token else None
        return cls(f"http://{settings.api.host}:{settings.api.port}", token=token, **kwargs)

    def __enter__(self) -> PremarketClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f"{self.base_url}{path}: no answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(
                f"{self.base_url}: cannot connect ({type(exc).__name__}); is `premarket serve` "
                "running there?"
            ) from None
        if response.is_success:
            return response.json()
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text[:200]
        if response.status_code == 401:
            raise Unauthorized(
                401,
                f"{path}: {message} (set the server's token in PREMARKET_API__TOKEN"
                " or pass token=)",
            )
        if response.status_code == 404:
            raise NotFound(404, f"{path}: {message}")
        raise ApiError(response.status_code, f"{path}: HTTP {response.status_code}: {message}")

    def health(self) -> dict:
        """Status, version, each model target's reachability and breaker, and the last run."""
        return self._request("GET", "/health")

    def get_latest_analysis(self, date: date | str | None = None) -> RunResult:
        """The newest run, or the newest run of a New York business ``date``."""
        if date is None:
            return RunResult.model_validate(self._request("GET", "/results/latest"))
        document = self._request("GET", "/results", params={"date": str(date)})
        return RunResult.model_validate(document)

    def trigger_analysis(
        self,
        *,
        symbols: list[str] | None = None,
        as_of: date | None = None,
        offline: bool = False,
        wait: bool = True,
    ) -> RunResult | dict:
        """Start a run (needs the token); with ``wait`` its result comes back, else the
        ``{"status": "started"}`` acknowledgement."""
        body: dict[str, Any] = {"offline": offline, "wait": wait}
        if symbols is not None:
            body["symbols"] = symbols
        if as_of is not None:
            body["as_of"] = as_of.isoformat()
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        answer = self._request(
            "POST", "/analyze", json=body, headers=headers, timeout=ANALYZE_TIMEOUT_S
        )
        return RunResult.model_validate(answer) if wait else answer

    def recent(self, days: int = 7) -> list[RunResult]:
        """Runs of the last ``days`` New York business dates, newest first."""
        answer = self._request("GET", "/results/recent", params={"days": days})
        return [RunResult.model_validate(run) for run in answer["runs"]]

    def accuracy(self, as_of: date | None = None) -> dict:
        """Rolling forecast accuracy per symbol and tier."""
        params = {"as_of": as_of.isoformat()} if as_of else None
        return self._request("GET", "/accuracy", params=params)

    def monitor(
        self,
        interval: float,
        on_new_run: Callable[[RunResult], object],
        *,
        checks: int | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> int:
        """Poll for new runs every ``interval`` seconds and call ``on_new_run`` with each one.

        The current latest run counts as new on the first check. A server that is briefly
        down or has no run yet is logged and polled again. Runs ``checks`` times (forever when
        None); returns how many new runs were seen.
        """
        seen: str | None = None
        found = 0
        done = 0
        while checks is None or done < checks:
            if done:
                sleep(interval)
            done += 1
            try:
                doc = self.get_latest_analysis()
            except (NotFound, Unreachable) as exc:
                log.warning("monitor: %s", exc)
                continue
            if doc.run_id != seen:
                seen = doc.run_id
                found += 1
                on_new_run(doc)
        return found

    def sync_with_paper_trading(self, tracker: PaperTracker) -> list[str]:
        """Apply the newest run to a paper tracker (e.g. ``orchestrator.tracking.paper.PaperAccount``).

        The tracker applies each run once, so calling this after every slot is safe.
        """
        return tracker.apply_run(self.get_latest_analysis())
