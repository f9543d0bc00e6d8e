"""The risk forecasts a backtest compares, one row per (forecaster, symbol, target session).

Every forecaster predicts the variance of the target session's open-to-close log return from
bars up to the session before it (the pre-market rule: nothing of the target's own bar):

- ``risk``: the project's risk model (:mod:`premarket.risk`), refitted every ``refit_every``
  target sessions on the sessions before the block only, as a live deployment refitting monthly
  would be;
- ``har``: the anchor, HAR-log on each symbol's Garman-Klass variance, expanding window,
  refitted every ``refit_every`` origins (:mod:`premarket.risk.har`);
- ``garch``: the anchor, GARCH(1,1) with Student-t errors on each symbol's open-to-close
  returns (``arch``), its last 1,000 returns, refitted every ``refit_every`` origins;
- each price tier that ran (``tft``, ``nhits``, ``statistical``): the sigma its p10-p90 band of
  the next close implies under a normal, ``log(p90 / p10) / 2.563`` (a close-to-close band, so
  it also carries the overnight gap the session does not).

Ranges: the risk model's own (``range_ratio``); the others the Brownian-motion relation
``E[log(H/L)] = sqrt(8 / pi) sigma`` (Parkinson 1980). Bands: the risk model's fitted
quantiles, GARCH's Student-t quantiles, normal quantiles for the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from orchestrator.backtest.baselines import _fit, next_variance
from orchestrator.backtest.data import History
from premarket.risk.features import SymbolBars
from premarket.risk.har import har_forecast
from premarket.risk.model import InsufficientHistory, Panel, build_panel, fit_model, predict

REFIT_EVERY = 21
GARCH_LOOKBACK = 1000
Z90 = 1.2815515655446004
PARKINSON_RANGE = math.sqrt(8.0 / math.pi)
TIER_BANDS = ("tft", "nhits", "statistical")


def universe_of(histories: dict[str, History]) -> list[SymbolBars]:
    return [SymbolBars.from_arrays(s, h.dates, *h.rows.T) for s, h in histories.items()]


def _rows(panel: Panel, symbol: str, keep: np.ndarray, name: str, sigma, p10, p90, rng):
    return pd.DataFrame(
        {
            "forecaster": name,
            "symbol": symbol,
            "date": panel.target[symbol][keep],
            "sigma_oc": np.asarray(sigma)[keep],
            "range_hl": np.asarray(rng)[keep],
            "p10": np.asarray(p10)[keep],
            "p90": np.asarray(p90)[keep],
        }
    )


def risk_model_rows(panel: Panel, period, refit_every: int) -> pd.DataFrame:
    """The risk model, walk forward: one fit per block of target sessions, on the past only."""
    sessions = np.unique(
        np.concatenate([panel.target[s][period_of(panel, s, period)] for s in panel.symbols])
    )
    if not len(sessions):
        raise InsufficientHistory(f"no target session between {period[0]} and {period[1]}")
    frames = []
    for first in range(0, len(sessions), refit_every):
        block = sessions[first : first + refit_every]
        model = fit_model(panel, until=block[0], version="walk-forward")
        for s in panel.symbols:
            keep = np.isin(panel.target[s], block)
            if not keep.any():
                continue
            series = predict(model, panel.x[s], panel.har[s])
            frame = _rows(
                panel, s, keep, "risk", series.sigma_oc, series.p10, series.p90, series.range_hl
            )
            frame["normal"] = series.normal[keep]
            frame["high_risk"] = series.ratio[keep] >= model.high_risk_ratio
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def period_of(panel: Panel, symbol: str, period: tuple[np.datetime64, np.datetime64]) -> np.ndarray:
    target = panel.target[symbol]
    return ~np.isnat(target) & (target >= period[0]) & (target <= period[1])


def har_rows(
    panel: Panel, universe: Sequence[SymbolBars], period, refit_every: int
) -> pd.DataFrame:
    frames = []
    for bars in universe:
        keep = period_of(panel, bars.symbol, period)
        sigma = np.sqrt(har_forecast(bars.garman_klass(), refit_every=refit_every))
        frames.append(
            _rows(
                panel,
                bars.symbol,
                keep,
                "har",
                sigma,
                -Z90 * sigma,
                Z90 * sigma,
                PARKINSON_RANGE * sigma,
            )
        )
    return pd.concat(frames, ignore_index=True)


def garch_rows(
    panel: Panel, universe: Sequence[SymbolBars], period, refit_every: int
) -> pd.DataFrame:
    """GARCH(1,1)-t on open-to-close returns in percent, as the price baseline fits it."""
    from scipy import stats

    frames = []
    for bars in universe:
        keep = period_of(panel, bars.symbol, period)
        session = 100 * np.log(bars.close / bars.open)
        sigma = np.full(len(bars), np.nan)
        p10, p90 = sigma.copy(), sigma.copy()
        fits: dict[int, np.ndarray] = {}
        for t in np.flatnonzero(keep):
            fit_day = t - t % refit_every
            if fit_day not in fits:
                fits[fit_day] = _fit(session[: fit_day + 1][-GARCH_LOOKBACK:])
            params = fits[fit_day]
            var = next_variance(session[: t + 1][-GARCH_LOOKBACK:], params) / 1e4
            mu, nu = params[0] / 100, params[4]
            scale = math.sqrt(var * (nu - 2.0) / nu)
            sigma[t] = math.sqrt(var)
            p10[t], p90[t] = mu + scale * stats.t.ppf([0.1, 0.9], nu)
        frames.append(
            _rows(panel, bars.symbol, keep, "garch", sigma, p10, p90, PARKINSON_RANGE * sigma)
        )
    return pd.concat(frames, ignore_index=True)


def tier_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The sigma each banded price tier's p10-p90 close band implies."""
    if predictions is None or "p10" not in predictions or "p90" not in predictions:
        return pd.DataFrame()
    banded = predictions[predictions["tier"].isin(TIER_BANDS) & predictions["p10"].notna()]
    sigma = np.log(banded["p90"].to_numpy() / banded["p10"].to_numpy()) / (2 * Z90)
    return pd.DataFrame(
        {
            "forecaster": banded["tier"].to_numpy(),
            "symbol": banded["symbol"].to_numpy(),
            "date": banded["target"].to_numpy(dtype="datetime64[D]"),
            "sigma_oc": sigma,
            "range_hl": PARKINSON_RANGE * sigma,
            "p10": -Z90 * sigma,
            "p90": Z90 * sigma,
        }
    )


def realized(panel: Panel, period) -> pd.DataFrame:
    """The target sessions' outcomes: open-to-close return, Garman-Klass variance, range."""
    frames = []
    for s in panel.symbols:
        keep = period_of(panel, s, period)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": s,
                    "date": panel.target[s][keep],
                    "session": panel.session[s][keep],
                    "gk": panel.gk_next[s][keep],
                    "range": panel.range_next[s][keep],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def risk_forecasts(
    histories: dict[str, History],
    start,
    end,
    predictions: pd.DataFrame | None = None,
    refit_every: int = REFIT_EVERY,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every forecaster's rows and the realized sessions, for target sessions in ``[start, end]``."""
    universe = universe_of(histories)
    panel = build_panel(universe)
    period = (np.datetime64(start, "D"), np.datetime64(end, "D"))
    frames = [
        risk_model_rows(panel, period, refit_every),
        har_rows(panel, universe, period, refit_every),
        garch_rows(panel, universe, period, refit_every),
        tier_rows(predictions),
    ]
    return pd.concat(frames, ignore_index=True), realized(panel, period)
