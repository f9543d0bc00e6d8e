"""The decision layer: its probability is the fitted model's math, monotone, never made more
certain by disagreeing news, scored without look-ahead, and calibration scores that are right."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.backtest import calibration, load_prices
from orchestrator.backtest.data import History
from orchestrator.backtest.engine import walk_forward
from orchestrator.backtest.news_signal import news_table
from orchestrator.backtest.signal_eval import decision_dataset, evaluate_signal
from orchestrator.backtest.tiers import Statistical
from orchestrator.documents.run import SentimentAnalysis
from orchestrator.signals.calibrated import BUNDLED_MODEL, action_of, calibrated
from orchestrator.signals.combine import combine
from premarket import target
from premarket.data import PRICES_CSV
from premarket.decision import DecisionModel, Inputs, fit_logistic, fit_model, sigmoid
from premarket.protocol import ForecastResult, PriceForecast
from premarket.settings import SignalSettings

FITTED_ON = Inputs(
    price_tier="tft",
    sentiment_model="sentiment-recipe:hand",
    news_window="previous_session",
    news_text="title",
)
HAND = DecisionModel(
    version="hand",
    intercept=0.1,
    coefficients=[0.5, 0.8],
    mean_abs_move=0.01,
    inputs=FITTED_ON,
    fit={"up_rate": 0.514},
)


def forecast(predicted: float, p10: float = 97.0, p90: float = 103.0) -> ForecastResult:
    return ForecastResult.build(
        PriceForecast(
            current_price=100.0,
            forecast_path=[predicted],
            quantiles={"p10": p10, "p50": predicted, "p90": p90},
            confidence=0.55,
            model_version="t",
        ),
        symbol="AAPL",
        model_used="TFT (Primary)",
        inference_time_ms=1.0,
    )


def news(score: float, articles: int, **inputs) -> SentimentAnalysis:
    """A news component read as the hand model's fit was (``inputs`` change that)."""
    return SentimentAnalysis(
        sentiment="NEUTRAL", signal=score, confidence=0.5, recommendation="HOLD",
        source="model" if articles else "no_news", article_count=articles, articles=[],
        model="sentiment-recipe:hand" if articles else None, news_window="previous_session",
        news_text="title",
    ).model_copy(update=inputs)  # fmt: skip


@pytest.fixture
def hand_settings(tmp_path: Path) -> SignalSettings:
    return SignalSettings(decision_model=HAND.save(tmp_path / "hand.json"))


@pytest.mark.parametrize(
    ("predicted", "score", "articles"),
    [(101.0, 0.6, 2), (99.0, -0.9, 5), (100.0, 0.0, 0), (102.5, -0.3, 1)],
)
def test_probability_is_the_fitted_models_math(hand_settings, predicted, score, articles) -> None:
    edge = math.log(predicted / 100.0) / math.log(103.0 / 97.0)
    news_x = score * min(articles, 3) / 3
    expected = 1.0 / (1.0 + math.exp(-(0.1 + 0.5 * edge + 0.8 * news_x)))
    decision = calibrated(forecast(predicted), news(score, articles), hand_settings, "tft")
    assert decision.probability_up == pytest.approx(expected, abs=1e-4)
    assert decision.confidence == pytest.approx(max(expected, 1 - expected), abs=1e-4)
    assert decision.calibrated
    assert decision.signal_score == pytest.approx(2 * expected - 1, abs=1e-4)


def test_original_mode_is_still_selectable(hand_settings) -> None:
    original = combine(
        forecast(101.0),
        news(0.5, 1),
        hand_settings.model_copy(update={"mode": "original"}),
        "tft",
    )
    assert not original.calibrated and original.probability_up is None
    assert original.confidence == pytest.approx(0.6 * 0.55 + 0.4 * 0.5)


def test_actions_follow_probability_and_edge() -> None:
    s = SignalSettings(weak_probability=0.53, strong_probability=0.56, min_edge_bps=10)
    assert action_of(0.57, 0.0015, s) == "BUY STRONG"
    assert action_of(0.54, 0.0015, s) == "BUY WEAK"
    assert action_of(0.46, 0.0015, s) == "SELL WEAK"
    assert action_of(0.54, 0.0005, s) == "HOLD NEUTRAL"  # edge below costs
    assert action_of(0.52, 0.0015, s) == "HOLD NEUTRAL"


@given(a=st.floats(90, 110), b=st.floats(90, 110), s=st.floats(-1, 1), n=st.integers(0, 6))
@settings(max_examples=60, deadline=None)
def test_monotone_in_price_and_news(a, b, s, n) -> None:
    lo, hi = sorted((a, b))
    x = np.array([[math.log(lo / 100) / math.log(103 / 97), s * min(n, 3) / 3],
                  [math.log(hi / 100) / math.log(103 / 97), s * min(n, 3) / 3]])  # fmt: skip
    p = HAND.probability_up(x)
    assert p[0] <= p[1]
    more_bullish = np.array([[0.0, min(1.0, s + 0.1) * min(n, 3) / 3]])
    assert (
        HAND.probability_up(np.array([[0.0, s * min(n, 3) / 3]]))[0]
        <= HAND.probability_up(more_bullish)[0]
    )


def synthetic(n: int, w_price: float, w_news: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(0, 0.3, n), rng.normal(0, 0.5, n) * (rng.random(n) < 0.7)])
    y = (rng.random(n) < sigmoid(0.05 + w_price * x[:, 0] + w_news * x[:, 1])).astype(float)
    return x, y


@given(seed=st.integers(0, 10_000), wp=st.floats(-2, 2), wn=st.floats(-2, 2))
@settings(max_examples=25, deadline=None)
def test_disagreeing_news_never_makes_a_fitted_signal_more_certain(seed, wp, wn) -> None:
    x, y = synthetic(800, wp, wn, seed)
    intercept, w, _ = fit_logistic(x, y)
    assert (w >= 0).all()
    rng = np.random.default_rng(seed + 1)
    edge, sentiment = rng.uniform(0, 1, 50), -rng.uniform(0, 1, 50)  # price up, news down
    for e, s in zip(edge, sentiment, strict=True):
        both, price, alone = (sigmoid(intercept + w @ v) for v in ([e, s], [e, 0], [0, s]))
        conf = lambda p: max(p, 1 - p)  # noqa: E731
        assert conf(both) <= max(conf(price), conf(alone)) + 1e-12


def test_fit_matches_an_independent_optimiser() -> None:
    scipy_optimize = pytest.importorskip("scipy.optimize")
    x, y = synthetic(3000, 1.5, -1.0, seed=3)  # the news weight wants to be negative
    intercept, w, zeroed = fit_logistic(x, y, l2=5.0)
    scale = x.std(axis=0)

    def loss(v):
        z = v[0] + (x / scale) @ v[1:]
        return np.sum(np.logaddexp(0, z) - y * z) + 2.5 * np.sum(v[1:] ** 2)

    best = scipy_optimize.minimize(
        loss, np.zeros(3), method="L-BFGS-B", bounds=[(None, None), (0, None), (0, None)]
    )
    assert intercept == pytest.approx(best.x[0], abs=1e-4)
    np.testing.assert_allclose(w, best.x[1:] / scale, atol=1e-4)
    assert zeroed == [1] and w[1] == 0.0


def test_calibration_scores_on_hand_made_cases() -> None:
    confidence = np.array([0.6, 0.6, 0.8, 0.8])
    right = np.array([1.0, 0.0, 1.0, 1.0])
    assert calibration.ece(confidence, right) == pytest.approx((2 * 0.1 + 2 * 0.2) / 4)
    assert calibration.brier(np.array([0.6, 0.3]), np.array([1.0, 0.0])) == pytest.approx(
        (0.16 + 0.09) / 2
    )
    block = calibration.block(np.array([0.6, 0.4, 0.7]), np.array([1.0, 1.0, 1.0]), 0.5)
    assert block["hit_rate"] == pytest.approx(2 / 3)  # the 0.4 calls DOWN on an up session
    assert block["always_up_brier"] == pytest.approx(0.25)
    assert target.moved_up([10, 10, 10], [11, 10, 9]).tolist() == [1.0, 0.0, 0.0]


def test_bundled_model_is_a_valid_non_negative_fit() -> None:
    model = DecisionModel.load(BUNDLED_MODEL)
    assert model.target == target.NAME
    assert all(w >= 0 for w in model.coefficients)
    assert model.fit["rows"] > 10_000 and "held_out" in model.fit


def test_bundled_model_was_fitted_on_what_a_default_run_feeds_it() -> None:
    """The sentiment build ``make demo`` makes, the window and the text form a default live run
    reads: a change to the sentiment recipe without a refit of the decision model fails here."""
    from models.sentiment.train import default_recipe
    from orchestrator.backtest.news_signal import NEWS_TEXT, NEWS_WINDOW

    fitted = DecisionModel.load(BUNDLED_MODEL).inputs
    defaults = SignalSettings()
    assert fitted.sentiment_model == default_recipe()
    assert (fitted.news_window, fitted.news_text) == (defaults.news_window, defaults.news_text)
    assert (fitted.news_window, fitted.news_text) == (NEWS_WINDOW, NEWS_TEXT)


@pytest.mark.parametrize(
    ("tier", "inputs", "why"),
    [
        ("tft", {"source": "lexicon", "model": None}, "lexicon fallback"),
        ("tft", {"model": "sentiment-recipe:other"}, "sentiment-recipe:other"),
        ("tft", {"model": None}, "does not name its build"),
        ("tft", {"news_window": "overnight"}, "overnight window"),
        ("tft", {"news_text": "title_summary"}, "title_summary"),
        ("nhits", {}, "nhits tier"),
    ],
)
def test_inputs_unlike_the_fits_give_the_base_rate(hand_settings, tier, inputs, why) -> None:
    decision = calibrated(forecast(103.0), news(0.9, 3, **inputs), hand_settings, tier)
    assert not decision.calibrated and why in decision.uncalibrated_reason
    assert decision.probability_up == pytest.approx(0.514) and decision.action == "HOLD NEUTRAL"
    assert "base rate 51.4%" in decision.reasoning
    same = calibrated(forecast(103.0), news(0.9, 3), hand_settings, "tft")
    assert same.calibrated and same.uncalibrated_reason is None and same.probability_up > 0.6


def test_an_input_without_weight_may_differ(tmp_path: Path) -> None:
    """News-only models ignore the tier; price-only ones ignore how news was read."""
    news_only = HAND.model_copy(update={"coefficients": [0.0, 0.8]})
    price_only = HAND.model_copy(update={"coefficients": [0.5, 0.0]})
    for name, model, tier, inputs in (
        ("news", news_only, "statistical", {}),
        ("price", price_only, "tft", {"source": "lexicon", "news_window": "overnight"}),
    ):
        settings = SignalSettings(decision_model=model.save(tmp_path / f"{name}.json"))
        assert calibrated(forecast(103.0), news(0.9, 3, **inputs), settings, tier).calibrated


def _corrupted(history: History, cut: int, rng) -> History:
    rows = history.rows.copy()
    rows[cut + 1 :, :4] *= rng.uniform(0.5, 2.0, (len(rows) - cut - 1, 1))
    return History(symbol=history.symbol, dates=history.dates, rows=rows)


def test_no_look_ahead_in_the_walk_forward_signal() -> None:
    histories = {
        s: History(s, h.dates[h.dates < np.datetime64("2020-01-01")], h.rows[h.dates < np.datetime64("2020-01-01")])
        for s, h in load_prices(PRICES_CSV, ["MSFT", "TSLA"]).items()
    }  # fmt: skip
    cut_day = np.datetime64("2019-06-28")
    cut = int(np.flatnonzero(histories["MSFT"].dates == cut_day)[0])
    rng = np.random.default_rng(0)
    corrupted = {s: _corrupted(h, cut, rng) for s, h in histories.items()}

    def fake_scorer(texts: list[str]) -> list[float]:
        return [(len(t) % 7 - 3) / 3 for t in texts]

    def held(hs: dict[str, History]) -> pd.DataFrame:
        run = walk_forward(
            hs, [Statistical()], date(2015, 1, 2), date(2019, 12, 31), progress=False
        )
        table = news_table(hs, max_articles=3, article_chars=500, scorer=fake_scorer, cache=None)
        data = decision_dataset(run.predictions, table, calibration.sessions(hs), 3)
        _, out = evaluate_signal(
            data,
            start=date(2018, 1, 1),
            end=date(2019, 12, 31),
            settings=SignalSettings(),
            cost_bps=5,
        )
        return out

    before, after = held(histories), held(corrupted)
    keep = lambda f: f[f["target"] <= pd.Timestamp(cut_day)].reset_index(drop=True)  # noqa: E731
    columns = [
        "symbol",
        "target",
        "p_signal",
        "p_price_only",
        "p_news_only",
        "p_always_up",
        "p_original",
    ]
    assert (before["articles"] > 0).sum() > 100
    pd.testing.assert_frame_equal(keep(before)[columns], keep(after)[columns])
    later = lambda f: f[f["target"] > pd.Timestamp(cut_day)]["p_original"].to_numpy()  # noqa: E731
    assert not np.allclose(later(before), later(after))  # the comparison can fail


def test_fit_model_records_what_it_was_fitted_on() -> None:
    x, y = synthetic(1000, 1.0, 1.0)
    model = fit_model(x, y, np.full(1000, 0.01), version="v", inputs=FITTED_ON)
    assert model.fit["rows"] == 1000 and model.inputs == FITTED_ON
    assert model.mean_abs_move == pytest.approx(0.01)
    assert model.fit["min_rows"] == 500 and model.fit["zeroed"] == []


def test_fit_model_keeps_features_with_too_few_rows_at_zero() -> None:
    x, y = synthetic(1000, 1.0, 1.0)
    model = fit_model(x, y, np.full(1000, 0.01), version="v", inputs=FITTED_ON, min_rows=2000)
    assert model.coefficients == [0.0, 0.0] and model.fit["min_rows"] == 2000
    assert model.fit["zeroed"] == ["price_edge", "news"]


def test_every_tier_carries_a_calibration_block() -> None:
    from orchestrator.backtest import BacktestConfig, run_backtest
    from orchestrator.backtest.tiers import Drift, RandomWalk

    report = run_backtest(
        BacktestConfig(
            prices=PRICES_CSV, start=date(2023, 10, 2), end=date(2023, 12, 29), symbols=["MSFT"]
        ),
        progress=False,
        tiers=[Statistical(), RandomWalk(), Drift()],
    )
    for key, tier in report.summary["tiers"].items():
        block = tier["calibration"]
        assert block["sessions"] == 63, key
        assert 0 <= block["ece"] <= 1 and 0 <= block["brier"] <= 1
        assert block["always_up_brier"] == pytest.approx(
            np.mean((block["always_up_probability"] - _msft_up()) ** 2)
        )
    # The random walk never calls a direction: it says 50% and its Brier score is exactly 0.25.
    assert report.summary["tiers"]["random_walk"]["calibration"]["brier"] == pytest.approx(0.25)


def _msft_up() -> np.ndarray:
    history = load_prices(PRICES_CSV, ["MSFT"])["MSFT"]
    keep = (history.dates >= np.datetime64("2023-10-02")) & (
        history.dates <= np.datetime64("2023-12-29")
    )
    return target.moved_up(history.rows[keep, 0], history.rows[keep, 3])


def test_news_backtest_without_a_sentiment_model_is_one_clear_line(tmp_path):
    """In a process of its own, with an empty model store and no cached scores (BentoML keeps
    the store it first opened for the life of a process)."""
    from orchestrator_stubs import run_cli

    done = run_cli(
        tmp_path,
        "backtest", "--symbols", "MSFT", "--start", "2022-09-01", "--end", "2022-09-20",
        "--tiers", "statistical", "--news", "--no-progress",
        env={"BENTOML_HOME": str(tmp_path / "empty-store")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip().splitlines()
    assert err[-1].startswith("error: --news:") and "sentiment" in err[-1]


def test_a_feature_seen_on_too_few_rows_keeps_weight_zero() -> None:
    x, y = synthetic(3000, 1.0, 0.0)
    x[:, 1] = 0.0
    x[:40, 1] = np.where(y[:40] > 0, 1.0, -1.0)  # a perfect but tiny news sample
    _, w, zeroed = fit_logistic(x, y)
    assert w[1] == 0.0 and 1 in zeroed
    _, w, _ = fit_logistic(x, y, min_rows=20)
    assert w[1] > 0  # the same rows with the floor lowered: the weight is fitted


def test_paper_trading_follows_a_calibrated_action_below_the_original_floor() -> None:
    import run_documents as documents

    from orchestrator.tracking.paper import PaperTrader
    from premarket.settings import PaperSettings

    def run(run_id: str, **extra) -> object:
        doc = documents.signal(100.0, action="BUY WEAK", confidence=0.545) | extra
        return documents.make_run(
            run_id, "2024-07-01", "2024-07-01T10:30:00.000Z", signals={"AAPL": doc}
        )

    trader = PaperTrader(PaperSettings())  # min_confidence 0.65
    book = trader.new_book()
    assert trader.apply_run(book, run("original")) == []
    assert trader.apply_run(book, run("calibrated", calibrated=True, probability_up=0.545))
    assert "AAPL" in book.pending
