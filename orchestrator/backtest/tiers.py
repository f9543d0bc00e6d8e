"""The forecasters a backtest compares: the three tiers of the chain and the baselines (random
walk, drift, and the GARCH and historical-quantile bands of :mod:`orchestrator.backtest.baselines`).

Every tier answers the same question for a batch of windows: the next close (point), the
probability that its direction is right (confidence) and, when it has one, a band of
quantiles. A window holds a symbol's bars up to and including the forecast day and nothing
after it, so a tier cannot look ahead however it is written.

The model tiers run in-process, one call per chunk of windows (many days and symbols at once).
Their code (torch, numpy) is imported only when such a tier is asked for, so the orchestrator
stays importable without the model stack.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from orchestrator.backtest.data import History
from orchestrator.forecast.statistical import statistical_forecast
from premarket.protocol import PriceForecast

TIER_ORDER = ("tft", "nhits", "statistical", "garch", "hist_quantile", "random_walk", "drift")
MODEL_TIERS = ("tft", "nhits", "statistical")
BASELINES = ("garch", "hist_quantile", "random_walk", "drift")


Window = History
"""One symbol's bars up to and including the forecast day (``rows[-1]``): a ``History`` cut
at the origin, so a tier sees nothing after it."""


@dataclass
class TierOutput:
    """A tier's answer for a batch of windows, one entry per window."""

    point: np.ndarray
    confidence: np.ndarray
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)
    """Keys like ``p10``; empty when the tier gives no band."""


class Tier(Protocol):
    key: str
    """Short name used on the command line and in the JSON (``tft``, ``drift``...)."""
    label: str
    """The name the services answer in ``model_used`` (or the baseline's name)."""
    min_rows: int
    """Fewest bars a window must hold for this tier to forecast."""
    batch_size: int
    """Windows per call; the progress bar advances once per call."""

    def forecast(self, windows: Sequence[Window]) -> TierOutput: ...


@dataclass(frozen=True)
class Provenance:
    """Which days a stored model has seen: forecasts of those days are not out of sample."""

    tag: str
    """The store tag, ``name:version``."""
    fitted_until: str | None
    """Last day of the data its weights were fitted on."""
    seen_until: str | None
    """Last day it has seen at all (fitting, early stopping or calibrating its confidence)."""


class SkippedTier(Exception):
    """A tier that cannot run here (no trained model, no torch); the message says why."""


def from_price_forecasts(forecasts: Sequence[PriceForecast]) -> TierOutput:
    """Collect the model's own ``PriceForecast`` objects into arrays."""
    keys = sorted(
        set.intersection(*(set(f.quantiles or {}) for f in forecasts)) if forecasts else set()
    )
    return TierOutput(
        point=np.array([f.predicted_price for f in forecasts], dtype=float),
        confidence=np.array([f.confidence for f in forecasts], dtype=float),
        quantiles={k: np.array([f.quantiles[k] for f in forecasts], dtype=float) for k in keys},
    )


class RandomWalk:
    """Tomorrow's close is today's: the yardstick of MASE. It never calls a direction."""

    key = "random_walk"
    label = "Random walk (baseline)"
    min_rows = 1
    batch_size = 4096

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        last = np.array([w.closes[-1] for w in windows], dtype=float)
        return TierOutput(point=last, confidence=np.full(len(windows), 0.5))


class Drift:
    """The drift method: extend the average daily log return of the whole history so far.

    Its confidence is the share of past days that moved the way the drift points, the honest
    hit rate of always calling that direction.
    """

    key = "drift"
    label = "Drift (baseline)"
    min_rows = 2
    batch_size = 4096

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        point = np.empty(len(windows))
        confidence = np.empty(len(windows))
        for i, window in enumerate(windows):
            closes = window.closes
            steps = len(closes) - 1
            mu = math.log(closes[-1] / closes[0]) / steps
            point[i] = closes[-1] * math.exp(mu)
            moves = np.sign(np.diff(closes))
            confidence[i] = float(np.mean(moves == np.sign(mu))) if mu != 0 else 0.5
        return TierOutput(point=point, confidence=confidence)


class Statistical:
    """The chain's last tier, ``orchestrator.forecast.statistical``, on the same window it would see."""

    key = "statistical"
    label = "Statistical (Fallback)"
    batch_size = 1024

    def __init__(self, lookback: int = 60) -> None:
        self.lookback = lookback
        self.min_rows = lookback + 1

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        return from_price_forecasts(
            [
                statistical_forecast(w.closes[-self.min_rows :], horizon=1, lookback=self.lookback)
                for w in windows
            ]
        )


class NHits:
    """The numpy N-HITS backup, fed the last ``history`` closes of each window in one array."""

    key = "nhits"
    label = "N-HITS (Backup)"
    batch_size = 2048

    def __init__(self, forecaster: object, history: int, provenance: Provenance | None = None):
        self.forecaster = forecaster
        self.provenance = provenance
        self.min_rows = max(int(forecaster.min_rows), 1)
        self.history = max(history, self.min_rows)

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        closes = [w.closes[-self.history :] for w in windows]
        return from_price_forecasts(self.forecaster.forecast(closes))


class TFT:
    """The TFT primary, one batched forward pass per chunk of (symbol, rows, dates) requests."""

    key = "tft"
    label = "TFT (Primary)"
    batch_size = 512

    def __init__(self, predictor: object, history: int, provenance: Provenance | None = None):
        self.predictor = predictor
        self.provenance = provenance
        self.min_rows = max(int(predictor.min_rows), 1)
        self.history = max(history, self.min_rows)

    def forecast(self, windows: Sequence[Window]) -> TierOutput:
        requests = [
            (
                w.symbol,
                w.rows[-self.history :],
                [d.item() for d in w.dates[-self.history :]],
            )
            for w in windows
        ]
        return from_price_forecasts(self.predictor.forecast(requests))


def _torch_missing() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("torch") else "torch is not installed"


def _stored(name: str) -> tuple[str, dict]:
    """The store directory and metadata of ``name:latest``, or ``SkippedTier`` saying why."""
    try:
        from models import store

        if not store.exists(name):
            raise SkippedTier(
                f"no '{name}' model in the BentoML store; train it with "
                f"`python -m models.{name}.train`"
            )
        return str(store.path_of(name)), store.metadata_of(name)
    except ImportError as exc:
        raise SkippedTier(f"the model stack is not installed ({exc.name})") from None


def _dig(metadata: dict, *path: str | int) -> str | None:
    """A nested metadata value as text, or None when the model did not record it."""
    value: object = metadata
    try:
        for step in path:
            value = value[step]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    return str(value)


def _load_nhits(history: int) -> Tier:
    from models.nhits.inference import NHitsForecaster

    directory, meta = _stored("nhits")
    provenance = Provenance(
        tag=f"nhits:{Path(directory).name}",
        fitted_until=_dig(meta, "training", "train_range", 1),
        seen_until=_dig(meta, "training", "validation_range", 1),
    )
    return NHits(NHitsForecaster.load(directory), history, provenance)


def _load_tft(history: int) -> Tier:
    reason = _torch_missing()
    if reason:
        raise SkippedTier(reason)
    from models.tft.predictor import TFTPredictor

    directory, meta = _stored("tft")
    provenance = Provenance(
        tag=f"tft:{Path(directory).name}",
        fitted_until=_dig(meta, "train_end"),
        seen_until=_dig(meta, "valid_end"),
    )
    return TFT(TFTPredictor.load(directory), history, provenance)


def _band_baseline(name: str) -> Tier:
    """A band baseline of :mod:`orchestrator.backtest.baselines` (imported here, lazily: it
    builds on this module)."""
    from orchestrator.backtest import baselines

    return getattr(baselines, name)()


LOADERS: dict[str, Callable[[int], Tier]] = {
    "tft": _load_tft,
    "nhits": _load_nhits,
    "statistical": lambda history: Statistical(),
    "garch": lambda history: _band_baseline("Garch"),
    "hist_quantile": lambda history: _band_baseline("HistoricalQuantile"),
    "random_walk": lambda history: RandomWalk(),
    "drift": lambda history: Drift(),
}


def load_tiers(keys: Sequence[str], history: int) -> tuple[list[Tier], dict[str, str]]:
    """Build the tiers asked for (baselines always); return them and the skipped ones' reasons."""
    unknown = [k for k in keys if k not in LOADERS]
    if unknown:
        raise ValueError(f"--tiers: unknown tier(s) {', '.join(unknown)}; choose from {TIER_ORDER}")
    wanted = [k for k in TIER_ORDER if k in keys or k in BASELINES]
    tiers: list[Tier] = []
    skipped: dict[str, str] = {}
    for key in wanted:
        try:
            tiers.append(LOADERS[key](history))
        except SkippedTier as exc:
            skipped[key] = str(exc)
        except ImportError as exc:
            skipped[key] = f"its code cannot be imported ({exc})"
    return tiers, skipped
