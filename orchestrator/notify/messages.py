"""What an alert says: the alert itself, the facts of its signals, and their text per channel.

A trader acts on an alert without opening the dashboard, so a signal's alert carries the
symbol, action, probability, price, predicted p10-p90 range, today's expected move, tier and
reasoning. Colours follow the action, not the alert's level: a SELL is red, a BUY green (the
original coloured every high-confidence alert green, SELLs included); a high-risk alert is a
warning whatever the action.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.documents.run import RunResult, SymbolSignal
from premarket.protocol import utc_now_iso
from premarket.sections import DEFAULT_ALERT_THRESHOLD
from premarket.settings import Settings

HIGH_CONFIDENCE = "HIGH_CONFIDENCE"
RUN_FAILED = "RUN_FAILED"
SERVICE_UNREACHABLE = "SERVICE_UNREACHABLE"
SYMBOL_FAILED = "SYMBOL_FAILED"
DIGEST = "DIGEST"
HIGH_RISK = "HIGH_RISK"
"""A symbol's expected move today is well above its normal (``RiskForecast.high_risk``)."""
UNCALIBRATED = "UNCALIBRATED"
"""Symbols whose probability is the base rate: their inputs are not the decision model's fit."""
TIER_NAMES = {"tft": "TFT", "nhits": "N-HITS", "ensemble": "Ensemble", "statistical": "Statistical"}
# Slack attachment colours, and Apprise notify types (whose colours are green, red, yellow, blue).
SLACK_COLORS = {"BUY": "good", "SELL": "danger", "failure": "danger", "warning": "warning"}
NOTIFY_TYPES = {"BUY": "success", "SELL": "failure", "failure": "failure", "warning": "warning"}


@dataclass(frozen=True)
class SignalFacts:
    """The figures of one signal that an alert quotes."""

    symbol: str
    action: str
    probability: float
    price: float
    predicted: float
    p10: float | None
    p90: float | None
    tier: str
    reasoning: str
    expected_move_pct: float | None = None
    """Today's expected move, ``100 * sigma_oc`` (None: no risk forecast)."""
    range_pct: float | None = None
    """Today's expected high-low range, in percent."""
    normal_move_pct: float | None = None
    risk_ratio: float | None = None
    high_risk: bool = False

    @classmethod
    def of(cls, symbol: str, signal: SymbolSignal) -> SignalFacts:
        quantiles = signal.price.quantiles or {}
        risk = signal.risk
        normal = None if risk is None else risk.normal_sigma_oc
        return cls(
            symbol=symbol,
            action=signal.action,
            probability=signal.confidence,
            price=signal.current_price,
            predicted=signal.price.predicted_price,
            p10=quantiles.get("p10"),
            p90=quantiles.get("p90"),
            tier=signal.price.tier,
            reasoning=signal.reasoning,
            expected_move_pct=None if risk is None else risk.expected_move_pct,
            range_pct=None if risk is None else 100 * risk.range_hl,
            normal_move_pct=None if normal is None else 100 * normal,
            risk_ratio=None if risk is None else risk.ratio,
            high_risk=risk is not None and risk.high_risk,
        )

    @property
    def side(self) -> str:
        return self.action.split()[0]

    @property
    def expected_move(self) -> str | None:
        """``±1.4% expected, range 2.1%``: today's risk (None without a risk forecast)."""
        if self.expected_move_pct is None or self.range_pct is None:
            return None
        return f"±{self.expected_move_pct:.1f}% expected, range {self.range_pct:.1f}%"

    def lines(self) -> list[str]:
        known = self.p10 is not None and self.p90 is not None
        band = f" (p10-p90 {self.p10:.2f}-{self.p90:.2f})" if known else ""
        lines = [
            f"{self.symbol}: {self.action}, probability {self.probability:.1%}",
            f"Price {self.price:.2f}, predicted {self.predicted:.2f}{band}",
        ]
        if self.expected_move is not None:
            lines.append(
                f"Today: {self.expected_move}" + (" (high risk)" if self.high_risk else "")
            )
        return lines + [
            f"Tier: {TIER_NAMES.get(self.tier, self.tier)}",
            f"Reasoning: {self.reasoning}",
        ]


@dataclass
class Alert:
    level: str
    symbol: str  # a ticker, a target name for unreachable services, "*" for the run
    action: str
    message: str
    timestamp: str = field(default_factory=utc_now_iso)
    facts: list[SignalFacts] = field(default_factory=list)
    """The signals the alert is about: one for a signal alert, all of them for a digest."""
    business_date: str | None = None
    run_id: str | None = None
    link: str | None = None
    """Where to look: the dashboard (``alerts.dashboard_url``)."""

    def about(self) -> str | None:
        """``for 2024-07-02 · run run_... · http://host:8000/`` (the parts that are known)."""
        parts = [f"for {self.business_date}" if self.business_date else None]
        parts += [f"run {self.run_id}" if self.run_id else None, self.link]
        known = [p for p in parts if p]
        return " · ".join(known) if known else None


def tone(alert: Alert) -> str:
    """BUY, SELL, failure or warning: what the alert's colour says."""
    if alert.level == RUN_FAILED:
        return "failure"
    if alert.level == HIGH_RISK:
        return "warning"
    sides = {f.side for f in alert.facts}
    if alert.level != DIGEST and len(sides) == 1 and sides <= {"BUY", "SELL"}:
        return sides.pop()
    return "warning" if alert.level != DIGEST else "info"


def title(alert: Alert) -> str:
    if alert.level == DIGEST:
        return f"[premarket] {alert.message}"
    return f"[premarket] {alert.level}: {alert.symbol} {alert.action}".strip()


def body(alert: Alert) -> str:
    """Plain text: the message, then every signal's figures, then the time."""
    parts = [alert.message]
    parts += ["\n".join(f.lines()) for f in alert.facts]
    about = [f"Business date: {alert.business_date}"] if alert.business_date else []
    about += [f"Run: {alert.run_id}"] if alert.run_id else []
    about += [f"Dashboard: {alert.link}"] if alert.link else []
    tail = "".join(f"{line}\n" for line in about)
    return "\n\n".join(parts) + f"\n\nLevel: {alert.level}\nTime: {alert.timestamp}\n" + tail


def notify_type(alert: Alert) -> str:
    """Apprise's notify type (``success`` green, ``failure`` red, ``warning``, ``info``)."""
    return NOTIFY_TYPES.get(tone(alert), "info")


def slack_payload(alert: Alert) -> dict:
    """A Slack incoming-webhook body: one coloured attachment per signal (or one for the alert)."""

    def attachment(color: str, lines: list[str], facts: SignalFacts | None) -> dict:
        fields = [{"title": "Level", "value": alert.level, "short": True}]
        if facts is not None:
            fields = [
                {"title": "Symbol", "value": facts.symbol, "short": True},
                {"title": "Action", "value": facts.action, "short": True},
                {"title": "Probability", "value": f"{facts.probability:.1%}", "short": True},
                {"title": "Tier", "value": TIER_NAMES.get(facts.tier, facts.tier), "short": True},
            ]
        else:
            fields.append({"title": "Symbol", "value": alert.symbol, "short": True})
        return {"color": color, "text": "\n".join(lines), "fields": fields, "ts": alert.timestamp}

    if alert.facts:
        attachments = [attachment(_facts_color(alert, f), f.lines(), f) for f in alert.facts]
    else:
        attachments = [attachment(SLACK_COLORS.get(tone(alert), "warning"), [], None)]
    about = alert.about()
    return {"text": alert.message + (f"\n{about}" if about else ""), "attachments": attachments}


def _facts_color(alert: Alert, facts: SignalFacts) -> str:
    if alert.level == HIGH_RISK:
        return SLACK_COLORS["warning"]
    return SLACK_COLORS.get(facts.side, "#439FE0")


def dashboard_link(settings: Settings) -> str:
    """The dashboard every alert links to: ``alerts.dashboard_url``, or the API's address."""
    return settings.alerts.dashboard_url or f"http://{settings.api.host}:{settings.api.port}/"


def alert_threshold(settings: Settings) -> float:
    """``alerts.confidence_threshold``, or when unset the default of the signal's mode."""
    threshold = settings.alerts.confidence_threshold
    return DEFAULT_ALERT_THRESHOLD[settings.signal.mode] if threshold is None else threshold


def signal_alerts(signals: dict[str, SymbolSignal], threshold: float) -> list[Alert]:
    """BUY or SELL signals whose confidence is above ``threshold``, on fresh data (a stale
    signal is never traded, so it is not announced as one; STALE_DATA says why)."""
    alerts = []
    for symbol, s in signals.items():
        if s.side not in ("BUY", "SELL") or s.confidence <= threshold or s.stale:
            continue
        facts = SignalFacts.of(symbol, s)
        message = f"High confidence signal: {symbol} - {s.action} ({s.confidence:.1%})"
        if facts.expected_move is not None:
            message += f", {facts.expected_move}"
        alerts.append(Alert(HIGH_CONFIDENCE, symbol, s.action, message, facts=[facts]))
    return alerts


def risk_alerts(signals: dict[str, SymbolSignal]) -> list[Alert]:
    """One per symbol whose expected move today is high against its normal, on fresh data (a
    stale symbol's forecast is for a session its data does not reach; STALE_DATA says so)."""
    alerts = []
    for symbol, s in signals.items():
        risk = s.risk
        if risk is None or not risk.high_risk or s.stale:
            continue
        normal = (
            f" ({risk.ratio:.1f}x its normal ±{100 * risk.normal_sigma_oc:.1f}%)"
            if risk.ratio is not None and risk.normal_sigma_oc is not None
            else ""
        )
        message = (
            f"{symbol}: high risk today: ±{risk.expected_move_pct:.1f}% expected{normal}, "
            f"range {100 * risk.range_hl:.1f}%"
        )
        alerts.append(
            Alert(HIGH_RISK, symbol, HIGH_RISK, message, facts=[SignalFacts.of(symbol, s)])
        )
    return alerts


def uncalibrated_alert(signals: dict[str, SymbolSignal]) -> Alert | None:
    """One per run: the symbols held at the base rate, grouped by why (None: no such symbol)."""
    why: dict[str, list[str]] = {}
    for symbol, s in signals.items():
        if s.uncalibrated_reason:
            why.setdefault(s.uncalibrated_reason, []).append(symbol)
    if not why:
        return None
    parts = [f"{', '.join(symbols)}: {reason}" for reason, symbols in sorted(why.items())]
    message = "Base rate, not a calibrated probability (HOLD): " + "; ".join(parts)
    return Alert(UNCALIBRATED, "*", UNCALIBRATED, message)


def digest_alert(result: RunResult) -> Alert:
    """The morning digest: one message per run with every signal (deduplicated per run)."""
    counts = result.performance_metrics.signal_distribution
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("BUY", "SELL", "HOLD"))
    key = result.slot or result.run_id[-6:]
    high = [  # as risk_alerts: a stale symbol's forecast is for a session its data misses
        s
        for s, v in result.signals.items()
        if v.risk is not None and v.risk.high_risk and not v.stale
    ]
    return Alert(
        DIGEST,
        "*",
        f"{DIGEST} {key}",
        f"Pre-market signals for {result.business_date}: {summary} "
        f"({len(result.signals)}/{len(result.symbols_analyzed)} analysed, run {result.status})"
        + (f"; high risk today: {', '.join(high)}" if high else ""),
        facts=[SignalFacts.of(symbol, s) for symbol, s in result.signals.items()],
    )
