"""The decision model: a calibrated probability that the next session moves up.

It is a logistic regression (Platt scaling of a linear score) on two features that every price
tier and the news can supply:

- ``price_edge``: the price model's predicted log return divided by the log width of its
  p10-p90 band, a signal-to-noise ratio that means the same for every tier (a TFT and the
  statistical fallback predict moves of very different sizes, but in units of their own band
  they are comparable); 0 when a forecast has no band;
- ``news``: the mean sentiment of the articles times ``min(articles, max_articles) /
  max_articles``, so one headline counts a third of three that agree; 0 without news.

The coefficients are constrained to be non-negative. Then the probability never falls when the
price forecast or the news turns more bullish, and because the logit is a sum, news that
disagrees with the price gives a probability between the two single-input ones: it can only
make the signal less certain. When the data want a negative weight, the weight is 0 and the fit
says so (``zeroed``). The target is :mod:`premarket.target`'s (open to close).

Fitting and evaluating are plain numpy, so the model layer fits it and the orchestrator (which
never imports torch) evaluates the exported JSON with the same code.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from premarket import target
from premarket.jsonfile import JsonFile

FEATURES = ("price_edge", "news")
L2 = 20.0
"""Ridge penalty on the standardised weights (not the intercept): shrinks noise-level weights
toward 0, so a feature with no measured edge moves the probability very little."""
MIN_ROWS = 500
"""A feature non-zero on fewer training rows than this keeps weight 0. Without this rule the
first walk-forward fold (test 2018) fitted the news weight on the two weeks of December 2017
headlines, and its wild weight made the held-out Brier score worse than always-up's."""


NewsWindow = Literal["previous_session", "overnight"]
"""``previous_session``: headlines published after the close before the last bar, up to the last
bar's close (all a dated headline set can place); ``overnight``: since the last bar's close."""
NewsText = Literal["title", "title_summary"]


class Inputs(BaseModel):
    """What the features were computed from when the model was fitted. A run whose inputs
    differ in a feature that carries weight gets the base rate instead of a probability."""

    price_tier: str
    sentiment_model: str | None
    """The sentiment build's recipe (``models.sentiment.recipe``) that scored the fit's news."""
    news_window: NewsWindow
    news_text: NewsText


class RunInputs(BaseModel):
    """The same facts for one symbol of a run."""

    price_tier: str
    sentiment_source: str
    """``model``, ``lexicon``, ``no_news`` or ``unavailable`` (the news component's source)."""
    sentiment_model: str | None
    news_window: NewsWindow | None
    """None: not recorded (a document from before the field)."""
    news_text: NewsText | None


def price_edge(predicted: np.ndarray, current: np.ndarray, p10: np.ndarray, p90: np.ndarray):
    """Predicted log return over the log width of the p10-p90 band (0 where there is no band)."""
    predicted, current = np.asarray(predicted, float), np.asarray(current, float)
    p10, p90 = np.asarray(p10, float), np.asarray(p90, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.log(p90 / p10)
        edge = np.log(predicted / current) / width
    return np.where(np.isfinite(edge) & (width > 0), edge, 0.0)


def news_feature(sentiment: np.ndarray, articles: np.ndarray, max_articles: int) -> np.ndarray:
    """Mean sentiment weighted by how many of the ``max_articles`` slots had an article."""
    count = np.minimum(np.asarray(articles, float), max_articles)
    return np.asarray(sentiment, float) * count / max_articles


def feature_matrix(
    predicted, current, p10, p90, sentiment, articles, max_articles: int
) -> np.ndarray:
    """The ``[n, 2]`` feature matrix in :data:`FEATURES` order."""
    return np.column_stack(
        [price_edge(predicted, current, p10, p90), news_feature(sentiment, articles, max_articles)]
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, float)))


class DecisionModel(JsonFile):
    """A fitted model, as exported to JSON and evaluated by the orchestrator."""

    version: str
    target: str = target.NAME
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    intercept: float
    coefficients: list[float]
    mean_abs_move: float = Field(gt=0, description="Mean |open-to-close return| of the fit rows.")
    max_articles: int = 3
    inputs: Inputs
    fit: dict[str, Any] = Field(default_factory=dict)
    """Provenance: rows, date range, penalty, zeroed weights and the held-out walk-forward
    scores."""

    @property
    def base_rate(self) -> float:
        """The share of up sessions in the fit: the probability when nothing else is known."""
        if "up_rate" in self.fit:
            return float(self.fit["up_rate"])
        return float(self.probability_up(np.zeros(len(self.features)))[0])

    def mismatch(self, run: RunInputs) -> str | None:
        """Why ``run`` does not feed the features the model was fitted on (None: it does).
        Only features with a non-zero weight count: a zero-weight input changes nothing."""
        weight = dict(zip(self.features, self.coefficients, strict=True))
        fitted = self.inputs
        if weight.get("price_edge", 0.0) and run.price_tier != fitted.price_tier:
            return f"price from the {run.price_tier} tier, fitted on {fitted.price_tier}"
        if not weight.get("news", 0.0):
            return None
        if run.news_window != fitted.news_window or run.news_text != fitted.news_text:
            return (
                f"news read as {run.news_text or 'unrecorded text'} over the "
                f"{run.news_window or 'unrecorded'} window, "
                f"fitted on {fitted.news_text} over the {fitted.news_window} window"
            )
        if "lexicon" in run.sentiment_source:
            return "news scored by the lexicon fallback, not the model"
        if run.sentiment_source == "model" and run.sentiment_model != fitted.sentiment_model:
            scored = run.sentiment_model or "a sentiment model that does not name its build"
            return f"news scored by {scored}, fitted on {fitted.sentiment_model}"
        return None

    def logit(self, x: np.ndarray) -> np.ndarray:
        return self.intercept + np.atleast_2d(np.asarray(x, float)) @ np.asarray(self.coefficients)

    def probability_up(self, x: np.ndarray) -> np.ndarray:
        """P(session up) for each row of ``x`` (columns in ``features`` order)."""
        return sigmoid(self.logit(x))

    def expected_edge(self, probability_up: np.ndarray) -> np.ndarray:
        """Expected open-to-close gain of following the more likely direction, as a fraction:
        ``(2·max(p, 1-p) - 1)`` times the typical size of a session's move."""
        p = np.asarray(probability_up, float)
        return (2.0 * np.maximum(p, 1.0 - p) - 1.0) * self.mean_abs_move


def _newton(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 100) -> np.ndarray:
    """Penalised maximum likelihood (intercept first, unpenalised) by Newton's method."""
    design = np.column_stack([np.ones(len(x)), x])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = sigmoid(design @ w)
        grad = design.T @ (p - y) + penalty * w
        hess = (
            (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(len(w))
        )
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


def _loss(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> float:
    z = w[0] + x @ w[1:]
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(w[1:] ** 2))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = L2, min_rows: int = MIN_ROWS
) -> tuple[float, np.ndarray, list[int]]:
    """Intercept, non-negative weights and the indices of weights held at 0.

    Features are standardised (divided by their standard deviation) for the penalty, then the
    weights are put back in the original units. The constraint is solved exactly by fitting
    every subset of free features and keeping the best fit whose weights are all >= 0 (two
    features: four small fits). Features non-zero on fewer than ``min_rows`` rows stay at 0.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = x / scale
    best: tuple[float, np.ndarray] | None = None
    k = x.shape[1]
    eligible = [j for j in range(k) if np.count_nonzero(x[:, j]) >= min_rows]
    for size in range(len(eligible), -1, -1):
        for free in itertools.combinations(eligible, size):
            w_free = _newton(z[:, free], y, l2)
            if np.any(w_free[1:] < 0):
                continue
            w = np.zeros(k + 1)
            w[0] = w_free[0]
            w[[i + 1 for i in free]] = w_free[1:]
            loss = _loss(z, y, w, l2)
            if best is None or loss < best[0] - 1e-12:
                best = (loss, w)
    assert best is not None  # the empty subset (intercept only) is always feasible
    w = best[1]
    weights = w[1:] / scale
    return float(w[0]), weights, [i for i in range(k) if weights[i] == 0.0]


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    moves: np.ndarray,
    *,
    version: str,
    inputs: Inputs,
    l2: float = L2,
    min_rows: int = MIN_ROWS,
    **fit: Any,
) -> DecisionModel:
    """Fit on rows ``x`` with outcomes ``y`` (1 = session up) and session returns ``moves``,
    whose features were computed from ``inputs``."""
    intercept, weights, zeroed = fit_logistic(x, y, l2, min_rows)
    fit["min_rows"] = min_rows
    return DecisionModel(
        version=version,
        intercept=intercept,
        coefficients=[float(w) for w in weights],
        mean_abs_move=float(np.mean(np.abs(moves))),
        inputs=inputs,
        fit={
            "rows": len(y),
            "up_rate": float(np.mean(y)),
            "l2": l2,
            "zeroed": [FEATURES[i] for i in zeroed],
            **fit,
        },
    )
