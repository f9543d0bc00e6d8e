"""Today's expected move of one symbol, as the run document carries it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RiskForecast(BaseModel):
    """Today's expected move: the risk of the business date's session (``premarket.risk``),
    from the symbol's bars up to the previous close. Returns are open-to-close log returns."""

    model_config = ConfigDict(extra="ignore")

    sigma_oc: float
    """Standard deviation of the session's return, a fraction (0.014: about ±1.4%)."""
    expected_move_pct: float
    """``100 * sigma_oc``: the "±1.4% expected" figure."""
    range_hl: float
    """Expected ``log(high / low)`` of the session, a fraction."""
    p10: float
    p90: float
    """10% and 90% quantiles of the session's return (an 80% band)."""
    normal_sigma_oc: float | None
    """The symbol's normal: the median forecast of its previous 63 sessions (None: too new)."""
    ratio: float | None
    """``sigma_oc / normal_sigma_oc``."""
    high_risk: bool
    """``ratio`` at or above the model's ``high_risk_ratio``."""
    own_har: bool
    """Whether the symbol's own HAR took part (False: too little history, the panel alone)."""
    model_version: str

    @property
    def label(self) -> str:
        """``±1.03%  rng 1.59%``: the expected move (one sigma of the session's open-to-close
        return) and range, as the CLI table and the dashboard show them."""
        return f"±{self.expected_move_pct:.2f}%  rng {100 * self.range_hl:.2f}%"
