"""PNG charts of a backtest (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.backtest.metrics import level_of
from orchestrator.backtest.report import BUY_AND_HOLD, Report, quantile_columns
from orchestrator.backtest.strategy import TRADE
from orchestrator.common.charts import pyplot, save

FAN_DAYS = 120
"""The fan chart shows the last this-many target days, so the band stays readable."""


def _label(report: Report, key: str) -> str:
    tiers = report.summary["tiers"]
    return tiers[key]["label"] if key in tiers else "Buy and hold"


def equity_chart(report: Report, path: Path) -> Path:
    """Equal-weight equity of each tier's strategy against buy-and-hold."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for key, curve in report.equity.items():
        style = {"color": "black", "linewidth": 2} if key == BUY_AND_HOLD else {}
        ax.plot(curve.index, curve.to_numpy(), label=_label(report, key), **style)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_title(
        f"Strategy equity, {TRADE}\n(long BUY, short SELL, flat HOLD; "
        f"{report.summary['cost_bps']:g} bp per trade)"
    )
    ax.set_ylabel("growth of 1")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save(fig, path)


def banded_tiers(report: Report) -> list[str]:
    """Tiers whose forecasts carry a p10-p90 band."""
    return [
        key
        for key, tier in report.summary["tiers"].items()
        if tier["overall"]["coverage_p10_p90"] is not None
    ]


def fan_chart(report: Report, symbol: str, path: Path) -> Path | None:
    """Actual closes against each banded tier's median and bands, for one symbol."""
    keys = banded_tiers(report)
    if not keys:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(keys), 1, figsize=(10, 3.2 * len(keys)), squeeze=False)
    frame = report.predictions
    for ax, key in zip(axes[:, 0], keys, strict=True):
        part = frame[(frame["tier"] == key) & (frame["symbol"] == symbol)].tail(FAN_DAYS)
        part = part.dropna(axis=1, how="all")
        bands = sorted(quantile_columns(part), key=level_of)
        for lower, upper, alpha in _band_pairs(bands):
            ax.fill_between(
                part["target"], part[lower], part[upper], alpha=alpha, color="tab:blue",
                linewidth=0, label=f"{lower}-{upper}",
            )  # fmt: skip
        centre = "p50" if "p50" in part else "point"
        ax.plot(part["target"], part[centre], color="tab:blue", label=f"forecast ({centre})")
        ax.plot(part["target"], part["actual"], color="black", linewidth=1.2, label="actual")
        ax.set_title(f"{_label(report, key)}: next-close forecasts for {symbol}")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return save(fig, path)


def _band_pairs(keys: list[str]) -> list[tuple[str, str, float]]:
    """Symmetric quantile pairs, outermost first (p02-p98 lighter than p10-p90)."""
    pairs = []
    for lower in keys:
        partner = f"p{round(100 - 100 * level_of(lower)):02d}"
        if level_of(lower) < 0.5 and partner in keys:
            pairs.append((lower, partner))
    return [(lo, hi, 0.15 + 0.2 * i) for i, (lo, hi) in enumerate(pairs)]


def calibration_chart(report: Report, path: Path) -> Path | None:
    """How often the actual close fell below each quantile, against the quantile's level."""
    keys = banded_tiers(report)
    if not keys:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for key in keys:
        observed = report.summary["tiers"][key]["overall"]["calibration"]
        levels = [level_of(k) for k in observed]
        ax.plot(levels, list(observed.values()), marker="o", label=_label(report, key))
    ax.set_xlabel("quantile level")
    ax.set_ylabel("share of actual closes below it")
    ax.set_title("Calibration of the forecast band")
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)


def write_charts(report: Report, directory: Path, fan_symbol: str) -> list[Path]:
    """All charts into ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        equity_chart(report, directory / "equity.png"),
        fan_chart(report, fan_symbol, directory / f"fan_{fan_symbol}.png"),
        calibration_chart(report, directory / "calibration.png"),
    ]
    return [p for p in written if p is not None]
