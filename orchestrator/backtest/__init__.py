"""Walk-forward backtest of the forecast tiers on any daily price history.

``run_backtest(BacktestConfig(...))`` forecasts every next close in a period with each tier
(TFT, N-HITS, statistical) and two baselines (random walk, drift), each day from data up to that
day only, and scores them (``report``), trades their signals (``strategy``) and draws them
(``charts``). ``premarket backtest`` is its command line (``cli``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from orchestrator.backtest.data import BacktestError, History, load_prices
from orchestrator.backtest.engine import walk_forward
from orchestrator.backtest.machine import machine_info
from orchestrator.backtest.report import Report, summarize
from orchestrator.backtest.tiers import MODEL_TIERS, Tier, load_tiers
from premarket.protocol import RECOMMENDATION_THRESHOLD

__all__ = ["BacktestConfig", "BacktestError", "Report", "load_prices", "run_backtest"]


@dataclass
class BacktestConfig:
    prices: Path
    start: date
    end: date
    symbols: list[str] = field(default_factory=list)
    """Empty: every symbol in the CSV."""
    tiers: Sequence[str] = MODEL_TIERS
    """Model tiers to run; the random-walk and drift baselines always run."""
    cost_bps: float = 5.0
    """Cost of one unit of position change, in basis points of the price."""
    signal_threshold: float = RECOMMENDATION_THRESHOLD
    """|signal_score| a forecast needs to become BUY or SELL (the services' own rule)."""
    history: int = 90
    """Daily rows given to the model tiers per forecast (what the orchestrator sends)."""


def run_backtest(
    config: BacktestConfig,
    *,
    progress: bool = True,
    tiers: Sequence[Tier] | None = None,
    histories: dict[str, History] | None = None,
) -> Report:
    """Run the walk forward and score it; ``tiers``/``histories`` replace the loaded ones."""
    skipped: dict[str, str] = {}
    if tiers is None:
        tiers, skipped = load_tiers(config.tiers, config.history)
    if histories is None:
        histories = load_prices(config.prices, config.symbols)
    run = walk_forward(histories, tiers, config.start, config.end, progress=progress)
    settings = {k: str(v) if isinstance(v, Path | date) else v for k, v in asdict(config).items()}
    settings["tiers_requested"] = list(settings.pop("tiers"))
    settings.update(symbols=list(histories), skipped=skipped, machine=machine_info())
    return summarize(
        run,
        labels={t.key: t.label for t in tiers},
        provenance={t.key: asdict(t.provenance) for t in tiers if getattr(t, "provenance", None)},
        cost_bps=config.cost_bps,
        signal_threshold=config.signal_threshold,
        settings=settings,
    )
