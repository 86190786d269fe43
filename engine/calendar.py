"""Russell reconstitution calendar: the dated table, the rules that fill it, trading-day anchors.

Thesis 3 (DOMAIN.md): index funds trade the close of the reconstitution effective day and
traders pre-position from rank day on (Madhavan 2003, FAJ; Petajisto 2011, J. Empirical Finance).
The table ``data/calendars/russell_reconstitution.csv`` holds one row per event; ``verified``
is true only where every date in the row is stated by the source(s) in its ``source`` column.

Effective date (the new index holds from the *next* open), by era:
  * up to 2003: the last business day of June (Russell press release of 2004-02-11, via etf.com:
    "shift the final day ... to the last Friday in June ... instead of the last day in June");
  * 2004-2006: the last Friday of June (2006: June 30, per Russell's 2006 announcement);
  * from 2007: the fourth Friday of June, i.e. the last Friday unless that is the 29th or 30th
    (Russell methodology; 2007 is the first year seen using it: 22 June, not 29 June; LSEG's
    January 2025 announcement keeps "the fourth Friday in June").
From November 2026 a second, *semiannual* event is announced (LSEG, January 2025: second Friday of
November; a later LSEG note speaks of December 2026). DOMAIN.md says to treat it as unverified
data, not a rule, so semiannual events come only from the table and are never filled by rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import BacktestError, DataError, did_you_mean

DEFAULT_CALENDAR_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "calendars" / "russell_reconstitution.csv"
)
COLUMNS = ("year", "event", "rank_day", "effective_date", "verified", "source")
EVENTS = ("annual", "semiannual")
ANCHORS = ("rank_day", "effective_date")
FIRST_YEAR = 1990  # the table starts here; Russell reconstitutes annually in June since 1989
_FRIDAY = 4
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday_on_or_before(day: dt.date, weekday: int | None = None) -> dt.date:
    """``day`` itself or the closest earlier Mon-Fri (or the given weekday) date."""
    while (day.weekday() > _FRIDAY) if weekday is None else (day.weekday() != weekday):
        day -= dt.timedelta(days=1)
    return day


def fourth_friday_of_june(year: int) -> dt.date:
    """The fourth Friday of June: 2023 -> 23 June (five Fridays), 2024 -> 28 June."""
    return _nth_weekday(year, 6, _FRIDAY, 4)


def second_friday_of_november(year: int) -> dt.date:
    """The second Friday of November (LSEG, Jan 2025: the semiannual date from 2026)."""
    return _nth_weekday(year, 11, _FRIDAY, 2)


def default_effective_date(year: int) -> dt.date:
    """The June effective date by the rule of its era (see the module docstring)."""
    if year < 2004:  # last business day of June; June had no NYSE holiday before 2022
        return _last_weekday_on_or_before(dt.date(year, 6, 30))
    if year < 2007:
        return _last_weekday_on_or_before(dt.date(year, 6, 30), _FRIDAY)
    return fourth_friday_of_june(year)


def default_rank_day(year: int) -> dt.date:
    """Rank day by an approximate fill rule; the table's dated rows always take precedence.

    * up to 2015: the last NYSE business day of May (Memorial Day, the last Monday of May, is
      skipped): 2013-05-31 and 2015-05-29 are documented; 2010 gives 28 May.
    * 2016-2022: the second Friday of May. Matches 2017-2020 (e.g. 2018-05-11, DOMAIN.md) but
      not 2016 (27 May), 2021 (7 May) or 2022 (6 May); those years are dated in the table.
    * from 2023: 30 April, moved back to the Friday before when it falls on a weekend. Ranks
      use a market close, so rank day must be a trading day, and FTSE Russell did exactly this
      in 2023 (30 April a Sunday -> Friday 28 April); 2024 (Tue) and 2025 (Wed) are 30 April.
    """
    if year < 2016:
        day = _last_weekday_on_or_before(dt.date(year, 5, 31))
        memorial_day = _last_weekday_on_or_before(dt.date(year, 5, 31), 0)
        if day == memorial_day:  # 31 May is a Monday, hence Memorial Day
            day = _last_weekday_on_or_before(day - dt.timedelta(days=1))
        return day
    if year <= 2022:
        return _nth_weekday(year, 5, _FRIDAY, 2)
    return _last_weekday_on_or_before(dt.date(year, 4, 30))


def _parse_row(fields: list[str], path: Path, line: int) -> tuple:
    where = f"{path}, line {line}"
    if len(fields) != len(COLUMNS):
        raise DataError(f"{where}: expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got "
                        f"{len(fields)}")
    year_s, event, rank_s, eff_s, verified_s, source = (f.strip() for f in fields)

    def parse_date(name: str, text: str) -> dt.date:
        try:
            if not _ISO_DATE.match(text):
                raise ValueError
            return dt.date.fromisoformat(text)
        except ValueError:
            raise DataError(f"{where}: {name} must be a YYYY-MM-DD date; got {text!r}") from None

    if not year_s.isdigit():
        raise DataError(f"{where}: year must be an integer; got {year_s!r}")
    if event not in EVENTS:
        raise DataError(f"{where}: event must be one of {', '.join(EVENTS)}; got {event!r}"
                        + did_you_mean(event, EVENTS))
    effective = parse_date("effective_date", eff_s)
    rank = parse_date("rank_day", rank_s) if rank_s else None  # blank: not published
    if verified_s.lower() not in ("true", "false"):
        raise DataError(f"{where}: verified must be true or false; got {verified_s!r}")
    verified = verified_s.lower() == "true"
    if effective.year != int(year_s):
        raise DataError(f"{where}: effective_date {effective} is not in year {year_s}")
    if effective.weekday() > _FRIDAY:
        raise DataError(f"{where}: effective_date {effective} falls on a weekend")
    if rank is not None and not rank < effective:
        raise DataError(f"{where}: rank_day {rank} must come before effective_date {effective}")
    if not source:
        raise DataError(f"{where}: source is empty (write 'rule' for rule-derived dates)")
    if verified and source == "rule":
        raise DataError(f"{where}: a row with verified=true must cite a source, not 'rule'")
    return int(year_s), event, rank, effective, verified, source, line


def load_reconstitution_calendar(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the reconstitution table (default: the repo's bundled CSV).

    Returns columns ``year, event, rank_day, effective_date, verified, source`` with the dates
    as datetime64 (``rank_day`` NaT where blank, i.e. not published), sorted by effective date.
    Raises DataError naming the file and line for a bad field, a duplicate (year, event), a row
    out of order, or rank_day not before effective_date.
    """
    path = Path(path) if path is not None else DEFAULT_CALENDAR_PATH
    if not path.is_file():
        raise DataError(f"Reconstitution calendar not found: {path}")
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if header != list(COLUMNS):
            raise DataError(f"{path}, line 1: header must be {','.join(COLUMNS)}; "
                            f"got {','.join(header)!r}")
        for fields in reader:
            if any(f.strip() for f in fields):
                rows.append(_parse_row(fields, path, reader.line_num))
    if not rows:
        raise DataError(f"{path}: no reconstitution rows")
    seen: dict[tuple[int, str], int] = {}
    for prev, row in zip([None, *rows[:-1]], rows, strict=True):
        year, event, _, effective, _, _, line = row
        if (year, event) in seen:
            raise DataError(f"{path}, line {line}: duplicate {event} event for {year} "
                            f"(first at line {seen[(year, event)]})")
        seen[(year, event)] = line
        if prev is not None and not prev[3] < effective:
            raise DataError(f"{path}, line {line}: rows must be sorted by effective_date; "
                            f"{effective} does not come after {prev[3]} (line {prev[6]})")
    frame = pd.DataFrame([r[:6] for r in rows], columns=list(COLUMNS))
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"year": "int64", "verified": bool}).assign(
        rank_day=pd.to_datetime(frame["rank_day"]),
        effective_date=pd.to_datetime(frame["effective_date"]),
    )


def reconstitution_events(start_year: int, end_year: int, include_semiannual: bool = True,
                          path: str | Path | None = None) -> pd.DataFrame:
    """Events with ``start_year <= year <= end_year``: table rows, plus rule-filled June events.

    A year without an ``annual`` row gets one from :func:`default_rank_day` and
    :func:`default_effective_date`, with ``verified=False`` and ``source='rule'``.
    Semiannual events are only taken from the table (never filled; see the module docstring).
    """
    if int(start_year) != start_year or int(end_year) != end_year:
        raise BacktestError(f"start_year and end_year must be integers; got {start_year!r}, "
                            f"{end_year!r}")
    if start_year < FIRST_YEAR or end_year < start_year:
        raise BacktestError(f"The years of reconstitution_events must satisfy {FIRST_YEAR} <= "
                            f"start_year <= end_year; got {start_year}..{end_year}")
    table = load_reconstitution_calendar(path)
    table = table[table["year"].between(start_year, end_year)]
    if not include_semiannual:
        table = table[table["event"] == "annual"]
    dated = set(table.loc[table["event"] == "annual", "year"])
    filled = [(y, "annual", default_rank_day(y), default_effective_date(y), False, "rule")
              for y in range(int(start_year), int(end_year) + 1) if y not in dated]
    frames = [table] + ([_typed(pd.DataFrame(filled, columns=list(COLUMNS)))] if filled else [])
    events = pd.concat(frames, ignore_index=True)
    return events.sort_values("effective_date", kind="stable").reset_index(drop=True)


def snap_to_trading_day(dates: pd.DatetimeIndex, day, side: str = "previous") -> int:
    """Position in sorted ``dates`` of the trading day on or before (``'previous'``) or on or
    after (``'next'``) ``day``; BacktestError when no such day exists in ``dates``."""
    if side not in ("previous", "next"):
        raise BacktestError(f"The 'side' parameter of snap_to_trading_day must be 'previous' or "
                            f"'next'. Got {side!r} instead."
                            + did_you_mean(side, ("previous", "next")))
    if len(dates) == 0 or not dates.is_monotonic_increasing:
        raise BacktestError("snap_to_trading_day needs a non-empty, ascending DatetimeIndex")
    ts = pd.Timestamp(day)
    if side == "previous":
        pos = int(dates.searchsorted(ts, side="right")) - 1
    else:
        pos = int(dates.searchsorted(ts, side="left"))
    if not 0 <= pos < len(dates):
        relation = "on or before" if side == "previous" else "on or after"
        raise BacktestError(f"No trading day {relation} {ts.date()} in "
                            f"{dates[0].date()}..{dates[-1].date()}")
    return pos


def anchor_indices(trading_days: pd.DatetimeIndex, anchor: str, include_semiannual: bool = True,
                   path: str | Path | None = None) -> np.ndarray:
    """Indices into ``trading_days`` of each event's anchor inside ``[first, last]`` day.

    Both anchors snap to the trading day on or before them: the effective date is the close
    index funds trade, and ranks are taken at rank day's close. Events without a rank day
    (blank in the table) are skipped for ``anchor='rank_day'``. Returns int64, in date order.
    """
    if anchor not in ANCHORS:
        raise BacktestError(f"The 'anchor' parameter of anchor_indices must be one of "
                            f"{', '.join(ANCHORS)}. Got {anchor!r} instead."
                            + did_you_mean(anchor, ANCHORS))
    if len(trading_days) == 0 or not trading_days.is_monotonic_increasing:
        raise BacktestError("anchor_indices needs a non-empty, ascending DatetimeIndex")
    first, last = trading_days[0], trading_days[-1]
    events = reconstitution_events(max(first.year, FIRST_YEAR), max(last.year, FIRST_YEAR),
                                   include_semiannual, path)
    days = events[anchor].dropna().sort_values()
    days = days[(days >= first) & (days <= last)]
    return np.array([snap_to_trading_day(trading_days, d) for d in days], dtype=np.int64)
