"""Issue 30.1: the news head trained on returns. Company names are masked, no choice sees the
test year, a real signal in the embeddings is found, the encoder's embedding of a text does not
depend on its batch, and a session's headlines were all published before its open."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from orchestrator.backtest import load_prices
from orchestrator.backtest.data import History
from orchestrator.backtest.news_head import _fold, head_study, masked, window_embeddings
from orchestrator.backtest.news_signal import headline_texts
from orchestrator.data import news
from premarket.data import PRICES_CSV
from premarket.settings import SignalSettings

SETTINGS = SignalSettings()
YEARS = {"start": date(2019, 1, 1), "end": date(2021, 12, 31)}


def test_company_names_and_tickers_are_masked():
    assert masked("AAPL", "Apple and $AAPL beat; Applebee's did not") == (
        "the company and the company beat; Applebee's did not"
    )
    assert masked("MSFT", "Microsoft's cloud grows") == "the company's cloud grows"


def _world(planted: float, seed: int = 3):
    """Decision rows with news and an embedder whose first dimension carries ``planted`` times
    the sign of the session's return (plus noise)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2016-01-04", "2021-12-31")
    rows, texts, vectors = [], {}, {}
    for symbol in ("AAA", "BBB", "CCC", "DDD", "EEE"):
        for i in range(1, len(days), 2):
            move = rng.normal(0, 0.01)
            origin, target = days[i - 1], days[i]
            text = f"story {len(texts)}"
            texts[(symbol, origin)] = [text]
            vector = rng.normal(0, 1, 8)
            vector[0] += planted * np.sign(move)
            vectors[masked(symbol, text)] = vector
            rows.append(
                {"symbol": symbol, "origin": origin, "target": target, "move": move,
                 "up": float(move > 0), "news": 0.0, "articles": 1}
            )  # fmt: skip
    return pd.DataFrame(rows), texts, lambda batch: np.stack([vectors[t] for t in batch])


def test_a_planted_signal_is_found_and_noise_is_not():
    data, texts, embed = _world(planted=1.0)
    found = head_study(data, texts, embed, **YEARS, settings=SETTINGS, cache=None)
    assert found["head"]["brier_skill"] > 0.05
    assert found["head"]["dm_vs_base_rate"]["p_value"] < 0.001
    data, texts, embed = _world(planted=0.0)
    noise = head_study(data, texts, embed, **YEARS, settings=SETTINGS, cache=None)
    assert noise["head"]["brier_skill"] < 0.01  # no skill claimed where there is none


def test_no_choice_sees_the_test_year():
    """Scrambling the test year's outcomes changes no probability of that year."""
    data, texts, embed = _world(planted=1.0)
    index, matrix = window_embeddings(texts, embed, None)
    index["row"] = np.arange(len(index))

    def fold(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.merge(index, on=["symbol", "origin"]).sort_values("target")
        rows = rows.reset_index(drop=True)
        return _fold(rows, matrix[rows["row"].to_numpy()], 2021)

    first = fold(data)
    scrambled = data.copy()
    test = scrambled["target"].dt.year == 2021
    rng = np.random.default_rng(0)
    scrambled.loc[test, "move"] = rng.permutation(scrambled.loc[test, "move"].to_numpy())
    scrambled.loc[test, "up"] = (scrambled.loc[test, "move"] > 0).astype(float)
    again = fold(scrambled)
    for column in ("p_base_rate", "p_news", "p_head", "head_signal", "penalty"):
        assert np.array_equal(first[column].to_numpy(), again[column].to_numpy()), column
    assert not np.array_equal(first["up"].to_numpy(), again["up"].to_numpy())  # they did move


@pytest.mark.slow
def test_an_embedding_does_not_depend_on_its_batch(tiny_models):
    from models.sentiment.default import load_default

    model = load_default(tag=tiny_models["sentiment"])
    texts = ["Apple beats estimates", "Tesla recalls cars over a brake fault in older models", "x"]
    together = model.embed(texts).numpy()
    alone = np.stack([model.embed([t]).numpy()[0] for t in texts])
    assert together.shape == (3, alone.shape[1]) and np.allclose(together, alone, atol=1e-5)


def test_a_sessions_headlines_were_all_published_before_its_open(monkeypatch):
    """The windows the head and the 3-class feature read (``headline_texts``) end at the close
    of the session before the scored one: a headline of every calendar day is planted, dated in
    its text, and each session sees only days up to its origin, never its own day."""
    months = (np.datetime64("2021-03-01"), np.datetime64("2021-05-01"))
    full = load_prices(PRICES_CSV, ["MSFT"])["MSFT"]
    keep = (full.dates >= months[0]) & (full.dates < months[1])
    history = History("MSFT", full.dates[keep], full.rows[keep])
    days = pd.date_range("2021-02-20", "2021-05-10").date
    planted = {day: {"MSFT": [f"Microsoft headline of {day.isoformat()}"]} for day in days}
    monkeypatch.setattr(news, "_ticker_headlines", lambda: planted)
    monkeypatch.setattr(news, "_general_headlines", lambda: {})

    windows = headline_texts({"MSFT": history}, max_articles=10, article_chars=500)

    sessions = [pd.Timestamp(d) for d in history.dates]
    assert len(windows) == len(sessions) - 1  # every session after the first has a window
    for (_, origin), texts in windows.items():
        at = sessions.index(origin)
        target = sessions[at + 1] if at + 1 < len(sessions) else origin + pd.offsets.BDay()
        dated = {pd.Timestamp(t.rsplit(" ", 1)[1]) for t in texts}
        assert max(dated) == origin < target, (origin, sorted(dated))  # the scored session
        previous = sessions[at - 1]
        assert min(dated) == previous + pd.Timedelta(days=1)  # weekends join the next window
