"""The one price-CSV parser: strict by default, per-symbol problems, an opt-in drop policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from premarket.data import PRICES_CSV, SYMBOLS
from premarket.prices import PriceFileError, load_prices, read_prices

HEADER = "symbol,date,open,high,low,close,adj_close,volume"


def write(tmp_path: Path, *rows: str, header: str = HEADER, bom: bool = False) -> Path:
    path = tmp_path / "prices.csv"
    text = "\n".join([header, *rows]) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def row(symbol: str, day: str, close: float | str = 10.0, volume: str = "100") -> str:
    return f"{symbol},{day},{close},{close},{close},{close},{close},{volume}"


GOOD = [row("AAA", "2021-01-05", 11), row("aaa ", "2021-01-04", 10), row("BBB", "2021-01-04")]


def test_bundled_prices_parse_whole() -> None:
    table = read_prices(PRICES_CSV)
    assert table.symbols == sorted(SYMBOLS) and not table.problems and not table.notes
    aapl = table.frame("aapl")
    assert list(aapl.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert len(aapl) == 2264 and aapl["date"].is_monotonic_increasing
    assert str(aapl["date"].iloc[0].date()) == "2015-01-02"
    assert aapl["close"].iloc[0] == pytest.approx(27.3325)


def test_rows_are_sorted_and_symbols_normalised(tmp_path: Path) -> None:
    frames = load_prices(write(tmp_path, *GOOD))
    assert list(frames) == ["AAA", "BBB"]
    assert frames["AAA"]["close"].tolist() == [10.0, 11.0]
    assert frames["AAA"]["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-01-04", "2021-01-05"]


def test_utf8_bom_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, *GOOD, "", row("CCC", "2021-01-04", "x"), bom=True)
    with pytest.raises(PriceFileError) as error:
        load_prices(path)
    assert error.value.problems[0].line == 6  # header 1, three rows, a blank line, then CCC
    assert "line 6: CCC: column open is not a price from 1e-06 to 1e+07 ('x')" in str(error.value)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row("AAA", "yesterday"), "column date is not a date YYYY-MM-DD ('yesterday')"),
        (row("AAA", "2021-01-06", -1), "column open is not a price from 1e-06 to 1e+07 ('-1')"),
        (row("AAA", "2021-01-06", "nan"), "column open is not a price from 1e-06 to 1e+07 ('nan')"),
        (
            row("AAA", "2021-01-06", "1e305"),
            "column open is not a price from 1e-06 to 1e+07 ('1e305')",
        ),
        (
            row("AAA", "2021-01-06", "1e-300"),
            "column open is not a price from 1e-06 to 1e+07 ('1e-300')",
        ),
        (row("AAA", "2021-01-06", volume="-5"), "column volume is not 0 to 1e+14 ('-5')"),
        ("AAA,2021-01-06,10,9,11,10,10,1", "column high is below column low (9 < 11)"),
        ("AAA,2021-01-06,10", "column high is not a price from 1e-06 to 1e+07 ('')"),
    ],
)
def test_a_bad_row_refuses_its_symbol_with_its_line(tmp_path: Path, bad: str, message) -> None:
    table = read_prices(write(tmp_path, *GOOD, bad))
    assert list(table.frames) == ["BBB"]  # the other symbol is still usable
    with pytest.raises(PriceFileError) as error:
        table.frame("AAA")
    assert error.value.symbols == ("AAA",)
    assert str(error.value) == f"{table.path}: line 5: AAA: {message}"
    with pytest.raises(PriceFileError, match="line 5: AAA"):
        table.require()
    assert table.require(["bbb"])["BBB"]["close"].tolist() == [10.0]


def test_drop_policy_reports_what_it_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, *GOOD, row("AAA", "2021-01-06", "nan"), row("", "2021-01-06"))
    table = read_prices(path, on_bad_row="drop")
    assert not table.problems
    assert [(p.line, p.symbol) for p in table.dropped] == [(5, "AAA"), (6, "")]
    assert "column symbol is empty" in str(table.dropped[1])
    assert table.frame("AAA")["close"].tolist() == [10.0, 11.0]


def test_a_row_without_symbol_refuses_the_file(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="line 3: column symbol is empty") as error:
        read_prices(write(tmp_path, GOOD[0], row("", "2021-01-06")))
    assert error.value.symbols == ()


def test_identical_duplicates_collapse_with_a_note(tmp_path: Path) -> None:
    table = read_prices(write(tmp_path, *GOOD, GOOD[0]))
    assert table.frame("AAA")["close"].tolist() == [10.0, 11.0]
    assert [str(n) for n in table.notes] == ["line 5: AAA: 2021-01-05 repeats line 2; collapsed"]


@pytest.mark.parametrize("policy", ["refuse", "drop"])
def test_conflicting_duplicates_are_refused(tmp_path: Path, policy) -> None:
    table = read_prices(write(tmp_path, *GOOD, row("AAA", "2021-01-05", 12)), on_bad_row=policy)
    with pytest.raises(PriceFileError) as error:
        table.frame("AAA")
    assert "line 5: AAA: has more than one row for 2021-01-05 with different values" in str(
        error.value
    )
    assert "(first at line 2)" in str(error.value)
    assert "BBB" in table.frames


def test_every_problem_is_listed_and_the_message_counts_them(tmp_path: Path) -> None:
    table = read_prices(write(tmp_path, *GOOD, row("AAA", "x"), row("BBB", "2021-01-05", 0)))
    with pytest.raises(PriceFileError) as error:
        table.require()
    assert [(p.line, p.symbol) for p in error.value.problems] == [(5, "AAA"), (6, "BBB")]
    assert str(error.value).endswith("(and 1 more)")


def test_unknown_symbol_is_named(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="NOPE: not in prices.csv"):
        load_prices(write(tmp_path, *GOOD), ["AAA", "nope"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (
            b"symbol,date,open,high,low,close\nAAA,2021-01-04,1,1,1,1\n",
            "lacks the column(s) volume",
        ),
        (b"symbol,date,open,high,low,close,volume\n\xff\xfe,x\n", "is not UTF-8"),
    ],
)
def test_file_level_problems(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "prices.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PriceFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_prices(path)


def test_long_frame_and_dates_with_a_time_part(tmp_path: Path) -> None:
    path = write(tmp_path, row("BBB", "2021-01-04T00:00:00-05:00"), row("AAA", "2021-01-04 00:00"))
    frame = read_prices(path).long_frame()
    assert frame["symbol"].tolist() == ["AAA", "BBB"]
    assert np.all(frame["date"].dt.strftime("%Y-%m-%d") == "2021-01-04")
    with pytest.raises(ValueError, match="on_bad_row"):
        read_prices(path, on_bad_row="skip")  # type: ignore[arg-type]


def test_prices_parse_exactly_as_written() -> None:
    """Every value is the correctly rounded double of its text (pandas' fast float parser can be
    one ulp off, which would make a stored close differ from the file's)."""
    import csv

    frame = load_prices(PRICES_CSV, ["AAPL"])["AAPL"]
    with open(PRICES_CSV, newline="", encoding="utf-8-sig") as handle:
        closes = [float(r["close"]) for r in csv.DictReader(handle) if r["symbol"] == "AAPL"]
    assert frame["close"].tolist() == closes
