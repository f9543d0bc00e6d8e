"""Outages are not success (issue 28, item 2): a run whose symbols fell to the statistical tier
because both model services were down, or whose every alert failed, is "degraded": its JSON
says why, its caption says DEGRADED, and ``premarket analyze`` exits 4 (through the real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator_stubs import DEAD_URL, model_stubs, run_cli

from orchestrator.cli import exits


def _analyze(tmp_path: Path, env: dict) -> tuple[int, dict, str]:
    result = run_cli(
        tmp_path, "analyze", "--offline", "--as-of", "2022-09-20", "--symbols", "MSFT", "XOM",
        "--json", "run.json", env={"PREMARKET_CHAIN__RETRIES": "0", **env},
    )  # fmt: skip
    doc = json.loads((tmp_path / "run.json").read_text())
    return result.returncode, doc, result.stdout + result.stderr


def test_both_model_services_down_is_degraded(tmp_path: Path) -> None:
    with model_stubs() as services:
        code, doc, out = _analyze(
            tmp_path,
            {
                "PREMARKET_TFT__URL": DEAD_URL,
                "PREMARKET_NHITS__URL": DEAD_URL,
                "PREMARKET_SENTIMENT__URL": services["sentiment"].url,
            },
        )
    assert code == exits.DEGRADED == 4
    assert doc["status"] == "ok" and doc["performance_metrics"]["tier_counts"]["statistical"] == 2
    (reason,) = doc["degraded"]
    assert reason.startswith("2 of 2 symbols on the statistical tier")
    assert "DEGRADED" in out


def test_a_backup_that_answers_is_not_degraded(tmp_path: Path) -> None:
    with model_stubs() as services:
        code, doc, _ = _analyze(
            tmp_path,
            {
                "PREMARKET_TFT__URL": DEAD_URL,
                "PREMARKET_NHITS__URL": services["nhits"].url,
                "PREMARKET_SENTIMENT__URL": services["sentiment"].url,
            },
        )
    assert doc["performance_metrics"]["tier_counts"]["nhits"] == 2
    assert doc["degraded"] == [] and code == exits.OK


def test_alerts_that_no_channel_takes_are_degraded(tmp_path: Path) -> None:
    with model_stubs() as services:
        code, doc, out = _analyze(
            tmp_path,
            {
                **{f"PREMARKET_{n.upper()}__URL": s.url for n, s in services.items()},
                "PREMARKET_ALERTS__WEBHOOK_URL": DEAD_URL + "/hook",
                "PREMARKET_ALERTS__DIGEST": "true",
                "PREMARKET_ALERTS__TRIES": "1",
            },
        )
    assert doc["alerts"] and not any(a["delivered"] for a in doc["alerts"])
    assert code == exits.DEGRADED
    assert any(r.startswith("alerts undeliverable") for r in doc["degraded"])
