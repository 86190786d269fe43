"""Market data: load, validate and align price and macro series onto one trading calendar.

Files (bundled ``data/`` or a user's folder given by ``--data-dir`` / ``data.dir``):

* prices: ``prices/<TICKER>.csv`` (or ``.parquet``), or ``<TICKER>.csv`` directly in the folder;
  columns ``date`` plus ``adj_close`` (preferred) or ``close``. Adjusted close is a total-return
  price: dividends and fund expenses are already in it. An optional ``adj_open`` column holds
  the open adjusted on the same basis (blank where unknown).
* macro: ``macro/<NAME>.csv`` (or in the folder), columns ``date,value``; rates in annual percent
  (5.33 means 5.33 %/yr).

Alignment: prices are put on the common trading days of all tickers in the run. Macro series
become usable only after publication: a monthly value dated month M (first of the month) is usable
from the first trading day of month M + ``monthly_lag_months`` (default 1, i.e. the next month); a
daily value dated d from the next trading day after d (``daily_lag_days`` calendar days later,
default 1). Before its first publication a macro series is NaN.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import DataError, did_you_mean

BUNDLED_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class MarketData:
    """Aligned arrays over one trading-day index.

    Attributes:
        dates: common trading days, from the first common day (warm-up history included) to
            the end of the run.
        tickers: column order of ``close``.
        close: (T, A) float64 adjusted close.
        start_index: index in ``dates`` of the run's first day (``data.start``); rows before
            it are warm-up history for indicators.
        macro: name -> (T,) float64 values usable at the close of each day (after the
            publication lag), NaN before the first publication. Rates in annual percent.
        files: name -> path of every file read (for the run manifest).
    """

    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    close: np.ndarray
    start_index: int = 0
    macro: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def price(self, ticker: str) -> np.ndarray:
        """The (T,) adjusted close of one ticker."""
        return self.close[:, self.column(ticker)]

    def column(self, ticker: str) -> int:
        try:
            return self.tickers.index(ticker)
        except ValueError:
            raise DataError(
                f"ticker '{ticker}' is not loaded (loaded: {', '.join(self.tickers)})"
                f"{did_you_mean(ticker, self.tickers)}"
            ) from None

    def with_close(self, close: np.ndarray) -> MarketData:
        """A copy with other prices (same shape): used by the look-ahead audit."""
        return MarketData(self.dates, self.tickers, close, self.start_index, self.macro, self.files)


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The data folder to read: ``data_dir`` if given, else the bundled dataset."""
    path = Path(data_dir).expanduser() if data_dir else BUNDLED_DATA_DIR
    if not path.exists():
        raise DataError(f"data folder does not exist: {path}")
    if not path.is_dir():
        raise DataError(f"data folder is not a folder: {path}")
    return path


def _find_file(data_dir: Path, sub: str, name: str) -> Path | None:
    for folder in (data_dir / sub, data_dir):
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def available(data_dir: Path, sub: str) -> list[str]:
    """Names of the series in ``data_dir/sub`` (or loose in ``data_dir``), sorted."""
    names = set()
    for folder in (data_dir / sub, data_dir):
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in _SUFFIXES)
    return sorted(names)


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        text = _text(path)
        with warnings.catch_warnings():
            # a row longer than the header would silently become the index (or be cut)
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                               skipinitialspace=True, index_col=False)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        line = _ragged_line(path)
        if line != "?" or isinstance(exc, pd.errors.ParserWarning):
            raise DataError(f"{path} line {line}: more fields than the header") from None
        raise DataError(f"{path}: not a readable table ({_first_line(exc)})") from None
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable table ({_first_line(exc)})") from None


def _text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark dropped); DataError for binary content."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise DataError(f"{path}: not a text CSV file (binary content: NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file (not UTF-8: byte "
                        f"{raw[exc.start]:#04x} at offset {exc.start})") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _ragged_line(path: Path) -> int | str:
    """1-based line of the first CSV row with more fields than the header ('?' if none)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        width = len(next(reader, []))
        for row in reader:
            if len(row) > width:
                return reader.line_num
    return "?"


def _parse_dates(path: Path, raw: pd.Series) -> pd.DatetimeIndex:
    dates = pd.to_datetime(raw.astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path} line {i + 2}: unparsable date '{raw.iloc[i]}' (want YYYY-MM-DD)")
    index = pd.DatetimeIndex(dates).as_unit("ns")
    dup = np.flatnonzero(index.duplicated())
    if dup.size:
        i = int(dup[0])
        raise DataError(f"{path} line {i + 2}: duplicate date {index[i].date()}")
    back = np.flatnonzero(np.diff(index.asi8) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(
            f"{path} line {i + 2}: date {index[i].date()} comes after {index[i - 1].date()} "
            "(rows must be sorted by date)"
        )
    return index


def _parse_values(path: Path, raw: pd.Series, dates: pd.DatetimeIndex, column: str,
                  positive: bool) -> np.ndarray:
    values = pd.to_numeric(raw.astype(str).str.strip().replace("", "nan"), errors="coerce")
    values = values.to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path} line {i + 2} ({dates[i].date()}): {column} is missing or not a number "
            f"('{raw.iloc[i]}')"
        )
    if positive:
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{path} line {i + 2} ({dates[i].date()}): {column} {values[i]:g} is not positive"
            )
    return values


def read_series(path: Path, kind: str) -> pd.Series:
    """Read and validate one file: a price series (``kind='price'``) or macro (``'macro'``)."""
    return _read_validated(path, kind)[0]


def read_price_frame(path: Path) -> pd.DataFrame:
    """A price file as a frame: ``adj_close`` validated as in a run, plus ``adj_open`` when the
    file has that column (blank cells are NaN: open unknown; others must be positive)."""
    series, table, dates = _read_validated(path, "price")
    frame = pd.DataFrame({"adj_close": series.to_numpy()}, index=dates)
    if "adj_open" in table.columns:
        raw = table["adj_open"].fillna("").astype(str).str.strip()  # a short row: NaN, unknown
        known = (raw != "").to_numpy()
        opens = pd.to_numeric(raw.where(known, "nan"), errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(known & ~(np.isfinite(opens) & (opens > 0)))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path} line {i + 2} ({dates[i].date()}): adj_open '{raw.iloc[i]}' "
                            "is not a positive number (leave it blank where unknown)")
        frame["adj_open"] = np.where(known, opens, np.nan)
    return frame


def _read_validated(path: Path, kind: str) -> tuple[pd.Series, pd.DataFrame, pd.DatetimeIndex]:
    table = _read_table(path)
    table.columns = [str(c).strip().lower() for c in table.columns]
    wanted = ("adj_close", "close") if kind == "price" else ("value",)
    column = next((c for c in wanted if c in table.columns), None)
    if "date" not in table.columns or column is None:
        raise DataError(
            f"{path}: needs columns 'date' and {' or '.join(repr(c) for c in wanted)} "
            f"(found: {', '.join(table.columns) or 'none'})"
        )
    if table.empty:
        raise DataError(f"{path}: has a header but no data rows")
    dates = _parse_dates(path, table["date"])
    values = _parse_values(path, table[column], dates, column, positive=(kind == "price"))
    return pd.Series(values, index=dates, name=path.stem), table, dates


def _series_path(data_dir: Path, sub: str, name: str, what: str) -> Path:
    """The file of series ``name`` under ``data_dir/sub`` (or loose), or a DataError listing
    what exists there."""
    path = _find_file(data_dir, sub, name)
    if path is None:
        have = available(data_dir, sub)
        raise DataError(
            f"unknown {what} '{name}': no {sub}/{name}.csv in {data_dir} "
            f"(available: {', '.join(have) or 'none'}){did_you_mean(name, have)}"
        )
    return path


def _price_path(data_dir: Path, ticker: str) -> Path:
    return _series_path(data_dir, "prices", ticker, "ticker")


def _macro_path(data_dir: Path, name: str) -> Path:
    return _series_path(data_dir, "macro", name, "macro series")


def is_monthly(index: pd.DatetimeIndex) -> bool:
    """True for a series dated on month starts with about one row per month."""
    if len(index) < 2:
        return bool(len(index)) and bool(index[0].day == 1)
    spacing = pd.Series(index).diff().median()
    return bool((index.day == 1).all() and spacing > pd.Timedelta(days=25))


def publish(series: pd.Series, dates: pd.DatetimeIndex, monthly_lag_months: int = 1,
            daily_lag_days: int = 1) -> np.ndarray:
    """Values of ``series`` usable at the close of each trading day, after publication.

    A monthly value dated M-01 becomes usable on the first trading day on or after the first
    day of month M + ``monthly_lag_months``; a daily value dated d on the first trading day on
    or after d + ``daily_lag_days`` calendar days. NaN before the first usable value.
    """
    if is_monthly(series.index):
        usable_from = series.index + pd.DateOffset(months=monthly_lag_months)
    else:
        usable_from = series.index + pd.Timedelta(days=daily_lag_days)
    position = usable_from.searchsorted(dates, side="right") - 1
    out = np.full(len(dates), np.nan)
    ok = position >= 0
    out[ok] = series.to_numpy()[position[ok]]
    return out


def load_market_data(
    tickers: list[str] | tuple[str, ...],
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    data_dir: str | Path | None = None,
    macro: list[str] | tuple[str, ...] = (),
    monthly_lag_months: int = 1,
    daily_lag_days: int = 1,
) -> MarketData:
    """Load ``tickers`` (and ``macro`` series) aligned on their common trading days.

    History before ``start`` is kept for indicator warm-up (``MarketData.start_index`` marks the
    run's first day); nothing after ``end`` is loaded. Raises :class:`DataError` with file and
    line for any problem in the files, and when the tickers share no day in ``[start, end]``.
    """
    folder = resolve_data_dir(data_dir)
    tickers = tuple(dict.fromkeys(t.strip() for t in tickers))
    if not tickers:
        raise DataError("no tickers to load (data.tickers is empty)")
    files: dict[str, Path] = {}
    series = {}
    for ticker in tickers:
        files[ticker] = _price_path(folder, ticker)
        series[ticker] = read_series(files[ticker], "price")
    frame = pd.concat(series, axis=1, join="inner")
    if frame.empty:
        spans = ", ".join(f"{t} {s.index[0].date()}..{s.index[-1].date()}"
                          for t, s in series.items())
        raise DataError(f"the tickers share no trading day ({spans})")
    end_ts = pd.Timestamp(end) if end is not None else None
    start_ts = pd.Timestamp(start) if start is not None else frame.index[0]
    span = f"{frame.index[0].date()}..{frame.index[-1].date()}"
    if end_ts is not None:
        frame = frame.loc[:end_ts]
    # The first day of data decides the first target, so a run starts on the second day at
    # the earliest (a decision at close t trades at close t + 1).
    first = max(int(frame.index.searchsorted(start_ts, side="left")), min(1, len(frame) - 1))
    if frame.empty or first >= len(frame):
        raise DataError(
            f"no trading days between {start_ts.date()} and "
            f"{end_ts.date() if end_ts is not None else 'the end'} for {', '.join(tickers)} "
            f"(common data: {span})"
        )
    dates = pd.DatetimeIndex(frame.index).as_unit("ns")
    macro_values = {}
    for name in dict.fromkeys(macro):
        files[name] = _macro_path(folder, name)
        raw = read_series(files[name], "macro")
        macro_values[name] = publish(raw, dates, monthly_lag_months, daily_lag_days)
    close = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
    return MarketData(dates, tickers, close, first, macro_values, files)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (for the manifest)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
