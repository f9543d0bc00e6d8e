"""Scores of the risk forecasts against the sessions that followed, and the tests between them.

Losses, per (forecaster, symbol, session), on the session's open-to-close log return ``r``:

- QLIKE ``y/h - log(y/h) - 1`` of the variance forecast ``h`` against two proxies of the
  session's variance ``y``: ``r^2`` (noisy, unbiased) and the session's Garman-Klass variance
  (far less noisy). Sessions with ``r = 0`` (57 of the bundled 22,640) have no log and are left
  out of the ``r^2`` QLIKE for every forecaster alike;
- MSE of ``h`` against each proxy, with variances in squared percent (so the MSE is in %^4);
- the absolute error of the range forecast against ``log(H/L)``, in percent;
- p10-p90 coverage of ``r`` and the mean pinball loss of p10 and p90, in percent.

Diebold-Mariano tests (:mod:`orchestrator.backtest.dm`, HAC variance) run on the daily
cross-sectional mean of each loss difference against GARCH and against HAR, on the sessions
every forecaster has; a negative difference means the forecaster's loss is lower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.backtest.dm import diebold_mariano
from orchestrator.backtest.metrics import pinball
from premarket.risk.model import HIGH_RISK_RATIO, NORMAL_WINDOW

ANCHORS = ("garch", "har")
LABELS = {
    "risk": "risk model",
    "har": "HAR-log GK (anchor)",
    "garch": "GARCH(1,1)-t (anchor)",
    "tft": "TFT band*",
    "nhits": "N-HITS band*",
    "statistical": "statistical band*",
}
"""Table names; * marks a sigma implied by a close-to-close p10-p90 band (see risk_forecasts)."""
LOSSES = ("qlike_oc", "qlike_gk", "mse_oc", "mse_gk", "range_mae", "pinball")
"""The loss columns; every one is tested against each anchor."""
PREDICTION_COLUMNS = ["symbol", "date", "sigma_oc", "range_hl", "p10", "p90", "normal", "high_risk"]


def _qlike(y: np.ndarray, h: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = y / h
        return np.where(y > 0, ratio - np.log(np.where(y > 0, ratio, 1.0)) - 1.0, np.nan)


def losses(rows: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """``rows`` joined with the realized sessions, with one column per loss."""
    frame = rows.merge(sessions, on=["symbol", "date"], how="inner")
    frame = frame[np.isfinite(frame["sigma_oc"]) & np.isfinite(frame["session"])].copy()
    h = frame["sigma_oc"].to_numpy() ** 2
    r = frame["session"].to_numpy()
    frame["qlike_oc"] = _qlike(r**2, h)
    frame["qlike_gk"] = _qlike(frame["gk"].to_numpy(), h)
    frame["mse_oc"] = (1e4 * (r**2 - h)) ** 2
    frame["mse_gk"] = (1e4 * (frame["gk"].to_numpy() - h)) ** 2
    frame["range_mae"] = 100 * np.abs(frame["range"].to_numpy() - frame["range_hl"].to_numpy())
    frame["covered"] = (r > frame["p10"].to_numpy()) & (r < frame["p90"].to_numpy())
    frame["pinball"] = 50 * (
        pinball(r, frame["p10"].to_numpy(), 0.1) + pinball(r, frame["p90"].to_numpy(), 0.9)
    )
    return frame


def _common(frame: pd.DataFrame) -> pd.DataFrame:
    """The (symbol, session) pairs every forecaster has, so all are scored on the same days."""
    counts = frame.groupby(["symbol", "date"])["forecaster"].transform("nunique")
    return frame[counts == frame["forecaster"].nunique()]


def _daily(frame: pd.DataFrame, who: str, loss: str) -> pd.Series:
    return frame[frame["forecaster"] == who].groupby("date")[loss].mean()


def high_risk_scores(frame: pd.DataFrame, ratio: float = HIGH_RISK_RATIO) -> dict[str, Any]:
    """How the ``high_risk`` flag did, on every risk-model session with a normal: a session is
    large when its realized Garman-Klass sigma was at least ``ratio`` times the symbol's normal
    (a single day's sigma is a noisy proxy: its mean is about 0.95 of the forecast)."""
    own = frame[(frame["forecaster"] == "risk") & frame["normal"].notna()]
    large = np.sqrt(own["gk"].to_numpy()) >= ratio * own["normal"].to_numpy()
    flagged = own["high_risk"].to_numpy(dtype=bool)
    alarms, true = int(flagged.sum()), int((flagged & large).sum())
    calm = int((~large).sum())
    return {
        "rule": f"forecast sigma >= {ratio} x the median of the symbol's previous "
        f"{NORMAL_WINDOW} forecasts",
        "large_session": f"realized Garman-Klass sigma >= {ratio} x that normal",
        "sessions": len(own),
        "alarms": alarms,
        "alarm_rate": alarms / len(own) if len(own) else None,
        # flagged sessions that were not large, over all sessions that were not large
        "false_alarm_rate": (alarms - true) / calm if calm else None,
        # of the alarms, the share whose session was not large
        "false_discovery_rate": (alarms - true) / alarms if alarms else None,
        "large_rate_when_flagged": true / alarms if alarms else None,
        "large_rate_when_not_flagged": float(large[~flagged].mean()) if (~flagged).any() else None,
        "large_sessions_caught": true / int(large.sum()) if large.any() else None,
    }


def _relative(own: float, anchor: pd.Series) -> float | None:
    """``own / mean(anchor) - 1``; None where the anchor's mean loss is 0 or unknown (flat
    prices: there is nothing to improve on)."""
    base = float(np.nanmean(anchor)) if anchor.notna().any() else np.nan
    return own / base - 1.0 if np.isfinite(base) and base > 0 and np.isfinite(own) else None


def summarize_risk(rows: pd.DataFrame, sessions: pd.DataFrame) -> dict:
    """Every forecaster's mean losses and coverage, and its DM tests against the anchors (on
    the sessions all have); the high-risk flag on all of the risk model's sessions."""
    scored = losses(rows, sessions)
    frame = _common(scored)
    summary: dict[str, Any] = {"forecasters": {}, "sessions": int(frame["date"].nunique())}
    for who, own in frame.groupby("forecaster", sort=False):
        block: dict[str, Any] = {
            "label": LABELS.get(who, who),
            "rows": len(own),
            **{loss: float(np.nanmean(own[loss])) for loss in LOSSES},
            "coverage_p10_p90": float(own["covered"].mean()),
            "mean_sigma_pct": float(100 * own["sigma_oc"].mean()),
            "diebold_mariano": {},
        }
        for anchor in ANCHORS:
            if anchor == who or anchor not in set(frame["forecaster"]):
                continue
            block["diebold_mariano"][f"vs_{anchor}"] = {
                loss: {
                    "relative_change": _relative(
                        block[loss], frame.loc[frame["forecaster"] == anchor, loss]
                    ),
                    **diebold_mariano(
                        (_daily(frame, who, loss) - _daily(frame, anchor, loss)).dropna().to_numpy()
                    ),
                }
                for loss in LOSSES
            }
        summary["forecasters"][who] = block
    if "risk" in summary["forecasters"]:
        summary["high_risk"] = high_risk_scores(scored)
    return summary


def write_predictions(rows: pd.DataFrame, path: Path) -> Path:
    """The risk model's rows: ``symbol,date,sigma_oc,range_hl,p10,p90,normal,high_risk``."""
    own = rows[rows["forecaster"] == "risk"][PREDICTION_COLUMNS].sort_values(["date", "symbol"])
    path.parent.mkdir(parents=True, exist_ok=True)
    own.assign(date=pd.to_datetime(own["date"]).dt.strftime("%Y-%m-%d")).to_csv(
        path, index=False, float_format="%.6g"
    )
    return path


def risk_table(summary: dict):
    """The comparison as a rich table: losses, coverage and DM p-values against the anchors."""
    from rich.table import Table

    table = Table(
        title=f"Risk of the session (open to close), {summary['sessions']} sessions: lower is "
        "better; % vs GARCH / HAR with Diebold-Mariano p",
        title_justify="left",
    )
    for column in ("forecaster", "QLIKE r^2", "vs GARCH", "vs HAR", "QLIKE GK", "vs GARCH",
                   "vs HAR", "range MAE %", "p10-p90 cov.", "pinball %"):  # fmt: skip
        table.add_column(column, justify="left" if column == "forecaster" else "right")

    def versus(block: dict, anchor: str, loss: str) -> str:
        test = block["diebold_mariano"].get(f"vs_{anchor}", {}).get(loss)
        if not test or test["p_value"] is None or test["relative_change"] is None:
            return "-"
        return f"{100 * test['relative_change']:+.1f}% p={test['p_value']:.2g}"

    for block in summary["forecasters"].values():
        table.add_row(
            block["label"],
            f"{block['qlike_oc']:.4f}",
            versus(block, "garch", "qlike_oc"),
            versus(block, "har", "qlike_oc"),
            f"{block['qlike_gk']:.4f}",
            versus(block, "garch", "qlike_gk"),
            versus(block, "har", "qlike_gk"),
            f"{block['range_mae']:.3f}",
            f"{block['coverage_p10_p90']:.3f}",
            f"{block['pinball']:.4f}",
        )
    return table
