"""The ``python -m bench`` driver: discovery, targets, subsets, failures, results file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bench.__main__ import discover, main, normalise, target_met


@pytest.mark.parametrize(
    ("target", "entry", "met"),
    [
        ("ours < 1", {"ours": 0.4}, True),
        ("< 1 ms", {"ours": 1.0}, False),
        ("under 100 ms", {"ours": 99.0}, True),
        (">= 20x", {"ours": 1.0, "ratio": 25.0}, True),
        ("at least 10x", {"ours": 1.0, "ratio": 9.9}, False),
        ("ours < 1 and ratio >= 20", {"ours": 0.5, "ratio": 30.0}, True),
        ("ours < 1 and ratio >= 20", {"ours": 0.5, "ratio": 3.0}, False),
        ("p50 < 5 ms", {"ours": 4.2}, True),
        ("<= 1e-4", {"ours": 3e-5}, True),
        ("0 errors", {"ours": 0}, True),
        ("0 errors", {"ours": 2}, False),
        ("baseline > 10", {"ours": 1.0, "baseline": 12.0}, True),
        ("-", {"ours": 1.0}, None),
        ("ratio > 1", {"ours": 1.0, "ratio": None}, None),
        ("fast enough", {"ours": 1.0}, None),
        (None, {"ours": 1.0}, None),
    ],
)
def test_target_met(target: str | None, entry: dict, met: bool | None) -> None:
    assert target_met(target, entry) is met


def test_normalise_fills_ratio_and_met_but_keeps_the_modules_own() -> None:
    entry = normalise({"ours": 2.0, "baseline": 30.0, "unit": "ms", "target": ">= 10x"})
    assert entry["ratio"] == 15.0 and entry["met"] is True
    own = normalise({"ours": 2.0, "baseline": 1.0, "ratio": 4.0, "met": False, "note": "x"})
    assert own["ratio"] == 4.0 and own["met"] is False and own["note"] == "x"
    alone = normalise({"ours": 5.0, "unit": "MB", "target": "< 50"})
    assert alone["baseline"] is None and alone["ratio"] is None and alone["met"] is True


OK_MODULE = """
def run():
    return {
        "fast thing": {"ours": 1.0, "baseline": 12.0, "unit": "ms", "target": ">= 10x"},
        "slow thing": {"ours": 300.0, "baseline": 310.0, "unit": "ms", "target": "< 100"},
    }
"""
BOOM_MODULE = """
def run():
    raise RuntimeError("no model stored")
"""


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "benches"
    directory.mkdir()
    (directory / "bench_ok.py").write_text(textwrap.dedent(OK_MODULE))
    (directory / "bench_boom.py").write_text(textwrap.dedent(BOOM_MODULE))
    (directory / "helper.py").write_text("X = 1\n")
    return directory


def test_runs_all_then_a_subset_and_keeps_the_rest(bench_dir: Path, tmp_path: Path, capsys):
    assert list(discover(bench_dir)) == ["boom", "ok"]
    out = tmp_path / "results.json"
    assert main(["--dir", str(bench_dir), "--out", str(out)]) == 1  # one module failed
    printed = capsys.readouterr().out
    assert "Benchmarks on" in printed
    assert "failed: boom: RuntimeError: no model stored" in printed
    results = json.loads(out.read_text())
    assert results["machine"]["cores"] >= 1 and results["machine"]["python"]
    ok = results["modules"]["ok"]
    assert ok["error"] is None and ok["seconds"] > 0
    assert ok["entries"]["fast thing"] == {
        "ours": 1.0, "baseline": 12.0, "unit": "ms", "target": ">= 10x", "ratio": 12.0,
        "met": True,
    }  # fmt: skip
    assert ok["entries"]["slow thing"]["met"] is False
    assert results["modules"]["boom"]["error"] == "RuntimeError: no model stored"

    (bench_dir / "bench_boom.py").write_text(
        'def run():\n    return {"now fine": {"ours": 3.0, "unit": "s", "target": "< 5"}}\n'
    )
    assert main(["--dir", str(bench_dir), "--out", str(out), "bench_boom"]) == 0
    results = json.loads(out.read_text())
    assert results["last_run"]["modules"] == ["boom"]
    assert results["modules"]["boom"]["entries"]["now fine"]["met"] is True
    assert results["modules"]["ok"]["entries"]["fast thing"]["ratio"] == 12.0  # kept

    capsys.readouterr()
    assert main(["--out", str(out), "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "| ok | fast thing | 1 | 12 | ms | 12 | >= 10x | yes |" in table
    assert results["machine"]["cpu"] in table


def test_unknown_benchmark_is_refused(bench_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["--dir", str(bench_dir), "--out", str(out), "nope"]) == 2
    assert "no benchmark nope" in capsys.readouterr().out
    assert not out.exists()


def test_a_module_over_its_time_is_stopped(bench_dir: Path, tmp_path: Path) -> None:
    (bench_dir / "bench_ok.py").write_text("import time\n\ndef run():\n    time.sleep(30)\n")
    out = tmp_path / "results.json"
    assert main(["--dir", str(bench_dir), "--out", str(out), "--timeout", "3", "ok"]) == 1
    assert "did not finish within 3 s" in json.loads(out.read_text())["modules"]["ok"]["error"]
