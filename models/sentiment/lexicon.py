"""The fallback when no checkpoint loads: a small finance-aware word list, labelled "lexicon".

Origin and licence: the word list below was written for this project (Apache-2.0, like the rest
of the repository) from common market-news wording: analyst actions (upgrade, downgrade, price
target raised/cut), results (beats, misses, guidance), price moves (surges, slumps) and corporate
events (buyback, lawsuit, recall, bankruptcy). The well-known finance dictionaries
(Loughran-McDonald, for one) are free for academic use only, so none of them is copied here.

Scoring: each word (or phrase) found adds its weight to the positive or negative side; a negator
("not", "no", "fails to", ...) up to three words before flips it. The two sums and a constant
neutral bias go through a softmax, so a headline with no market words comes out neutral and
every output carries all three labels with probabilities, like the model's.
"""

from __future__ import annotations

import math
import re

from models.sentiment.text import check_texts, clean
from premarket.protocol import SentimentScores


def _tiers(tiers: dict[float, str]) -> dict[str, float]:
    """Word -> weight from comma-separated lists per weight (easier to review than pairs)."""
    return {w.strip(): weight for weight, words in tiers.items() for w in words.split(",")}


POSITIVE = _tiers(
    {
        1.5: (
            "upgrade, upgrades, upgraded, bullish, price target raised, "
            "raises price target, raised to buy, raised to outperform, raises guidance, "
            "raises outlook, raises forecast, soar, soars, soared"
        ),
        1.2: (
            "outperform, top pick, beat, beats, surge, surges, surged, all-time high, "
            "dividend hike, raises dividend"
        ),
        1.0: (
            "overweight, tops, exceeds, exceeded, boosts, jump, jumps, jumped, rally, "
            "rallies, rallied, buyback, optimism, optimistic, upbeat"
        ),
        0.8: (
            "buy, record, profitable, strong, stronger, robust, gain, gains, gained, "
            "climb, climbs, climbed, rebound, rebounds, approval, approved, wins, "
            "positive"
        ),
        0.6: "profit, growth, grows, expands, rise, rises, rose, higher, highs, win, recovery",
        0.5: "partnership",
        0.4: "high",
        0.3: "up, deal",
    }
)

NEGATIVE = _tiers(
    {
        2.0: "bankruptcy, bankrupt",
        1.5: (
            "downgrade, downgrades, downgraded, bearish, price target cut, "
            "cuts price target, lowers price target, cuts guidance, lowers guidance, "
            "cuts outlook, plunge, plunges, plunged, crash, crashes, fraud"
        ),
        1.2: (
            "underperform, cut to, cuts to, lowered to, miss, misses, missed, warns, "
            "disappointing, disappoints, tumble, tumbles, tumbled, slump, slumps, slumped, "
            "selloff, sell-off, default"
        ),
        1.0: (
            "underweight, warning, weak, weaker, weakness, shortfall, sink, sinks, sank, "
            "lawsuit, sues, sued, probe, investigation, recall, recalls, layoffs, "
            "cuts jobs, fined, recession"
        ),
        0.8: (
            "sell, loss, losses, decline, declines, slowdown, drop, drops, dropped, slide, "
            "slides, slid, halts, suspends, fears, negative"
        ),
        0.6: "fall, falls, fell, lower, lows, delay, delays, concern, concerns",
        0.4: "low, risk",
        0.3: "down",
    }
)

NEGATORS = frozenset({"not", "no", "never", "without", "fails", "failed", "hardly", "isn't"})
NEGATION_REACH = 3
NEUTRAL_BIAS = 0.5
"""One positive word of weight 1 outweighs it; a text without market words stays neutral."""
SHARPNESS = 2.0

_WORD = re.compile(r"[a-z][a-z'\-]*")
_LONGEST_PHRASE = max(len(k.split()) for k in (*POSITIVE, *NEGATIVE))


class LexiconClassifier:
    """Scores texts with the word list above; ``source`` is "lexicon" in every answer."""

    source = "lexicon"
    version = "lexicon-1"
    tokens_per_s: float | None = None
    max_length = 5000
    """Characters considered per text (the protocol's limit): the lexicon does not truncate."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        """Why the word list answers instead of a model (None when it was chosen on purpose)."""

    def work_of(self, texts: list[str]) -> int:
        """About four characters a unit, as a tokenizer would count (the service's queue)."""
        return sum(len(t) // 4 + 1 for t in texts)

    def predict(self, texts: list[str]) -> list[SentimentScores]:
        """Every label with its probability, highest first, for each text (in input order)."""
        check_texts(texts)
        return [self._score(text) for text in texts]

    def polarity(self, text: str) -> tuple[float, float]:
        """The summed (positive, negative) weights of the market words in ``text``."""
        words = _WORD.findall(clean(text).lower())
        totals = {"positive": 0.0, "negative": 0.0}
        i = 0
        while i < len(words):
            for size in range(min(_LONGEST_PHRASE, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + size])
                side = (
                    "positive" if phrase in POSITIVE else "negative" if phrase in NEGATIVE else None
                )
                if side is None:
                    continue
                weight = POSITIVE.get(phrase) or NEGATIVE[phrase]
                if any(w in NEGATORS for w in words[max(0, i - NEGATION_REACH) : i]):
                    side = "negative" if side == "positive" else "positive"
                totals[side] += weight
                i += size - 1
                break
            i += 1
        return totals["positive"], totals["negative"]

    def _score(self, text: str) -> SentimentScores:
        pos, neg = self.polarity(text)
        logits = {"positive": pos, "negative": neg, "neutral": NEUTRAL_BIAS}
        top = max(logits.values())
        exp = {k: math.exp(SHARPNESS * (v - top)) for k, v in logits.items()}
        total = sum(exp.values())
        ranked = sorted(exp.items(), key=lambda x: -x[1])
        return SentimentScores(
            labels=[k for k, _ in ranked],
            scores=[round(v / total, 6) for _, v in ranked],
            source=self.source,
        )
