"""``backtest data``: list, check and update data folders.

* ``data list [--dir DIR]``: every table in the folder (prices, macro series, and the other
  tables such as the cross-checks and the reconstitution calendar) with its first and last date,
  rows, frequency and source. The source comes from ``PROVENANCE.csv`` (written by ``data
  update``), else from the folder's ``README.md`` (a section per file naming its repository),
  else ``bundled`` for the bundled folder and ``user`` for any other.
* ``data check [DIR]``: validates every file a run could read, with the rules of a run
  (:func:`engine.data.read_series`, :func:`engine.data.read_price_frame`, the reconstitution
  calendar's loader). The first problem is the error (exit 2), with a count of the others.
* ``data update --tickers ... --fred ... --dir DIR``: adjusted close and open from Yahoo through
  yfinance (the optional extra ``data``) and FRED series from FRED's public CSV download (no API
  key), merged into our CSV format: only dates the file lacks are added (prices: after its last
  date, plus ``adj_open`` for the whole history where the file has none; FRED: before its first
  and after its last date), and the file's own rows are kept. Everything is downloaded first,
  then written to temporary files, validated with the rules of a run and only then renamed over
  the old files, so that being offline or any failed download or check leaves the folder as it
  was. Each file written gets a row in ``PROVENANCE.csv``.

Joining Yahoo prices onto a file: Yahoo's adjusted close is restated on every dividend (its basis
is the download day), so the downloaded rows are multiplied by the ratio existing / downloaded on
the last overlapping days. Returns are unchanged and the file stays on one basis. If that ratio
is not constant over the overlap (a split or a revision between the two), nothing is written.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import (
    BUNDLED_DATA_DIR,
    is_monthly,
    read_price_frame,
    read_series,
    resolve_data_dir,
)
from engine.errors import DataError

PROVENANCE_FILE = "PROVENANCE.csv"
PROVENANCE_COLUMNS = ("file", "source", "url", "downloaded_at", "rows_added", "added_from",
                      "added_to", "rows", "first", "last")
YAHOO_SOURCE = "yahoo (yfinance)"
YAHOO_URL = "https://finance.yahoo.com/quote/{ticker}/history"
FRED_SOURCE = "FRED"
FRED_URL = "https://fred.stlouisfed.org/graph/fredgraph.csv?id={series}"
FRED_URL_ENV = "BACKTEST_FRED_URL"  # another URL template (tests: recorded file:// responses)
TIMEOUT_S = 30
OVERLAP_DAYS = 14  # calendar days re-downloaded before a file's last date, to join the two
JOIN_DAYS = 5  # overlapping trading days used for the ratio old / new
JOIN_TOLERANCE = 5e-4  # relative spread of that ratio allowed (the bundled files have 4 decimals)
PRICE_HEADER = ("date", "adj_close", "adj_open")
MACRO_HEADER = ("date", "value")
_SUFFIXES = (".csv", ".parquet")
_TICKER = re.compile(r"^[A-Z0-9^][A-Z0-9.^=-]{0,19}$")
_FRED_ID = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,39}$")
_UNTOUCHED = "existing files left untouched"

YahooFetch = Callable[[str, "date | None"], pd.DataFrame]
FredFetch = Callable[[str], str]


def run_data_command(args) -> int:
    """Entry point of ``backtest data list|check|update`` (see the module docstring)."""
    if args.data_command == "list":
        folder = resolve_data_dir(args.dir)
        print(format_listing(folder, list_data(folder)))
    elif args.data_command == "check":
        print(check_data(resolve_data_dir(args.dir)))
    else:
        for line in update_data(Path(args.dir), args.tickers, args.fred):
            print(line)
    return 0


# ----------------------------------------------------------------------------- list
@dataclass(frozen=True)
class SeriesInfo:
    """One table of a data folder, as ``data list`` shows it."""

    kind: str  # price, macro, or the sub-folder of another table (crosscheck, calendars)
    name: str
    file: str  # path relative to the data folder
    first: date | None
    last: date | None
    rows: int
    frequency: str
    source: str
    note: str = ""  # "adj_open" for prices with opens, or what is wrong with the file


def data_files(folder: Path) -> list[tuple[Path, str]]:
    """(path, kind) of every table in ``folder``: prices/, macro/, loose files, sub-folders."""
    out = []
    for sub, kind in (("prices", "price"), ("macro", "macro")):
        out += [(p, kind) for p in _tables(folder / sub)]
    out += [(p, _loose_kind(p)) for p in _tables(folder) if p.name != PROVENANCE_FILE]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in ("prices", "macro") and not sub.name.startswith((".", "_")):
            out += [(p, sub.name) for p in _tables(sub)]
    return out


def _tables(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in _SUFFIXES and not p.name.startswith("."))


def _loose_kind(path: Path) -> str:
    """A file directly in the data folder is read by a run as prices or macro, by its columns."""
    try:
        if path.suffix == ".parquet":
            header = list(pd.read_parquet(path).columns)
        else:
            header = next(csv.reader(io.StringIO(_head(path))), [])
    except (OSError, ValueError, csv.Error):  # unreadable: validated (and reported) as prices
        header = []
    header = {str(h).strip().lower() for h in header}
    return "macro" if "value" in header and not header & {"adj_close", "close"} else "price"


def _head(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return fh.readline()


def list_data(folder: Path) -> list[SeriesInfo]:
    """Describe every table in ``folder`` (a file that does not validate is listed with why)."""
    sources = table_sources(folder)
    return [_describe(folder, path, kind, sources) for path, kind in data_files(folder)]


def _describe(folder: Path, path: Path, kind: str, sources: dict[str, str]) -> SeriesInfo:
    rel = path.relative_to(folder).as_posix()
    source = sources.get(rel) or _default_source(folder)
    note = ""
    try:
        if kind == "price":
            frame = read_price_frame(path)
            index = frame.index
            if "adj_open" in frame:
                known = int(frame["adj_open"].notna().sum())
                note = "adj_open" + ("" if known == len(frame) else f" on {known} rows")
        elif kind == "macro":
            index = read_series(path, "macro").index
        else:
            index = _other_dates(path)
    except DataError as exc:
        return SeriesInfo(kind, path.stem, rel, None, None, 0, "-", source, f"INVALID: {exc}")
    return SeriesInfo(kind, path.stem, rel, index[0].date(), index[-1].date(), len(index),
                      frequency(index), source, note)


def _default_source(folder: Path) -> str:
    return "bundled" if folder.resolve() == BUNDLED_DATA_DIR.resolve() else "user"


def _is_calendar(path: Path) -> bool:
    return path.parent.name == "calendars" and path.name == "russell_reconstitution.csv"


def _other_dates(path: Path) -> pd.DatetimeIndex:
    """Dates of a table that is neither prices nor macro: column ``date``, or the first column
    whose values are all YYYY-MM-DD dates (the calendar: its effective dates)."""
    if _is_calendar(path):
        from engine.calendar import load_reconstitution_calendar

        return pd.DatetimeIndex(load_reconstitution_calendar(path)["effective_date"])
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False) if path.suffix == ".csv" \
            else pd.read_parquet(path).astype(str)
    except (UnicodeDecodeError, ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable table ({type(exc).__name__})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    columns = ["date"] if "date" in table.columns else list(table.columns)
    for column in columns:
        dates = pd.to_datetime(table[column].str.strip(), format="%Y-%m-%d", errors="coerce")
        if len(dates) and dates.notna().all():
            return pd.DatetimeIndex(dates)
    raise DataError(f"{path}: no column of YYYY-MM-DD dates")


def frequency(index: pd.DatetimeIndex) -> str:
    """daily / weekly / monthly / quarterly / annual / irregular, from the median gap."""
    index = pd.DatetimeIndex(index).as_unit("ns")
    if len(index) < 2:
        return "single"
    if is_monthly(index):
        return "monthly"
    gap = float(np.median(np.diff(index.asi8))) / 86400e9
    for name, low, high in (("daily", 0, 5), ("weekly", 6, 8), ("monthly", 27, 32),
                            ("quarterly", 85, 95), ("annual", 350, 380)):
        if low <= gap <= high:
            return name
    return "irregular"


def table_sources(folder: Path) -> dict[str, str]:
    """Relative file path -> source, from the README and PROVENANCE.csv of the folder.

    A file that downloads only extended shows both, e.g. ``github:owner/repo + FRED``; one that
    a download wrote whole (rows_added == rows) shows that download's source onwards."""
    out = readme_sources(folder / "README.md")
    for rel, rows in provenance_rows(folder).items():
        whole = [i for i, row in enumerate(rows) if row.get("rows_added") == row.get("rows")]
        base = [rows[whole[-1]]["source"]] if whole else [out.get(rel) or _default_source(folder)]
        later = rows[whole[-1] + 1:] if whole else rows
        out[rel] = " + ".join(dict.fromkeys(base + [row["source"] for row in later]))
    return out


def readme_sources(path: Path) -> dict[str, str]:
    """Sources named in a data README: a heading ``## prices/{A,B}.csv`` or ``## macro/X.csv``
    whose section names a repository in bold (``**owner/repo**``) gives every file it covers
    that first repository; a file only mentioned by its path (``crosscheck/x.csv``) gets
    ``see README.md``."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    heads = list(re.finditer(r"^#{2,}\s+(.*)$", text, re.M))
    out: dict[str, str] = {}
    for i, head in enumerate(heads):
        m = re.match(r"((?:prices|macro)/)(\{[^}]*\}|[\w.^=-]+)\.csv", head.group(1))
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        repo = re.search(r"\*\*([\w.-]+/[\w.-]+)\*\*", text[head.end():end])
        if m and repo:
            for name in m.group(2).strip("{}").split(","):
                out.setdefault(f"{m.group(1)}{name.strip()}.csv", f"github:{repo.group(1)}")
    for rel in re.findall(r"\b((?:[\w-]+/)+[\w.^=-]+\.csv)\b", text):
        if (path.parent / rel).is_file():
            out.setdefault(rel, "see README.md")
    return out


def provenance_rows(folder: Path) -> dict[str, list[dict[str, str]]]:
    """PROVENANCE.csv rows by file, oldest first (empty when there is none or it is unreadable)."""
    out: dict[str, list[dict[str, str]]] = {}
    try:
        with (folder / PROVENANCE_FILE).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("file") and row.get("source"):
                    out.setdefault(row["file"], []).append(row)
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return out


def format_listing(folder: Path, infos: list[SeriesInfo]) -> str:
    """The ``data list`` table: kind, name, first, last, rows, frequency, source, note."""
    header = ("kind", "name", "first", "last", "rows", "frequency", "source", "note")
    body = [(i.kind, i.name, str(i.first or "-"), str(i.last or "-"), str(i.rows), i.frequency,
             i.source, i.note) for i in infos]
    widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header) - 1)]

    def line(row):
        pairs = enumerate(zip(row, widths, strict=False))  # the last column is not padded
        cells = [c.rjust(w) if k == 4 else c.ljust(w) for k, (c, w) in pairs]
        return "  ".join([*cells, row[-1]]).rstrip()

    rule = tuple("-" * w for w in widths) + ("----",)
    return "\n".join([f"data folder: {folder}", line(header), line(rule), *map(line, body)])


# ----------------------------------------------------------------------------- check
def check_data(folder: Path) -> str:
    """Validate every file a run could read; a one-line summary, or DataError (first problem,
    plus how many other files have problems)."""
    files = [(p, k) for p, k in data_files(folder) if k in ("price", "macro") or _is_calendar(p)]
    if not any(k == "price" for _, k in files):
        raise DataError(f"{folder}: no price files (want prices/<TICKER>.csv with columns "
                        "date,adj_close)")
    problems = []
    for path, kind in files:
        try:
            _validate(path, kind)
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 1} more file(s) with problems)" if problems[1:] else ""
        raise DataError(problems[0] + more)
    counts = {k: sum(1 for _, kind in files if kind == k) for k in ("price", "macro")}
    calendar = " and the reconstitution calendar" if any(_is_calendar(p) for p, _ in files) else ""
    return (f"{folder}: ok ({counts['price']} price files, {counts['macro']} macro series"
            f"{calendar}; checked with the rules of a run)")


def _validate(path: Path, kind: str) -> None:
    if kind == "price":
        read_price_frame(path)
    elif kind == "macro":
        read_series(path, "macro")
    elif _is_calendar(path):
        from engine.calendar import load_reconstitution_calendar

        load_reconstitution_calendar(path)


# ----------------------------------------------------------------------------- downloads
def fetch_yahoo(ticker: str, start: date | None) -> pd.DataFrame:
    """Daily history of ``ticker`` from Yahoo via yfinance, unadjusted OHLC plus ``Adj Close``
    (``Ticker.history(auto_adjust=False)``), from ``start`` (None: all of it)."""
    try:
        import yfinance as yf
    except ImportError:
        raise DataError("data update --tickers needs yfinance: pip install 'iwm-backtest[data]' "
                        f"(or pip install yfinance); {_UNTOUCHED}") from None
    logging.getLogger("yfinance").disabled = True  # its own error lines would go to stderr
    period = None if start else "max"
    try:
        return yf.Ticker(ticker).history(
            period=period, start=start.isoformat() if start else None, interval="1d",
            auto_adjust=False, actions=False, raise_errors=True, timeout=TIMEOUT_S)
    except Exception as exc:  # network boundary: whatever yfinance or requests raise
        raise DataError(f"could not download {ticker} from Yahoo: {_reason(exc)}; "
                        f"{_UNTOUCHED}") from None


def fred_url(series_id: str) -> str:
    return os.environ.get(FRED_URL_ENV, FRED_URL).format(series=series_id)


def fetch_fred(series_id: str) -> str:
    """FRED's CSV of one series (``fredgraph.csv``, no API key), as text."""
    url = fred_url(series_id)
    request = urllib.request.Request(url, headers={"User-Agent": "iwm-backtest data update"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.read().decode("utf-8")
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts; bad URL; not UTF-8
        raise DataError(f"could not download FRED {series_id} from {url}: {_reason(exc)}; "
                        f"{_UNTOUCHED}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return " ".join(str(exc.reason).split())
    return " ".join(str(exc).split()) or type(exc).__name__


# ----------------------------------------------------------------------------- update
@dataclass(frozen=True)
class _Pending:
    """One file to write: its text (None: nothing new) and its provenance row."""

    path: Path
    kind: str
    text: str | None
    summary: str
    provenance: dict[str, str]


def update_data(folder: Path, tickers: Iterable[str] = (), fred: Iterable[str] = (),
                fetch_yahoo: YahooFetch = fetch_yahoo, fetch_fred: FredFetch = fetch_fred,
                today: date | None = None) -> list[str]:
    """Download and merge; returns one summary line per file. See the module docstring."""
    tickers = _names(tickers, _TICKER, "--tickers", "a ticker symbol")
    series = _names(fred, _FRED_ID, "--fred", "a FRED series id")
    if not tickers and not series:
        raise DataError("data update: nothing to do; give --tickers and/or --fred")
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--dir: not a folder: {folder}")
    if not folder.exists() and not folder.parent.is_dir():
        raise DataError(f"--dir: neither {folder} nor its parent folder exists")
    today = today or _today_new_york()
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    pending = [_plan_prices(folder, t, fetch_yahoo, today, stamp) for t in tickers]
    pending += [_plan_fred(folder, s, fetch_fred, stamp) for s in series]
    _commit(folder, pending)
    return [p.summary for p in pending]


def _names(values: Iterable[str], pattern: re.Pattern, flag: str, what: str) -> list[str]:
    out = []
    for value in values:
        name = str(value).strip().upper()
        if not pattern.match(name):
            raise DataError(f"{flag}: '{value}' is not {what} (letters, digits, . ^ = - _)")
        if name not in out:
            out.append(name)
    return out


def _today_new_york() -> date:
    """Today in New York: its daily bar may still be moving, so it is never written."""
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("America/New_York")).date()
    except (ImportError, KeyError, ValueError):  # no tz database: UTC is at most a day ahead
        return datetime.now(timezone.utc).date()


def _existing(folder: Path, sub: str, name: str, header: tuple[str, ...]) -> Path | None:
    """The file a run would read for ``name`` (same search order; None when there is none);
    refuses layouts we cannot merge into."""
    candidates = [folder / where / f"{name}{ext}" for where in (sub, ".") for ext in _SUFFIXES]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        return None
    if found.suffix == ".parquet":
        raise DataError(f"{found}: data update writes CSV only; convert or move this Parquet "
                        f"file first; {_UNTOUCHED}")
    columns = tuple(c.strip().lower() for c in _head(found).lstrip("\ufeff").strip().split(","))
    if columns not in (header, header[:2]):
        raise DataError(f"{found}: columns {','.join(columns)}; data update merges only into "
                        f"files with columns {','.join(header)}; {_UNTOUCHED}")
    return found


def _plan_prices(folder: Path, ticker: str, fetch: YahooFetch, today: date,
                 stamp: str) -> _Pending:
    path = _existing(folder, "prices", ticker, PRICE_HEADER)
    old = read_price_frame(path) if path else None
    incremental = old is not None and "adj_open" in old
    start = (old.index[-1] - pd.Timedelta(days=OVERLAP_DAYS)).date() if incremental else None
    new = _yahoo_frame(fetch(ticker, start), ticker, today)
    path = path or folder / "prices" / f"{ticker}.csv"
    rel = path.relative_to(folder).as_posix()
    merged, added = _join_prices(old, new, ticker, rel)
    provenance = _provenance_row(rel, YAHOO_SOURCE, YAHOO_URL.format(ticker=ticker), stamp,
                                 added, merged.index)
    if incremental and added.empty:
        return _Pending(path, "price", None, f"{rel}: up to date (last {old.index[-1].date()})",
                        provenance)
    if incremental:
        text = _with_newline(path.read_text(encoding="utf-8")) + _price_lines(added)
    else:
        text = ",".join(PRICE_HEADER) + "\n" + _price_lines(merged)
    what = f"+{len(added)} rows" + (f" ({_span(added.index)})" if len(added) else "")
    if old is not None and not incremental:
        what += ", adj_open added"
    summary = f"{rel}: {what}; now {_span(merged.index)}, {len(merged)} rows [{YAHOO_SOURCE}]"
    return _Pending(path, "price", text, summary, provenance)


def _yahoo_frame(raw: pd.DataFrame | None, ticker: str, today: date) -> pd.DataFrame:
    """adj_close and adj_open (open * adj_close / close) by date from a yfinance frame."""
    if raw is None or len(raw) == 0:
        raise DataError(f"could not download {ticker} from Yahoo: no rows returned (is '{ticker}' "
                        f"a Yahoo ticker?); {_UNTOUCHED}")
    missing = {"Open", "Close", "Adj Close"} - set(raw.columns)
    if missing:
        raise DataError(f"unexpected Yahoo response for {ticker}: no column(s) "
                        f"{', '.join(sorted(missing))}; {_UNTOUCHED}")
    index = pd.DatetimeIndex(raw.index)
    index = (index.tz_localize(None) if index.tz is not None else index).normalize()
    frame = pd.DataFrame({c: pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=float)
                          for c in ("Open", "Close", "Adj Close")}, index=index)
    frame = frame[frame.index < pd.Timestamp(today)].dropna(subset=["Close", "Adj Close"])
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    bad = frame.index[(frame[["Close", "Adj Close"]] <= 0).any(axis=1)]
    if len(bad):
        raise DataError(f"Yahoo sent a price <= 0 for {ticker} on {bad[0].date()}; {_UNTOUCHED}")
    if frame.empty:
        raise DataError(f"Yahoo sent no completed trading day for {ticker}; {_UNTOUCHED}")
    opens = frame["Open"].where(frame["Open"] > 0) * frame["Adj Close"] / frame["Close"]
    out = pd.DataFrame({"adj_close": frame["Adj Close"], "adj_open": opens})
    out.index = out.index.as_unit("ns")
    return out


def _join_prices(old: pd.DataFrame | None, new: pd.DataFrame, ticker: str,
                 rel: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(merged frame, added rows): the download rescaled onto the file's adjustment basis."""
    if old is None:
        return new, new
    common = old.index.intersection(new.index)[-JOIN_DAYS:]
    if common.empty:
        raise DataError(f"{ticker}: the download ({_span(new.index)}) does not overlap {rel} "
                        f"(last {old.index[-1].date()}), so the two cannot be joined; "
                        f"{_UNTOUCHED}")
    ratio = old.loc[common, "adj_close"] / new.loc[common, "adj_close"]
    scale = float(ratio.median())
    spread = (ratio / scale - 1.0).abs()
    if spread.max() > JOIN_TOLERANCE:
        day = spread.idxmax()
        raise DataError(
            f"{ticker}: downloaded adjusted closes do not line up with {rel} on {day.date()} "
            f"(existing {old.loc[day, 'adj_close']:g}, downloaded {new.loc[day, 'adj_close']:g}, "
            f"ratio {ratio[day]:.6g} vs {scale:.6g}: a split or a revision?); {_UNTOUCHED}")
    scaled = new * scale
    added = scaled.loc[scaled.index > old.index[-1]]
    merged = pd.concat([old[["adj_close"]], added[["adj_close"]]])
    opens = scaled["adj_open"].reindex(merged.index)
    if "adj_open" in old:
        opens.loc[old.index] = old["adj_open"].fillna(opens.loc[old.index])
    merged["adj_open"] = opens
    return merged, added


def _price_lines(frame: pd.DataFrame) -> str:
    rows = zip(frame.index.strftime("%Y-%m-%d"), frame["adj_close"], frame["adj_open"],
               strict=True)
    return "".join(f"{d},{_number(c)},{'' if np.isnan(o) else _number(o)}\n" for d, c, o in rows)


def _number(x: float) -> str:
    """Six decimals at most, no trailing zeros: 24.0535 stays 24.0535."""
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _plan_fred(folder: Path, series_id: str, fetch: FredFetch, stamp: str) -> _Pending:
    """FRED sends the whole series: the dates before the file's first and after its last are
    added (a short bundled series gets its history); the file's own rows stay as they are."""
    path = _existing(folder, "macro", series_id, MACRO_HEADER)
    old = read_series(path, "macro") if path else None
    rows = _fred_rows(fetch(series_id), series_id)
    path = path or folder / "macro" / f"{series_id}.csv"
    rel = path.relative_to(folder).as_posix()
    first, last = (old.index[0], old.index[-1]) if old is not None else (None, None)
    earlier = [(d, v) for d, v in rows if first is not None and pd.Timestamp(d) < first]
    later = [(d, v) for d, v in rows if last is None or pd.Timestamp(d) > last]
    dates = pd.DatetimeIndex([pd.Timestamp(d) for d, _ in earlier + later])
    merged = dates if old is None else dates.append(old.index).sort_values()
    provenance = _provenance_row(rel, FRED_SOURCE, fred_url(series_id), stamp,
                                 pd.DataFrame(index=dates.sort_values()), merged)
    if not len(dates):
        return _Pending(path, "macro", None, f"{rel}: up to date (last {last.date()})", provenance)
    header, body = "date,value\n", ""
    if old is not None:
        header, _, body = _with_newline(path.read_text(encoding="utf-8")).partition("\n")
        header += "\n"
    lines = ["".join(f"{d},{v}\n" for d, v in part) for part in (earlier, later)]
    text = header + lines[0] + body + lines[1]
    added = [f"+{len(part)} {what} ({part[0][0]} .. {part[-1][0]})"
             for part, what in ((later, "rows"), (earlier, "earlier rows")) if part]
    summary = (f"{rel}: {', '.join(added)}; now {_span(merged)}, {len(merged)} rows "
               f"[{FRED_SOURCE}]{_revisions(old, rows)}")
    return _Pending(path, "macro", text, summary, provenance)


def _fred_rows(text: str, series_id: str) -> list[tuple[str, str]]:
    """(date, value) pairs of a fredgraph.csv; FRED's '.' (no value, e.g. holidays) skipped."""
    if text.lstrip().startswith("<"):
        raise DataError(f"could not download FRED {series_id}: the server sent a web page, not "
                        f"CSV (is '{series_id}' a FRED series id?); {_UNTOUCHED}")
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if len(header) < 2 or header[0] not in ("observation_date", "date") \
            or header[1] != series_id.lower():
        shown = ",".join(rows[0]) if rows else "(empty)"
        raise DataError(f"unexpected FRED response for {series_id}: header '{shown}', want "
                        f"observation_date,{series_id}; {_UNTOUCHED}")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        day, value = (row + ["", ""])[0].strip(), (row + ["", ""])[1].strip()
        if not day or value in ("", "."):
            continue
        try:
            date.fromisoformat(day)
            if not np.isfinite(float(value)):
                raise ValueError
        except ValueError:
            raise DataError(f"unexpected FRED response for {series_id} line {line}: "
                            f"'{','.join(row)}'; {_UNTOUCHED}") from None
        out.append((day, value))
    if not out:
        raise DataError(f"FRED sent no observations for {series_id}; {_UNTOUCHED}")
    return out


def _revisions(old: pd.Series | None, rows: list[tuple[str, str]]) -> str:
    """A note when FRED's values differ from the file's on common dates (the file's are kept)."""
    if old is None:
        return ""
    fred = pd.Series({pd.Timestamp(d): float(v) for d, v in rows})
    common = old.index.intersection(fred.index)
    differ = int((~np.isclose(old[common], fred[common], rtol=0, atol=5e-3)).sum())
    return f" (FRED now differs on {differ} of {len(common)} older dates; kept)" if differ else ""


def _provenance_row(rel: str, source: str, url: str, stamp: str, added: pd.DataFrame,
                    merged: pd.DatetimeIndex) -> dict[str, str]:
    first_added = str(added.index[0].date()) if len(added) else ""
    last_added = str(added.index[-1].date()) if len(added) else ""
    return {"file": rel, "source": source, "url": url, "downloaded_at": stamp,
            "rows_added": str(len(added)), "added_from": first_added, "added_to": last_added,
            "rows": str(len(merged)), "first": str(merged[0].date()),
            "last": str(merged[-1].date())}


def _span(index: pd.DatetimeIndex) -> str:
    return f"{index[0].date()} .. {index[-1].date()}"


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _commit(folder: Path, pending: list[_Pending]) -> None:
    """Write each new file beside its target, validate it as a run would, then rename all."""
    writes = [p for p in pending if p.text is not None]
    staged: list[tuple[Path, Path]] = []
    try:
        for p in writes:
            p.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.path.parent / f".{p.path.name}.new-{os.getpid()}"
            tmp.write_text(p.text, encoding="utf-8")
            staged.append((tmp, p.path))
            try:
                _validate(tmp, p.kind)
            except DataError as exc:
                rel = p.path.relative_to(folder).as_posix()
                raise DataError(f"the downloaded {rel} fails the checks of a run: "
                                f"{str(exc).replace(str(tmp), rel)}; {_UNTOUCHED}") from None
        if writes:
            staged.append((_stage_provenance(folder, [p.provenance for p in writes]),
                           folder / PROVENANCE_FILE))
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _stage_provenance(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / PROVENANCE_FILE
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PROVENANCE_COLUMNS, lineterminator="\n")
    if not old:
        writer.writeheader()
    writer.writerows(rows)
    tmp = folder / f".{PROVENANCE_FILE}.new-{os.getpid()}"
    tmp.write_text(_with_newline(old) + buffer.getvalue(), encoding="utf-8")
    return tmp
