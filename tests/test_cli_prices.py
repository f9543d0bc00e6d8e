"""``--prices`` is an offline source, and analyses its own symbols (issue 28, items 4-5),
through the real ``premarket`` command."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator_stubs import DEAD_URL, model_stubs, run_cli

from premarket.data import PRICES_CSV


def _two_symbol_csv(path: Path) -> Path:
    lines = PRICES_CSV.read_text().splitlines()
    path.write_text("\n".join([lines[0], *(x for x in lines if x.startswith(("XOM,", "JPM,")))]))
    return path


def test_prices_without_offline_reads_the_file_and_its_symbols(tmp_path: Path) -> None:
    prices = _two_symbol_csv(tmp_path / "mine.csv")
    with model_stubs() as services:
        result = run_cli(
            tmp_path, "analyze", "--prices", str(prices), "--json", "run.json",
            env={
                **{f"PREMARKET_{n.upper()}__URL": s.url for n, s in services.items()},
                # live bars would fail: the file must be the only source
                "PREMARKET_YAHOO_CHART_URL": DEAD_URL + "/v8/finance/chart/{symbol}",
                "PREMARKET_YAHOO_RSS_URL": DEAD_URL + "/rss",
            },
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["symbols_analyzed"] == ["JPM", "XOM"] and doc["status"] == "ok"
    assert doc["mode"] == "replay" and doc["offline"] is True and doc["as_of"] == "2023-12-29"


def test_a_missing_file_or_a_bad_ticker_is_a_usage_error(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "analyze", "--prices", "nowhere.csv")
    assert missing.returncode == 2 and "--prices: nowhere.csv does not exist" in missing.stderr
    bad = run_cli(tmp_path, "analyze", "--offline", "--symbols", "A$B")
    assert bad.returncode == 2 and "'A$B' is not a ticker" in bad.stderr
