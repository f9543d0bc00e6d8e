"""The risk model: a QLIKE-fitted panel regression over HAR, overnight, leverage, volume,
earnings-cycle and market features, combined with the symbol's own HAR forecast.

The forecast is the variance of the next session's open-to-close log return. The panel part is
``exp(x . b)``, where ``b`` maximises the Gamma quasi-likelihood of the squared session return
with a log link (iteratively reweighted least squares), which is the same as minimising QLIKE
(Patton 2011), the loss that ranks variance forecasts correctly on a noisy proxy; with an
intercept the fit is unbiased on its rows. One set of coefficients serves every symbol (a panel),
so each is estimated from all symbols' days. The symbol's own HAR-log forecast
(:mod:`premarket.risk.har`, its last :data:`HAR_WINDOW` days) brings in its own level and
persistence: the two are combined with equal weights in logs (a geometric mean). Equal weights
were chosen on 2019-2021, before the backtest's 2022-2023 sessions (see ``docs``); a weight
estimated inside the panel fit came out near 0 in-sample and lost out of sample, the usual
forecast-combination result. Symbols too young for their own HAR get the panel alone.

From ``sigma_oc`` follow: the p10 and p90 of the session return (``sigma_oc`` times the 10% and
90% quantiles of the fitted rows' standardised returns, which have fatter tails than a normal),
the expected high-low range (``sigma_oc`` times the rows' mean ``log(H/L) / sigma_oc``), and the
symbol's normal risk (the median of its forecasts over the previous 63 origins), against which a
day is flagged ``high_risk``.

Plain numpy, so the model layer fits it and the orchestrator (no torch) evaluates the same JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, field_validator

from premarket import target
from premarket.jsonfile import JsonFile
from premarket.risk import estimators
from premarket.risk.features import FEATURES, SymbolBars, market_features, own_features
from premarket.risk.har import har_forecast

HAR_WINDOW = 1000
"""Trailing origins the symbol's own HAR is fitted on."""
HAR_WEIGHT = 0.5
"""Weight of the symbol's own HAR in the log-variance combination."""
NORMAL_WINDOW = 63
"""Previous forecasts whose median is the symbol's normal risk."""
HIGH_RISK_RATIO = 1.5
"""A forecast this many times the symbol's normal is flagged ``high_risk`` (the backtest
reports how often such a day really was that large)."""
BUNDLED = Path(__file__).with_name("risk_model.json")


class InsufficientHistory(ValueError):
    """Too few sessions to fit (or to forecast) the risk model."""


class RiskModel(JsonFile):
    """A fitted risk model, as exported to JSON."""

    version: str
    target: str = target.NAME
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    coefficients: list[float]
    """The panel regression's, intercept first."""
    har_weight: float = Field(default=HAR_WEIGHT, ge=0, le=1)
    har_window: int = HAR_WINDOW
    z_p10: float
    z_p90: float
    range_ratio: float = Field(gt=0)
    high_risk_ratio: float = HIGH_RISK_RATIO
    fit: dict[str, Any] = Field(default_factory=dict)
    """Provenance: rows, symbols, date range of the target sessions, held-out scores."""

    @field_validator("features")
    @classmethod
    def _same_columns(cls, value: list[str]) -> list[str]:
        # the design matrix is built in the code's FEATURES order: other names or another order
        # would apply the coefficients to the wrong columns
        if value != list(FEATURES):
            raise ValueError(f"fitted on {value}, the code builds {list(FEATURES)}: refit it")
        return value

    @property
    def content_version(self) -> str:
        """``risk-<hash>`` of everything that makes its forecasts (floats to 10 digits, so the
        same fit gives the same version on another BLAS)."""

        def rounded(value):
            if isinstance(value, float):
                return float(f"{value:.10g}")
            return [rounded(v) for v in value] if isinstance(value, list) else value

        made = self.model_dump(exclude={"version", "fit"})
        text = json.dumps({k: rounded(v) for k, v in made.items()}, sort_keys=True)
        return "risk-" + hashlib.sha256(text.encode()).hexdigest()[:10]

    def panel_variance(self, x: np.ndarray) -> np.ndarray:
        b = np.asarray(self.coefficients)
        return np.exp(b[0] + np.asarray(x, float) @ b[1:])

    def variance(self, x: np.ndarray, har: np.ndarray) -> np.ndarray:
        """The combined forecast; the panel alone where ``har`` is NaN."""
        panel = self.panel_variance(x)
        with np.errstate(invalid="ignore"):
            combined = panel ** (1 - self.har_weight) * np.asarray(har, float) ** self.har_weight
        return np.where(np.isfinite(combined), combined, panel)

    @classmethod
    def load(cls, path: Path = BUNDLED) -> RiskModel:
        """The model at ``path``; the bundled one by default."""
        return super().load(path)


def _following(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[:-1] = values[1:]
    return out


@dataclass
class Panel:
    """Every (symbol, origin) of a universe: inputs and, where known, the next session."""

    symbols: list[str] = field(default_factory=list)
    x: dict[str, np.ndarray] = field(default_factory=dict)
    """Per symbol: ``[origins, len(FEATURES)]``."""
    har: dict[str, np.ndarray] = field(default_factory=dict)
    """Per symbol: its own HAR variance forecast (NaN while its history is short)."""
    session: dict[str, np.ndarray] = field(default_factory=dict)
    """Per symbol: the next session's open-to-close log return (NaN at the last origin)."""
    gk_next: dict[str, np.ndarray] = field(default_factory=dict)
    range_next: dict[str, np.ndarray] = field(default_factory=dict)
    target: dict[str, np.ndarray] = field(default_factory=dict)
    """Per symbol: the next session's date (NaT at the last origin)."""

    def stacked(self, name: str) -> np.ndarray:
        return np.concatenate([getattr(self, name)[s] for s in self.symbols])


def build_panel(universe: Sequence[SymbolBars], har_window: int = HAR_WINDOW) -> Panel:
    """Inputs at every origin of every symbol, from its bars up to that origin only."""
    own = {b.symbol: own_features(b) for b in universe}
    market = market_features({b.symbol: b.dates for b in universe}, own)
    panel = Panel()
    for b in universe:
        gk = b.garman_klass()
        columns = {**own[b.symbol], **market[b.symbol]}
        panel.symbols.append(b.symbol)
        panel.x[b.symbol] = np.column_stack([columns[f] for f in FEATURES])
        panel.har[b.symbol] = har_forecast(gk, window=har_window)
        panel.session[b.symbol] = _following(estimators.open_to_close(b.open, b.close))
        panel.gk_next[b.symbol] = _following(gk)
        panel.range_next[b.symbol] = _following(estimators.log_range(b.high, b.low))
        nxt = np.full(len(b), np.datetime64("NaT"), dtype="datetime64[D]")
        nxt[:-1] = b.dates[1:]
        panel.target[b.symbol] = nxt
    return panel


def fit_qlike(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Coefficients (intercept first) of ``E[y] = exp(b0 + x . b)`` by Gamma-family IRLS (the
    QLIKE minimiser; ``y`` may hold zeros)."""
    design = np.column_stack([np.ones(len(x)), x])
    b = np.zeros(design.shape[1])
    b[0] = np.log(np.mean(y))
    for _ in range(iterations):
        eta = design @ b
        working = eta + y / np.exp(eta) - 1.0
        new = np.linalg.lstsq(design, working, rcond=None)[0]
        done = np.max(np.abs(new - b)) < 1e-10
        b = new
        if done:
            break
    return b


def fit_model(
    panel: Panel, *, until: np.datetime64 | None = None, version: str, **fit: Any
) -> RiskModel:
    """Fit on every origin whose next session is known and falls before ``until`` (all of them
    when None)."""
    x, session, tgt = panel.stacked("x"), panel.stacked("session"), panel.stacked("target")
    rows = np.isfinite(session) & ~np.isnat(tgt) & np.isfinite(x).all(axis=1)
    if until is not None:
        rows &= tgt < until
    if rows.sum() < 10 * (len(FEATURES) + 1):
        raise InsufficientHistory(f"risk model: {int(rows.sum())} sessions, too few to fit")
    coefficients = fit_qlike(x[rows], session[rows] ** 2)
    model = RiskModel(
        version=version, coefficients=[float(c) for c in coefficients], z_p10=0, z_p90=0,
        range_ratio=1,
    )  # fmt: skip
    sigma = np.sqrt(model.variance(x[rows], panel.stacked("har")[rows]))
    z = session[rows] / sigma
    span = tgt[rows]
    return model.model_copy(
        update={
            "z_p10": float(np.quantile(z, 0.1)),
            "z_p90": float(np.quantile(z, 0.9)),
            "range_ratio": float(np.mean(panel.stacked("range_next")[rows] / sigma)),
            "fit": {
                "rows": int(rows.sum()),
                "symbols": list(panel.symbols),
                "first_target": str(span.min()),
                "last_target": str(span.max()),
                **fit,
            },
        }
    )


@dataclass
class RiskSeries:
    """One symbol's forecasts at every origin (NaN where it has too little history)."""

    sigma_oc: np.ndarray
    range_hl: np.ndarray
    p10: np.ndarray
    p90: np.ndarray
    normal: np.ndarray
    """Median ``sigma_oc`` of the previous :data:`NORMAL_WINDOW` origins."""
    own_har: np.ndarray
    """Whether the symbol's own HAR took part (False: the panel alone)."""

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sigma_oc / self.normal


def predict(
    model: RiskModel, x: np.ndarray, har: np.ndarray, *, recent: int | None = None
) -> RiskSeries:
    """Forecasts for the rows of ``x`` and ``har`` (one symbol's origins, oldest first); the
    normal only for the last ``recent`` origins when given (a live run needs the last one)."""
    sigma = np.sqrt(model.variance(x, har))
    normal = np.full(len(x), np.nan)
    first = NORMAL_WINDOW if recent is None else max(NORMAL_WINDOW, len(x) - recent)
    if len(x) > first:  # a window holding a NaN has a NaN median: no normal yet
        windows = sliding_window_view(sigma[first - NORMAL_WINDOW : -1], NORMAL_WINDOW)
        normal[first:] = np.median(windows, axis=1)
    return RiskSeries(
        sigma_oc=sigma,
        range_hl=sigma * model.range_ratio,
        p10=sigma * model.z_p10,
        p90=sigma * model.z_p90,
        normal=normal,
        own_har=np.isfinite(har) & np.isfinite(sigma),
    )


def forecast_universe(
    model: RiskModel, universe: Sequence[SymbolBars], *, recent: int | None = None
) -> dict[str, RiskSeries]:
    """Every symbol's forecasts at every origin, the universe giving the market features (the
    normal for the last ``recent`` origins only, when given)."""
    panel = build_panel(universe, model.har_window)
    return {s: predict(model, panel.x[s], panel.har[s], recent=recent) for s in panel.symbols}
