"""The run result: the document one pre-market run produces, typed.

Its JSON is the original's result document (seed 000: ``run_id``, ``timestamp``,
``symbols_analyzed``, ``trading_signals``, ``alerts``, ``performance_metrics``) plus our
additions (business date, as-of date, slot, tiers, fallback reasons, latencies, errors, breakers).
Existing clients read that JSON, so field names and types here are the wire contract: change them
only by adding.

Parts that appear only when they apply (a call's ``error``, an unavailable sentiment's ``error``,
an alert's delivery ``errors``, an open breaker's ``retry_in_s``) are left unset otherwise, and
``to_document`` leaves unset fields out, so the JSON has exactly the keys the original shape has.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from orchestrator.documents.risk import RiskForecast
from premarket.decision import NewsText, NewsWindow

Status = Literal["ok", "partial", "failed"]
Mode = Literal["live", "replay"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CallRecord(_Part):
    """One tier's call for one symbol: what happened and how long it took."""

    target: str
    outcome: str  # ok, unreachable, server, invalid_answer, rejected, skipped/cancelled (...)
    error: str | None = None
    latency_ms: float | None = None
    tries: int | None = None


class ArticleScore(_Part):
    title: str
    published: str
    source: str
    score: float
    label: str


class SentimentAnalysis(_Part):
    """The news component of a signal (``docs/ORIGIN.md`` section 3 plus the articles scored)."""

    sentiment: str  # BULLISH, BEARISH or NEUTRAL
    signal: float
    confidence: float
    recommendation: str
    source: str  # model, lexicon, no_news or unavailable
    article_count: int
    articles: list[ArticleScore]
    error: str | None = None
    model: str | None = None  # the sentiment build's recipe (``sentiment-recipe:<hash>``)
    news_window: NewsWindow | None = None  # ``signal.news_window`` (replays: previous_session)
    news_text: NewsText | None = None  # ``signal.news_text``


class PricePrediction(_Part):
    """The forecast component of a signal: which tier answered, what and why."""

    model_used: str
    tier: str  # tft, nhits, ensemble or statistical
    predicted_price: float
    price_change_percent: float
    direction: str
    confidence: float
    signal_score: float
    quantiles: dict[str, float] | None
    forecast_path: list[float]
    horizon_days: int
    model_version: str
    latency_ms: float
    inference_time_ms: float
    fallback_reason: str | None
    calls: list[CallRecord]


class Components(_Part):
    price_prediction: PricePrediction
    sentiment_analysis: SentimentAnalysis


class Decision(_Part):
    """Action, score, confidence and reasoning of a combined signal."""

    action: str
    signal_score: float
    confidence: float
    reasoning: str
    # the calibrated rule's P(session up), whether ``confidence`` is calibrated, and if not why
    probability_up: float | None = None
    calibrated: bool = False
    uncalibrated_reason: str | None = None
    drivers: list[str] | None = None  # see SymbolSignal.drivers


class SymbolSignal(_Part):
    """A symbol that was analysed."""

    success: Literal[True]
    action: str
    signal_score: float
    confidence: float
    reasoning: str
    current_price: float
    data_as_of: date
    stale: bool = False
    """The last bar is older than the NYSE session before the business date."""
    components: Components
    probability_up: float | None = None
    """P(the session moves up, open to close); set by the calibrated rule only."""
    calibrated: bool = False
    """Whether ``confidence`` is a calibrated probability (``signal.mode = "calibrated"``)."""
    uncalibrated_reason: str | None = None  # why the probability is the base rate, if it is
    drivers: list[str] | None = None
    """The decision model's inputs that moved the probability from the base rate (``price_edge``,
    ``news``); ``[]``: it is the base rate. None for the original rule."""
    risk: RiskForecast | None = None
    """Today's expected move; None when the symbol's history is too short for it."""

    @property
    def price(self) -> PricePrediction:
        return self.components.price_prediction

    @property
    def sentiment(self) -> SentimentAnalysis:
        return self.components.sentiment_analysis

    @property
    def side(self) -> str:
        """BUY, SELL or HOLD."""
        return self.action.split()[0]

    @property
    def probability_label(self) -> str:
        """What ``confidence`` is the probability of: the session going "up" or "down", with
        "(base rate)" when no input moved it; "conf." for the original rule's uncalibrated
        number."""
        if self.probability_up is None or (not self.calibrated and self.drivers is None):
            return "conf."
        move = "up" if self.probability_up >= 0.5 else "down"
        return f"{move} (base rate)" if self.drivers == [] else move

    @property
    def forecast_has_weight(self) -> bool:
        """Whether the price forecast's direction moved the probability; if not, only its
        p10-p90 band is shown ("band"), so no falling forecast sits beside "51.8% up"."""
        return self.drivers is None or "price_edge" in self.drivers


class SymbolFailure(_Part):
    """A symbol that could not be analysed, and why."""

    success: Literal[False]
    error: str | None


class RunError(_Part):
    symbol: str  # a ticker, or "*" for the run
    stage: str
    error: str


class AlertRecord(_Part):
    level: str
    symbol: str
    action: str
    message: str
    timestamp: str
    delivered: list[str]
    duplicate: bool
    errors: dict[str, str] | None = None


class BreakerState(_Part):
    name: str
    url: str
    failure_threshold: int
    cooldown_s: float
    state: str
    failures: int
    opened_at: float | None
    last_error: str | None
    retry_in_s: float | None = None


class PerformanceMetrics(_Part):
    success_rate: float
    avg_confidence: float
    signal_distribution: dict[str, int]
    total_symbols: int
    successful_analyses: int
    tier_counts: dict[str, int]
    latency_ms: dict[str, float | None]


class ServiceCost(_Part):
    """What one service cost a run: its compute seconds at the host's price, or its calls."""

    compute_s: float
    calls: int
    hosted: bool  # a hosted (ModelScope) endpoint: billed per call, not per host second
    usd: float


class Cost(_Part):
    """The run's cost (``tracking.cost``), in US dollars at the configured prices."""

    device: str  # cpu or gpu: the host price applied to the local services
    hour_usd: float
    services: dict[str, ServiceCost]
    total_usd: float
    predictions: int
    per_prediction_usd: float | None  # marginal: this run's work (the host is paid anyway)
    # amortised (``tracking.cost``): the host's day over the day's predictions, plus hosted calls
    host_day_usd: float | None = None
    runs_per_day: int | None = None
    amortised_per_prediction_usd: float | None = None


class RunResult(_Part):
    """One pre-market run, as built by ``jobs.analysis`` and kept by ``storage``."""

    run_id: str
    timestamp: str  # UTC, ISO 8601 with milliseconds and "Z", as the original wrote it
    business_date: date
    as_of: date | None
    slot: str | None
    offline: bool
    mode: Mode
    """``live``: today's data before the open; ``replay``: a past morning (``--as-of``) or the
    offline files. Accuracy and paper trading count live runs unless asked otherwise."""
    status: Status
    symbols_analyzed: list[str]
    trading_signals: dict[str, SymbolSignal | SymbolFailure]
    performance_metrics: PerformanceMetrics
    errors: list[RunError]
    alerts: list[AlertRecord]
    breakers: dict[str, BreakerState]
    cost: Cost | None = None  # absent from runs stored before cost tracking
    degraded: list[str] = []
    """Why the run is degraded, if it is (``jobs.health``): symbols on the statistical tier
    because the primary and the backup were both unavailable, or alerts that no channel took.
    Such a run exits with its own status (4), so cron and Kubernetes see the outage."""

    @model_validator(mode="before")
    @classmethod
    def _mode_of_older_documents(cls, data: object) -> object:
        """Documents stored before ``mode`` existed: offline runs were replays."""
        if isinstance(data, dict) and "mode" not in data:
            return {**data, "mode": "replay" if data.get("offline") else "live"}
        return data

    @property
    def stale(self) -> list[str]:
        """Symbols analysed on data older than the session before the business date."""
        return [s for s, v in self.signals.items() if v.stale]

    @property
    def cause(self) -> str | None:
        """The first error that explains a failure (a ``timing`` note explains none)."""
        return next((e.error for e in self.errors if e.stage != "timing"), None)

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.timestamp.replace("Z", "+00:00")).astimezone(UTC)

    @property
    def signals(self) -> dict[str, SymbolSignal]:
        """The symbols that were analysed (failures left out)."""
        return {s: v for s, v in self.trading_signals.items() if isinstance(v, SymbolSignal)}

    def to_document(self) -> dict:
        """The JSON document (unset optional parts left out, see the module docstring)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_json(self) -> str:
        """:meth:`to_document` as JSON text, written straight from the model: a large run is
        never also held as a tree of Python objects (the results API's answers)."""
        return self.model_dump_json(exclude_unset=True)
