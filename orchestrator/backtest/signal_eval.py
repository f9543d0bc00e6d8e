"""The combined signal on history: the decision model fitted walk-forward, year by year.

For every test year the decision model (:mod:`premarket.decision`) is fitted on all sessions
before that year and scored on that year only, so every probability scored was made by a model
that had not seen its session. Beside it, on the same held-out sessions: the same model on the
price forecast alone and on the news alone, always-up (P(up) = the up rate of the years before),
a coin flip, and the original 0.6/0.4 rule with its uncalibrated confidence.

Each gets a ``calibration`` block (:mod:`orchestrator.backtest.calibration`) and a strategy:
one unit long on BUY, short on SELL, in at the session's open and out at its close, paying
``cost_bps`` on the way in and again on the way out (always-up is long every session, the coin
flip long or short at random).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest import calibration
from orchestrator.backtest.data import BacktestError
from orchestrator.backtest.direction_scores import positions
from orchestrator.backtest.news_signal import covered
from orchestrator.tracking.metrics import performance
from premarket import target
from premarket.decision import FEATURES, L2, feature_matrix, fit_logistic, sigmoid
from premarket.settings import SignalSettings

VARIANTS = {"signal": [0, 1], "price_only": [0], "news_only": [1], "always_up": []}
"""Which features each fitted variant uses (columns of :data:`FEATURES`)."""
MIN_TRAIN_ROWS = 500


def decision_dataset(
    forecasts: pd.DataFrame, news: pd.DataFrame, sessions: pd.DataFrame, max_articles: int
) -> pd.DataFrame:
    """One row per (symbol, session): the tier's forecast, the news, the features, the outcome."""
    data = forecasts.assign(
        origin=pd.to_datetime(forecasts["origin"]), target=pd.to_datetime(forecasts["target"])
    )
    for band in ("p10", "p90"):
        if band not in data:
            data[band] = np.nan
    data = data.merge(news, on=["symbol", "origin"], how="left")
    data["sentiment"] = data["sentiment"].fillna(0.0)
    data["articles"] = data["articles"].fillna(0).astype(int)
    data = calibration.with_sessions(data, sessions)
    x = feature_matrix(
        data["point"], data["current"], data["p10"], data["p90"],
        data["sentiment"], data["articles"], max_articles,
    )  # fmt: skip
    for i, name in enumerate(FEATURES):
        data[name] = x[:, i]
    data["covered"] = covered(data["origin"])
    return data.sort_values(["target", "symbol"], kind="stable").reset_index(drop=True)


def original_rule(data: pd.DataFrame, settings: SignalSettings) -> tuple[np.ndarray, np.ndarray]:
    """The original rule's P(up) as it claims it (its confidence for its direction) and its
    position (BUY/SELL past ``weak_threshold``)."""
    total = settings.price_weight + settings.sentiment_weight
    wp, ws = settings.price_weight / total, settings.sentiment_weight / total
    conf = data["confidence"].to_numpy(float)
    sign = np.sign(data["point"].to_numpy() - data["current"].to_numpy())
    sentiment = data["sentiment"].to_numpy(float)
    has_news = data["articles"].to_numpy() > 0
    sent_conf = np.where(has_news, np.minimum(0.9, 0.6 + 0.3 * np.abs(sentiment)), 0.5)
    score = wp * sign * np.maximum(0.0, 2 * conf - 1) + ws * sentiment
    confidence = np.clip(wp * conf + ws * sent_conf, 0.0, 1.0)
    position = np.where(score > settings.weak_threshold, 1.0, 0.0)
    position[score < -settings.weak_threshold] = -1.0
    return np.where(score >= 0, confidence, 1.0 - confidence), position


def year_folds(data: pd.DataFrame, years: list[int]):
    """``(test year, train mask, test mask)`` per test year: train on every year before it;
    a year without ``MIN_TRAIN_ROWS`` before it, or without rows, is skipped."""
    year = data["target"].dt.year.to_numpy()
    for test_year in years:
        train, test = year < test_year, year == test_year
        if train.sum() >= MIN_TRAIN_ROWS and test.any():
            yield test_year, train, test


def fold_years(start: date, end: date) -> list[int]:
    return list(range(start.year, end.year + 1))


def between(held: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """The held-out rows whose session lies in ``[start, end]`` (the folds are whole years)."""
    inside = held["target"].between(pd.Timestamp(start), pd.Timestamp(end))
    return held[inside].reset_index(drop=True)


def walk_forward_fit(data: pd.DataFrame, years: list[int], l2: float = L2):
    """Held-out P(up) of every variant, one fold per test year, and each fold's fit."""
    x = data[list(FEATURES)].to_numpy(float)
    y = data["up"].to_numpy(float)
    held = []
    folds = []
    for test_year, train, test in year_folds(data, years):
        part = data[test].copy()
        fold: dict[str, Any] = {"year": test_year, "train_rows": int(train.sum())}
        for name, cols in VARIANTS.items():
            intercept, weights, _ = fit_logistic(x[train][:, cols], y[train], l2)
            part[f"p_{name}"] = sigmoid(intercept + x[test][:, cols] @ weights)
            fold[name] = {
                "intercept": intercept,
                **{FEATURES[c]: float(w) for c, w in zip(cols, weights, strict=True)},
            }
        part["mean_abs_move"] = float(np.mean(np.abs(data["move"][train])))
        fold["test_rows"] = int(test.sum())
        held.append(part)
        folds.append(fold)
    return (pd.concat(held, ignore_index=True) if held else data.iloc[:0]), folds


def strategy(held: pd.DataFrame, positions: np.ndarray, cost_bps: float) -> dict[str, Any]:
    """Open-to-close book of one unit per position, equal weight across symbols, after costs."""
    net = positions * held["move"].to_numpy() - np.abs(positions) * 2 * cost_bps / 10_000
    daily = pd.Series(net).groupby(held["target"].to_numpy()).mean().sort_index()
    return {
        **performance(daily.to_numpy()),
        "exposure": float(np.mean(positions != 0)),
        "trades": int(np.count_nonzero(positions)),
    }


def evaluate_signal(
    data: pd.DataFrame,
    *,
    start: date,
    end: date,
    settings: SignalSettings,
    cost_bps: float,
    seed: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every forecaster's calibration and strategy on the held-out sessions in ``[start, end]``."""
    held, folds = walk_forward_fit(data, fold_years(start, end))
    held = between(held, start, end)
    if held.empty:
        raise BacktestError(
            f"--news: no session between {start} and {end} has {MIN_TRAIN_ROWS} sessions in "
            "the years before it to fit the decision model on"
        )
    held["p_original"], original_position = original_rule(held, settings)
    coin_up = np.random.default_rng(seed).random(len(held)) < 0.5
    up = held["up"].to_numpy()
    subsets = {
        "all": np.ones(len(held), bool),
        "news_covered": held["covered"].to_numpy(bool),
        "with_news": held["articles"].to_numpy() > 0,
    }
    results: dict[str, Any] = {}
    for subset, mask in subsets.items():
        h, always = held[mask], held["p_always_up"].to_numpy()[mask]
        out: dict[str, Any] = {"sessions": int(mask.sum())}
        for name in ("signal", "price_only", "news_only", "original"):
            p = h[f"p_{name}"].to_numpy()
            position = (
                original_position[mask]
                if name == "original"
                else positions(p, h["mean_abs_move"].to_numpy(), settings)
            )
            out[name] = {
                "calibration": calibration.block(p, up[mask], always),
                "strategy": strategy(h, position, cost_bps),
            }
        out["always_up"] = {
            "calibration": calibration.block(always, up[mask], always),
            "strategy": strategy(h, np.ones(len(h)), cost_bps),
        }
        out["coin_flip"] = {
            "calibration": calibration.block(
                np.full(len(h), 0.5), up[mask], always, calls_up=coin_up[mask]
            ),
            "strategy": strategy(h, np.where(coin_up[mask], 1.0, -1.0), cost_bps),
        }
        results[subset] = out
    summary = {
        "target": target.NAME,
        "target_description": target.DESCRIPTION,
        "first_target": held["target"].min().date().isoformat() if len(held) else None,
        "last_target": held["target"].max().date().isoformat() if len(held) else None,
        "l2": L2,
        "folds": folds,
        "calibration": results["all"]["signal"]["calibration"],
        "held_out": results,
        "reliability": {
            name: calibration.reliability(held[f"p_{name}"].to_numpy(), up)
            for name in ("signal", "price_only", "news_only", "original")
        },
        "thresholds": settings.model_dump(
            include={"weak_probability", "strong_probability", "min_edge_bps"}
        ),
    }
    return summary, held
