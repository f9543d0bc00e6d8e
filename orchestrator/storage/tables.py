"""Every table of the store, on one ``metadata``: runs and forecasts, sent alerts, forecast
scores, the paper-trading book.

One module, so the schema does not depend on which modules happen to be imported, and the
migrations (and ``create_all`` in tests) see all of it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("slot", String(16)),
    Column("started_at", DateTime, nullable=False, index=True),  # naive UTC
    Column("status", String(16), nullable=False),
    Column("as_of", Date),
    Column("document", JSON, nullable=False),
    Column("mode", String(8), nullable=False, server_default="live", doc="live or replay"),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(80), nullable=False, index=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("as_of", Date, nullable=False, doc="Date of the last close the forecast saw."),
    Column("symbol", String(16), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("model_used", String(40), nullable=False),
    Column("current_price", Float, nullable=False),
    Column("predicted_price", Float, nullable=False),
    Column("p10", Float),
    Column("p50", Float),
    Column("p90", Float),
    Column("forecast_path", JSON, nullable=False, doc="Closes of the next sessions after as_of."),
    Column("direction", String(8), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("action", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),  # naive UTC
    Column("mode", String(8), nullable=False, server_default="live", doc="live or replay"),
    Column("probability_up", Float, doc="The calibrated signal's P(session up), if any."),
)

alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("action", String(32), primary_key=True),
    Column("sent_at", DateTime, nullable=False),
)

forecast_scores = Table(
    "forecast_scores",
    metadata,
    Column("forecast_id", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("run_id", String(80), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("symbol", String(16), nullable=False, index=True),
    Column("tier", String(16), nullable=False, index=True),
    Column("target_date", Date, nullable=False, index=True),
    Column("predicted", Float, nullable=False),
    Column("realized", Float, nullable=False),
    Column("direction_hit", Boolean, nullable=False),
    Column("abs_pct_error", Float, nullable=False),
    Column("in_band", Boolean),
    Column("scored_at", DateTime, nullable=False),  # naive UTC
    Column("mode", String(8), nullable=False, server_default="live", doc="live or replay"),
)

paper_account = Table(
    "paper_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cash", Float, nullable=False),
    Column("marked_through", Date, doc="Closes up to this date are in the book."),
)
paper_positions = Table(
    "paper_positions",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("side", String(8), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("run_id", String(80), nullable=False),
    Column("last_price", Float, nullable=False),
    Column("last_date", Date),
    Column("sizing", String(8), nullable=False, server_default="fixed", doc="risk or fixed"),
    Column("entry_cost", Float, nullable=False, server_default="0", doc="Entry fee paid."),
)
paper_trades = Table(
    "paper_trades",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("exit_price", Float, nullable=False),
    Column("exit_date", Date, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("pnl", Float, nullable=False),
    Column("return_pct", Float, nullable=False),
    Column("run_id", String(80), nullable=False),
    Column("sizing", String(8), nullable=False, server_default="fixed", doc="risk or fixed"),
    Column("costs", Float, nullable=False, server_default="0", doc="Fees, entry and exit."),
)
paper_marks = Table(
    "paper_marks",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("marked_through", Date, nullable=False, doc="This symbol's bars up to here applied."),
)
paper_equity = Table(
    "paper_equity",
    metadata,
    Column("day", Date, primary_key=True),
    Column("equity", Float, nullable=False),
)
paper_runs = Table("paper_runs", metadata, Column("run_id", String(80), primary_key=True))
paper_orders = Table(
    "paper_orders",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("action", String(8), nullable=False, doc="LONG, SHORT or CLOSE"),
    Column("business_date", Date, nullable=False, doc="Filled at the first open on or after."),
    Column("confidence", Float, nullable=False),
    Column("run_id", String(80), nullable=False),
    Column("sigma_oc", Float, doc="The signal's forecast sigma of its session, if any."),
    Column("sizing", String(8), doc="risk or fixed for LONG/SHORT; none for CLOSE."),
)
PAPER_TABLES = [
    paper_account,
    paper_positions,
    paper_trades,
    paper_equity,
    paper_runs,
    paper_orders,
    paper_marks,
]

book_sources = Table(
    "book_sources",
    metadata,
    Column("book", String(32), primary_key=True, doc="paper, accuracy:live, accuracy:replay"),
    Column("runs", String(16), nullable=False, doc="The runs it holds: live or replay."),
    Column("source", String(400), nullable=False, doc="Where its bars come from."),
)

slot_claims = Table(
    "slot_claims",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("slot", String(16), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("state", String(8), nullable=False, doc="running, or done once the run is stored."),
    Column("claimed_at", DateTime, nullable=False),  # naive UTC
    Column("heartbeat_at", DateTime, nullable=False),  # naive UTC
)
