"""``backtest data list|check|update``: listing and checking folders, and merging downloads.

Downloads are replaced by the recorded-format fixtures in tests/fixtures (see its README): the
Yahoo fetcher is injected into :func:`engine.datacmd.update_data`; FRED is read through
``BACKTEST_FRED_URL`` pointing at ``file://`` fixtures. Nothing here touches the network.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import datacmd
from engine.data import read_price_frame, read_series
from engine.datacmd import check_data, frequency, list_data, update_data
from engine.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA = ROOT / "data"
TODAY = date(2026, 10, 2)  # the fixture's 2026-10-02 bar is "today": still moving, left out
YAHOO_SCALE = 1.002  # fixture's Adj Close / bundled adj_close


def backtest(*args, cwd=ROOT, env=None):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def yahoo_fixture(ticker: str, start: date | None) -> pd.DataFrame:
    """What yfinance's Ticker.history(auto_adjust=False) returned (recorded layout)."""
    frame = pd.read_csv(FIXTURES / f"yahoo_{ticker}_history.csv", index_col="Date")
    frame.index = pd.to_datetime(frame.index, utc=True).tz_convert("America/New_York")
    if start is not None:
        frame = frame[frame.index.date >= start]
    return frame


def fred_fixture(series_id: str) -> str:
    return (FIXTURES / f"fred_{series_id}.csv").read_text()


def no_download(*args):
    raise AssertionError("this test must not download anything")


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def user_dir(tmp_path) -> Path:
    """A user's folder: the last 30 rows of the bundled IWM (no opens) and DFF."""
    folder = tmp_path / "mydata"
    (folder / "prices").mkdir(parents=True)
    (folder / "macro").mkdir()
    lines = (DATA / "prices" / "IWM.csv").read_text().splitlines()
    (folder / "prices" / "IWM.csv").write_text("\n".join([lines[0], *lines[-30:]]) + "\n")
    lines = (DATA / "macro" / "DFF.csv").read_text().splitlines()
    (folder / "macro" / "DFF.csv").write_text("\n".join([lines[0], *lines[-20:]]) + "\n")
    return folder


# ----------------------------------------------------------------------------- list / check
def test_data_list_shows_every_bundled_file_with_its_range():
    proc = backtest("data", "list")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[3:]}
    bundled = [p for p in DATA.rglob("*.csv")]
    assert len(rows) == len(bundled) >= 19
    for path in bundled:
        kind, name, first, last, n_rows, freq = rows[path.stem][:6]
        if path.parent.name in ("prices", "macro"):
            series = read_series(path, "price" if path.parent.name == "prices" else "macro")
            assert (first, last) == (str(series.index[0].date()), str(series.index[-1].date()))
            assert int(n_rows) == len(series)
            assert kind == {"prices": "price", "macro": "macro"}[path.parent.name]
    assert rows["IWM"][5:7] == ["daily", "github:DrRobAnthony/market-data"]
    assert rows["FEDFUNDS"][5:7] == ["monthly", "github:open-datahub/monetary"]
    assert rows["DFF"][5] == "daily" and rows["USREC"][5] == "monthly"


def test_data_check_passes_on_the_bundled_data():
    proc = backtest("data", "check", "data/")
    assert proc.returncode == 0, proc.stderr
    assert "ok (6 price files, 4 macro series" in proc.stdout and proc.stderr == ""


def test_user_folder_is_listed_as_user_data(user_dir):
    infos = {i.name: i for i in list_data(user_dir)}
    assert infos["IWM"].source == "user" and infos["IWM"].kind == "price"
    assert infos["DFF"].frequency == "daily" and infos["DFF"].rows == 20
    assert "ok (1 price files, 1 macro series" in check_data(user_dir)


def test_loose_files_are_classified_by_their_columns(tmp_path):
    (tmp_path / "AAA.csv").write_text("date,adj_close\n2020-01-02,10\n2020-01-03,11\n")
    (tmp_path / "RATE.csv").write_text("date,value\n2020-01-01,1.5\n2020-02-01,1.6\n")
    infos = {i.name: i for i in list_data(tmp_path)}
    assert (infos["AAA"].kind, infos["RATE"].kind) == ("price", "macro")
    assert infos["RATE"].frequency == "monthly"


def test_list_marks_a_bad_file_instead_of_failing(tmp_path):
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "BAD.csv").write_text("date,adj_close\n2020-01-02,-1\n")
    (info,) = list_data(tmp_path)
    assert info.note.startswith("INVALID: ") and "is not positive" in info.note
    with pytest.raises(DataError, match=r"BAD.csv line 2 \(2020-01-02\): adj_close -1"):
        check_data(tmp_path)


@pytest.mark.parametrize("days, expected", [
    (pd.bdate_range("2020-01-01", periods=30), "daily"),
    (pd.date_range("2020-01-01", periods=30, freq="D"), "daily"),
    (pd.date_range("2020-01-01", periods=12, freq="MS"), "monthly"),
    (pd.date_range("2020-01-03", periods=12, freq="W-FRI"), "weekly"),
    (pd.date_range("2000-06-30", periods=10, freq="YE-JUN"), "annual"),
    (pd.DatetimeIndex(["2020-01-01"]), "single"),
])
def test_frequency(days, expected):
    assert frequency(days) == expected


# ----------------------------------------------------------------------------- update: prices
def test_update_adds_new_days_and_opens_on_the_files_basis(user_dir):
    before = (user_dir / "prices" / "IWM.csv").read_text()
    lines = update_data(user_dir, ["iwm"], [], fetch_yahoo=yahoo_fixture,
                        fetch_fred=no_download, today=TODAY)
    assert lines == ["prices/IWM.csv: +4 rows (2026-09-28 .. 2026-10-01), adj_open added; "
                     "now 2026-08-14 .. 2026-10-01, 34 rows [yahoo (yfinance)]"]
    frame = read_price_frame(user_dir / "prices" / "IWM.csv")
    old = pd.read_csv(pd.io.common.StringIO(before), index_col="date", parse_dates=True)
    # existing closes kept exactly; new ones rescaled from Yahoo's basis onto the file's
    np.testing.assert_array_equal(frame["adj_close"].iloc[:30].to_numpy(), old["adj_close"])
    np.testing.assert_allclose(frame["adj_close"].iloc[30:], [282.5, 284.1, 283.0, 286.4],
                               rtol=1e-6)
    # adjusted open = open * adj_close / close, on the file's basis, for the whole history
    np.testing.assert_allclose(frame["adj_open"] / frame["adj_close"], 0.997, rtol=1e-5)
    assert frame["adj_open"].notna().all()
    assert "2026-10-02" not in (user_dir / "prices" / "IWM.csv").read_text()


def test_update_is_incremental_once_the_file_has_opens(user_dir):
    update_data(user_dir, ["IWM"], [], fetch_yahoo=yahoo_fixture, today=date(2026, 9, 29))
    first = (user_dir / "prices" / "IWM.csv").read_text()
    starts = []

    def recording(ticker, start):
        starts.append(start)
        return yahoo_fixture(ticker, start)

    lines = update_data(user_dir, ["IWM"], [], fetch_yahoo=recording, today=TODAY)
    assert starts == [date(2026, 9, 14)]  # last date 2026-09-28 minus 14 days of overlap
    text = (user_dir / "prices" / "IWM.csv").read_text()
    assert text.startswith(first) and len(text.splitlines()) == len(first.splitlines()) + 3
    assert lines[0].startswith("prices/IWM.csv: +3 rows (2026-09-29 .. 2026-10-01);")
    assert update_data(user_dir, ["IWM"], [], fetch_yahoo=recording, today=TODAY) == [
        "prices/IWM.csv: up to date (last 2026-10-01)"]
    assert (user_dir / "prices" / "IWM.csv").read_text() == text


def test_update_creates_a_new_ticker_and_the_folder(tmp_path):
    folder = tmp_path / "fresh"
    update_data(folder, ["IWM"], [], fetch_yahoo=yahoo_fixture, today=TODAY)
    frame = read_price_frame(folder / "prices" / "IWM.csv")
    assert len(frame) == 34 and frame.index[-1] == pd.Timestamp("2026-10-01")
    np.testing.assert_allclose(frame["adj_close"].iloc[-1], 286.4 * YAHOO_SCALE, rtol=1e-6)
    (row,) = list(csv.DictReader((folder / "PROVENANCE.csv").open()))
    assert row["file"] == "prices/IWM.csv" and row["source"] == "yahoo (yfinance)"
    assert (row["rows_added"], row["rows"], row["first"], row["last"]) == (
        "34", "34", "2026-08-14", "2026-10-01")
    assert row["url"].startswith("https://finance.yahoo.com/") and row["downloaded_at"]
    assert {i.name: i.source for i in list_data(folder)}["IWM"] == "yahoo (yfinance)"


def test_update_refuses_a_download_that_does_not_line_up(user_dir):
    def split(ticker, start):
        frame = yahoo_fixture(ticker, start)
        frame.loc[frame.index[-8]:, ["Close", "Adj Close", "Open"]] /= 2.0  # a 2:1 split
        return frame

    before = digest(user_dir)
    with pytest.raises(DataError, match="do not line up with prices/IWM.csv on 2026-09-2"):
        update_data(user_dir, ["IWM"], [], fetch_yahoo=split, today=TODAY)
    assert digest(user_dir) == before


def test_bad_downloaded_prices_leave_everything_untouched(user_dir):
    def bad(ticker, start):
        frame = yahoo_fixture(ticker, start)
        frame.loc[frame.index[-3], ["Close", "Adj Close"]] = -1.0
        return frame

    before = digest(user_dir)
    with pytest.raises(DataError, match="Yahoo sent a price <= 0 for IWM on 2026-09-30; "
                                        "existing files left untouched"):
        update_data(user_dir, ["IWM"], ["DFF"], fetch_yahoo=bad, fetch_fred=fred_fixture,
                    today=TODAY)
    assert digest(user_dir) == before


def test_one_failed_download_writes_none_of_the_others(user_dir):
    def offline(ticker, start):
        raise DataError(f"could not download {ticker} from Yahoo: timed out; "
                        "existing files left untouched")

    before = digest(user_dir)
    with pytest.raises(DataError, match="could not download SPY"):
        update_data(user_dir, ["IWM", "SPY"], ["DFF"],
                    fetch_yahoo=lambda t, s: yahoo_fixture(t, s) if t == "IWM" else offline(t, s),
                    fetch_fred=fred_fixture, today=TODAY)
    assert digest(user_dir) == before
    assert not [p for p in user_dir.rglob(".*")]  # no temporary file left


def test_empty_yahoo_answer_is_an_unknown_ticker(user_dir):
    with pytest.raises(DataError, match=r"no rows returned \(is 'XXXX' a Yahoo ticker\?\)"):
        update_data(user_dir, ["XXXX"], [], fetch_yahoo=lambda t, s: pd.DataFrame(), today=TODAY)


def test_update_refuses_files_it_cannot_merge_into(user_dir):
    (user_dir / "prices" / "SPY.csv").write_text("date,close,volume\n2020-01-02,1,5\n")
    with pytest.raises(DataError, match="columns date,close,volume; data update merges only"):
        update_data(user_dir, ["SPY"], [], fetch_yahoo=no_download, today=TODAY)
    (user_dir / "prices" / "QQQ.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="data update writes CSV only"):
        update_data(user_dir, ["QQQ"], [], fetch_yahoo=no_download, today=TODAY)


@pytest.mark.parametrize("tickers, fred, message", [
    ([], [], "nothing to do"),
    (["../x"], [], "--tickers: '../x' is not a ticker symbol"),
    ([], ["DFF;rm"], "--fred: 'DFF;rm' is not a FRED series id"),
])
def test_update_arguments_are_checked(tmp_path, tickers, fred, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        update_data(tmp_path, tickers, fred, fetch_yahoo=no_download, fetch_fred=no_download)


# ----------------------------------------------------------------------------- update: FRED
def test_fred_update_appends_only_new_dates(user_dir):
    path = user_dir / "macro" / "DFF.csv"
    before = path.read_text()
    (line,) = update_data(user_dir, [], ["DFF"], fetch_fred=fred_fixture)
    assert line == ("macro/DFF.csv: +10 rows (2026-07-22 .. 2026-07-31); "
                    "now 2026-07-02 .. 2026-07-31, 30 rows [FRED]")
    text = path.read_text()
    assert text.startswith(before) and text.endswith("2026-07-30,3.62\n2026-07-31,3.63\n")
    series = read_series(path, "macro")
    assert series.index.is_monotonic_increasing and series.iloc[-1] == 3.63


def test_fred_history_before_the_file_is_added_and_its_rows_kept(user_dir):
    path = user_dir / "macro" / "DFF.csv"
    header, body = path.read_text().split("\n", 1)
    answer = "observation_date,DFF\n2026-06-30,3.64\n2026-07-01,3.63\n2026-07-02,9.99\n"
    (line,) = update_data(user_dir, [], ["DFF"], fetch_fred=lambda s: answer)
    assert line.startswith("macro/DFF.csv: +2 earlier rows (2026-06-30 .. 2026-07-01); now "
                           "2026-06-30 .. 2026-07-21, 22 rows [FRED] (FRED now differs on 1 of")
    assert path.read_text() == f"{header}\n2026-06-30,3.64\n2026-07-01,3.63\n{body}"


def test_sources_combine_the_readme_and_downloads(tmp_path):
    (tmp_path / "macro").mkdir()
    shutil.copy(DATA / "README.md", tmp_path / "README.md")
    shutil.copy(DATA / "macro" / "DFF.csv", tmp_path / "macro" / "DFF.csv")
    shutil.copy(DATA / "prices" / "IWM.csv", tmp_path / "IWM.csv")  # loose: not in the README
    assert {i.name: i.source for i in list_data(tmp_path)} == {
        "DFF": "github:thebeals/Testfol-MarginStresser", "IWM": "user"}
    update_data(tmp_path, [], ["DFF"], fetch_fred=fred_fixture)
    assert {i.name: i.source for i in list_data(tmp_path)}["DFF"] == (
        "github:thebeals/Testfol-MarginStresser + FRED")


def test_fred_missing_values_are_skipped_and_new_series_created(tmp_path):
    update_data(tmp_path, [], ["dgs2", "FEDFUNDS"], fetch_fred=fred_fixture)
    dgs2 = read_series(tmp_path / "macro" / "DGS2.csv", "macro")
    assert len(dgs2) == 7 and pd.Timestamp("2026-02-16") not in dgs2.index
    assert frequency(dgs2.index) == "daily"
    assert frequency(read_series(tmp_path / "macro" / "FEDFUNDS.csv", "macro").index) == "monthly"
    rows = list(csv.DictReader((tmp_path / "PROVENANCE.csv").open()))
    assert [r["file"] for r in rows] == ["macro/DGS2.csv", "macro/FEDFUNDS.csv"]
    assert rows[0]["url"] == "https://fred.stlouisfed.org/graph/fredgraph.csv?id=DGS2"


def test_fred_web_page_instead_of_csv(tmp_path):
    page = (FIXTURES / "fred_not_found.html").read_text()
    with pytest.raises(DataError, match="sent a web page, not CSV"):
        update_data(tmp_path, [], ["NOPE"], fetch_fred=lambda s: page)
    assert not list(tmp_path.iterdir())


def test_offline_fred_is_a_clear_error(monkeypatch, user_dir):
    monkeypatch.setenv(datacmd.FRED_URL_ENV, "http://127.0.0.1:9/{series}.csv")  # closed port
    before = digest(user_dir)
    with pytest.raises(DataError, match="could not download FRED DFF from http://127.0.0.1:9/"
                                        "DFF.csv: .*; existing files left untouched"):
        update_data(user_dir, [], ["DFF"])
    assert digest(user_dir) == before


def test_update_through_the_cli_with_recorded_fred(user_dir):
    env = {datacmd.FRED_URL_ENV: (FIXTURES.as_uri() + "/fred_{series}.csv")}
    proc = backtest("data", "update", "--fred", "DFF", "FEDFUNDS", "--dir", str(user_dir),
                    env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("macro/DFF.csv: +10 rows")
    assert "macro/FEDFUNDS.csv: +5 rows" in proc.stdout
    check = backtest("data", "check", str(user_dir))
    assert check.returncode == 0 and "ok (1 price files, 2 macro series" in check.stdout
    listing = backtest("data", "list", "--dir", str(user_dir)).stdout
    assert "FRED" in listing and "user" in listing


# ----------------------------------------------------------------------------- packaging
def test_yfinance_is_optional():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("yfinance") for d in meta["dependencies"])
    assert any(d.startswith("yfinance") for d in meta["optional-dependencies"]["data"])
    code = "import engine.datacmd, sys; print('yfinance' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_missing_yfinance_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "yfinance", None)  # import fails as if not installed
    with pytest.raises(DataError, match=r"needs yfinance: pip install 'iwm-backtest\[data\]'"):
        datacmd.fetch_yahoo("IWM", None)
