"""Walk-forward backtest of the forecast tiers on any daily price history.

``run_backtest(BacktestConfig(...))`` forecasts every next close in a period with each tier
(TFT, N-HITS, statistical) and the baselines (random walk, drift, GARCH, historical quantiles),
each day from data up to that day only, and scores them (``report``, with Diebold-Mariano
tests in ``dm``), trades their signals (``strategy``) and draws them (``charts``). The risk
section (``risk_run``) scores the session's risk forecasts: the risk model against the GARCH
and HAR anchors and the tiers' bands, the high-risk flag, and sizing by risk.
``premarket backtest`` is its command line (``orchestrator.cli.backtest``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from orchestrator.backtest import calibration
from orchestrator.backtest.data import BacktestError, History, load_prices
from orchestrator.backtest.engine import walk_forward
from orchestrator.backtest.machine import machine_info
from orchestrator.backtest.report import Report, summarize
from orchestrator.backtest.report import _clean as report_clean
from orchestrator.backtest.risk_run import risk_backtest
from orchestrator.backtest.tiers import MODEL_TIERS, Tier, load_tiers
from premarket.protocol import RECOMMENDATION_THRESHOLD
from premarket.settings import SignalSettings

__all__ = ["BacktestConfig", "BacktestError", "Report", "load_prices", "run_backtest"]


@dataclass
class BacktestConfig:
    prices: Path
    start: date
    end: date
    symbols: list[str] = field(default_factory=list)
    """Empty: every symbol in the CSV."""
    tiers: Sequence[str] = MODEL_TIERS
    """Model tiers to run; the baselines (random walk, drift, GARCH, historical quantiles) always
    run."""
    cost_bps: float = 5.0
    """Cost of one unit of position change, in basis points of the price."""
    signal_threshold: float = RECOMMENDATION_THRESHOLD
    """|signal_score| a forecast needs to become BUY or SELL (the services' own rule)."""
    history: int = 90
    """Daily rows given to the model tiers per forecast (what the orchestrator sends)."""
    news: bool = False
    """Also backtest the combined signal with the bundled news (``signal_run``)."""
    signal: SignalSettings = field(default_factory=SignalSettings)
    decision_tier: str | None = None
    decision_data: Path | None = None
    state_dir: Path = Path(".premarket")
    """Where headline sentiment scores are cached."""


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
    if config.news:
        from orchestrator.backtest.news_signal import stored_classifier

        stored_classifier()  # a missing sentiment model stops the run now, not after the walk
    run = walk_forward(histories, tiers, config.start, config.end, progress=progress)
    settings = {
        k: str(v) if isinstance(v, Path | date) else v
        for k, v in asdict(config).items()
        if k != "signal"
    }
    settings["tiers_requested"] = list(settings.pop("tiers"))
    settings.update(symbols=list(histories), skipped=skipped, machine=machine_info())
    report = summarize(
        run,
        labels={t.key: t.label for t in tiers},
        provenance={t.key: asdict(t.provenance) for t in tiers if getattr(t, "provenance", None)},
        cost_bps=config.cost_bps,
        signal_threshold=config.signal_threshold,
        settings=settings,
    )
    report.summary["risk"], report.risk_rows = risk_backtest(
        histories, run.predictions, config.start, config.end, config.cost_bps
    )
    report.summary["risk"] = report_clean(report.summary["risk"])
    sessions = calibration.sessions(histories)
    calibration.attach_tier_calibration(report.summary, run.predictions, sessions)
    if config.news:
        from orchestrator.backtest.signal_run import signal_backtest

        report.summary["signal"] = report_clean(
            signal_backtest(
                histories,
                tiers,
                sessions,
                start=config.start,
                end=config.end,
                settings=config.signal,
                cost_bps=config.cost_bps,
                state_dir=config.state_dir,
                decision_tier=config.decision_tier,
                decision_data=config.decision_data,
                progress=progress,
            )  # fmt: skip
        )
    return report
