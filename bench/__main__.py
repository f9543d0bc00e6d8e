"""``python -m bench [NAME ...]``: run the benchmarks and write ``bench/results.json``.

Each module runs in its own Python process, one after the other: a crash, a leaked thread or
a loaded model in one cannot skew the next, and memory figures start clean. A run of some
modules (``python -m bench nhits tft``) replaces only their entries in the results file.
``python -m bench --markdown`` prints the latest results as the README's table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import operator
import re
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
MODULE_TIMEOUT_S = 600
BUDGET_S = 15 * 60
"""``make bench`` must finish within this on 2 cores; the driver says when it did not."""

OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "under": operator.lt,
    "below": operator.lt,
    "at most": operator.le,
    "over": operator.gt,
    "above": operator.gt,
    "at least": operator.ge,
}
NUMBER = r"(?P<value>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
CLAUSE = re.compile(
    r"^\s*(?P<subject>[a-z_][\w ]*?)?\s*"
    r"(?P<op><=|>=|==|=|<|>|under|below|at most|over|above|at least)\s*"
    + NUMBER
    + r"\s*(?P<times>x|×)?",
    re.IGNORECASE,
)
EXACT = re.compile(r"^\s*" + NUMBER + r"(?:\s+[a-z ]+)?\s*$", re.IGNORECASE)
"""A bare count such as ``0 errors``: ours must equal it."""
NO_TARGET = {"", "-", "none", "n/a"}


def discover(directory: Path = HERE) -> dict[str, Path]:
    """The benchmark modules by name (``nhits`` for ``bench/bench_nhits.py``), sorted."""
    return {p.stem.removeprefix("bench_"): p for p in sorted(directory.glob("bench_*.py"))}


def target_met(target: str | None, entry: dict[str, Any]) -> bool | None:
    """Whether ``entry`` meets ``target`` (see the package docstring); None if unreadable."""
    if target is None or target.strip().lower() in NO_TARGET:
        return None
    results = []
    for clause in re.split(r"\s+and\s+|;|,", target):
        match = CLAUSE.match(clause)
        if match:
            subject = (match["subject"] or "").strip().lower()
            if subject not in ("ratio", "baseline"):
                subject = "ratio" if match["times"] else "ours"
            compare = OPERATORS[match["op"].lower()]
        elif exact := EXACT.match(clause):
            match, subject, compare = exact, "ours", operator.eq
        else:
            return None
        value = entry.get(subject)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        results.append(compare(value, float(match["value"])))
    return all(results)


def normalise(entry: dict[str, Any]) -> dict[str, Any]:
    """Fill ``ratio`` (baseline / ours) and ``met`` where the module left them out."""
    out = dict(entry)
    ours, baseline = out.get("ours"), out.get("baseline")
    if out.get("ratio") is None and isinstance(ours, int | float) and ours > 0:
        out["ratio"] = baseline / ours if isinstance(baseline, int | float) else None
    out.setdefault("ratio", None)
    out.setdefault("baseline", None)
    out.setdefault("unit", "")
    out.setdefault("target", None)
    if not isinstance(out.get("met"), bool):
        out["met"] = target_met(out["target"], out)
    return out


def run_module(path: Path, timeout_s: float) -> dict[str, Any]:
    """Run the module's ``run()`` in a child process; its entries, or the error it met."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "entries.json"
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench", "--worker", str(path), str(out)],
                cwd=HERE.parent,
                timeout=timeout_s,
                check=False,
            )
            answer = json.loads(out.read_text()) if out.exists() else {}
            error = answer.get("error") or (
                None if proc.returncode == 0 else f"exited with status {proc.returncode}"
            )
        except subprocess.TimeoutExpired:
            answer, error = {}, f"did not finish within {timeout_s:.0f} s"
    entries = answer.get("entries") or {}
    if error is None and not entries:
        error = "run() returned no entries"
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "error": error,
        "entries": {k: normalise(v) for k, v in entries.items()},
    }


def worker(path: Path, out: Path) -> int:
    """Child process: import the module, call ``run()``, write its entries (or error) as JSON."""
    name = f"bench.{path.stem}" if path.parent == HERE else path.stem
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        entries = module.run()
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise TypeError("run() must return a dict of dicts")
    except Exception as exc:
        traceback.print_exc()
        out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    out.write_text(json.dumps({"entries": entries}, default=float))
    return 0


def load_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"modules": {}}
    return data if isinstance(data.get("modules"), dict) else {"modules": {}}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:.4g}"
    return str(value)


def _met(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "?"}[value]


def rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per entry: module, name, ours, baseline, unit, ratio, target, met."""
    table = []
    for module, info in sorted(results["modules"].items()):
        if info.get("error"):
            table.append([module, f"ERROR: {info['error']}", *["-"] * 5, "NO"])
        for name, e in info.get("entries", {}).items():
            table.append(
                [
                    module, name, _fmt(e["ours"]), _fmt(e["baseline"]), e["unit"] or "",
                    _fmt(e["ratio"]), e["target"] or "-", _met(e["met"]),
                ]
            )  # fmt: skip
    return table


HEADER = ["module", "benchmark", "ours", "baseline", "unit", "ratio", "target", "met"]


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('os')}, "
        f"Python {machine.get('python')}, torch {machine.get('torch')}"
    )


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table with the machine it came from (for the README)."""
    lines = [
        f"Measured {results.get('generated_at', '?')} on {machine_line(results.get('machine', {}))}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows(results)]
    return "\n".join(lines)


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Benchmarks on {machine_line(results['machine'])}", title_justify="left")
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i in (0, 1, 4, 6) else "right")
    for row in rows(results):
        style = "red" if row[-1] == "NO" else None
        table.add_row(*row, style=style)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--markdown", action="store_true", help="print the results as Markdown")
    parser.add_argument("--timeout", type=float, default=MODULE_TIMEOUT_S, help="s per module")
    parser.add_argument("--dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], Path(args.worker[1]))
    if args.markdown:
        print(markdown(load_results(args.out)))
        return 0
    available = discover(args.dir.resolve())
    if args.list:
        print("\n".join(available))
        return 0
    names = [n.removeprefix("bench_") for n in args.names] or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"error: no benchmark {', '.join(unknown)}; have {', '.join(available) or 'none'}")
        return 2

    from orchestrator.backtest.machine import machine_info

    machine = machine_info()
    results = load_results(args.out)
    began = time.perf_counter()
    for name in names:
        print(f"--- bench {name}", flush=True)
        results["modules"][name] = {
            **run_module(available[name], args.timeout),
            "machine": machine,
        }
        took = results["modules"][name]["seconds"]
        print(f"--- bench {name}: {took:.1f} s", flush=True)
    total = time.perf_counter() - began
    results.update(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine,
        last_run={"modules": names, "seconds": round(total, 1), "budget_s": BUDGET_S},
    )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"{len(names)} benchmark module(s) in {total:.0f} s; results in {args.out}")
    if len(names) == len(available) and total > BUDGET_S:
        print(f"warning: over the {BUDGET_S // 60}-minute budget of make bench")
    failed = [n for n in names if results["modules"][n]["error"]]
    for name in failed:
        print(f"failed: {name}: {results['modules'][name]['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
