"""engine.calendar: the date rules, the bundled reconstitution table, and trading-day anchors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import calendar as cal
from engine.errors import BacktestError, DataError

pytestmark = pytest.mark.filterwarnings("error")

D = dt.date.fromisoformat
HEADER = "year,event,rank_day,effective_date,verified,source\n"


def write_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recon.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


# --- date rules -----------------------------------------------------------------------------

# June Fridays by hand: 2017 2,9,16,23,30; 2019 7,14,21,28; 2020 5,12,19,26; 2021 4,11,18,25;
# 2022 3,10,17,24; 2023 2,9,16,23,30; 2024 7,14,21,28; 2025 6,13,20,27; 2026 5,12,19,26;
# 2028 2,9,16,23,30. Five Fridays (2017, 2023, 2028) -> the fourth, not the last.
@pytest.mark.parametrize("year, expected", [
    (2017, "2017-06-23"), (2019, "2019-06-28"), (2020, "2020-06-26"), (2021, "2021-06-25"),
    (2022, "2022-06-24"), (2023, "2023-06-23"), (2024, "2024-06-28"), (2025, "2025-06-27"),
    (2026, "2026-06-26"), (2028, "2028-06-23"),
])
def test_fourth_friday_of_june(year, expected):
    day = cal.fourth_friday_of_june(year)
    assert day == D(expected)
    assert day.weekday() == 4
    assert cal.default_effective_date(year) == day


def test_fourth_friday_is_last_friday_unless_29th_or_30th():
    for year in range(2007, 2060):
        fridays = [d for d in (dt.date(year, 6, k) for k in range(1, 31)) if d.weekday() == 4]
        last = fridays[-1]
        expected = fridays[-2] if last.day >= 29 else last
        assert cal.fourth_friday_of_june(year) == expected


def test_effective_date_rule_by_era():
    assert cal.default_effective_date(2003) == D("2003-06-30")  # last business day (Monday)
    assert cal.default_effective_date(2002) == D("2002-06-28")  # June 30 a Sunday
    assert cal.default_effective_date(2004) == D("2004-06-25")  # first last-Friday year
    assert cal.default_effective_date(2006) == D("2006-06-30")  # before the 29th/30th exception
    assert cal.default_effective_date(2007) == D("2007-06-22")


def test_default_rank_day_matches_documented_examples():
    assert cal.default_rank_day(2013) == D("2013-05-31")
    assert cal.default_rank_day(2015) == D("2015-05-29")  # May 31 a Sunday
    assert cal.default_rank_day(2010) == D("2010-05-28")  # May 31 is Memorial Day
    assert cal.default_rank_day(2018) == D("2018-05-11")  # DOMAIN.md
    assert cal.default_rank_day(2023) == D("2023-04-28")  # April 30 a Sunday -> Friday
    assert cal.default_rank_day(2024) == D("2024-04-30")  # DOMAIN.md
    for year in range(1990, 2040):
        assert cal.default_rank_day(year).weekday() < 5
        assert cal.default_rank_day(year) < cal.default_effective_date(year)


def test_second_friday_of_november():
    assert cal.second_friday_of_november(2026) == D("2026-11-13")


# --- the bundled table ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return cal.load_reconstitution_calendar()


def test_table_is_sorted_unique_and_ranked_before_effective(table):
    assert list(table.columns) == list(cal.COLUMNS)
    assert table["effective_date"].is_monotonic_increasing
    assert not table.duplicated(["year", "event"]).any()
    ranked = table.dropna(subset=["rank_day"])
    assert (ranked["rank_day"] < ranked["effective_date"]).all()
    assert (table["effective_date"].dt.year == table["year"]).all()
    annual = table[table["event"] == "annual"]
    assert list(annual["year"]) == list(range(1990, 2027))


def test_table_known_dates_are_verified(table):
    rows = table[table["event"] == "annual"].set_index("year")
    for year, rank, effective in [(2018, "2018-05-11", "2018-06-22"),
                                  (2023, "2023-04-28", "2023-06-23"),
                                  (2024, "2024-04-30", "2024-06-28")]:
        assert rows.loc[year, "rank_day"] == pd.Timestamp(rank)
        assert rows.loc[year, "effective_date"] == pd.Timestamp(effective)
        assert rows.loc[year, "verified"]
    assert (table.loc[table["verified"], "source"] != "rule").all()
    assert not table.loc[table["source"] == "rule", "verified"].any()


def test_table_effective_dates_follow_the_rule_since_2007(table):
    annual = table[(table["event"] == "annual") & (table["year"] >= 2007)]
    for year, effective in zip(annual["year"], annual["effective_date"], strict=True):
        assert effective.date() == cal.fourth_friday_of_june(year)


def test_semiannual_2026_row_is_unverified(table):
    semi = table[table["event"] == "semiannual"]
    assert list(semi["year"]) == [2026]
    row = semi.iloc[0]
    assert row["effective_date"] == pd.Timestamp("2026-11-13")
    assert not row["verified"]
    assert "December" in row["source"]
    assert pd.isna(row["rank_day"])


# --- events: table plus rule --------------------------------------------------------------

def test_events_fill_years_beyond_the_table_by_rule():
    events = cal.reconstitution_events(2025, 2028)
    annual = events[events["event"] == "annual"].set_index("year")
    assert list(annual.index) == [2025, 2026, 2027, 2028]
    assert annual.loc[2025, "verified"]
    for year in (2027, 2028):
        assert annual.loc[year, "effective_date"].date() == cal.fourth_friday_of_june(year)
        assert annual.loc[year, "rank_day"].date() == cal.default_rank_day(year)
        assert not annual.loc[year, "verified"]
        assert annual.loc[year, "source"] == "rule"
    assert annual.loc[2028, "effective_date"] == pd.Timestamp("2028-06-23")
    # The November date is data, not a rule: only 2026's, never extrapolated.
    assert list(events.loc[events["event"] == "semiannual", "year"]) == [2026]
    assert events["effective_date"].is_monotonic_increasing


def test_events_without_semiannual_and_table_wins_over_rule():
    events = cal.reconstitution_events(2021, 2026, include_semiannual=False)
    assert set(events["event"]) == {"annual"}
    rank_2021 = events.loc[events["year"] == 2021, "rank_day"].iloc[0]
    assert rank_2021 == pd.Timestamp("2021-05-07") != pd.Timestamp(cal.default_rank_day(2021))


def test_events_fill_a_year_missing_from_a_custom_table(tmp_path):
    path = write_csv(tmp_path, "2024,annual,2024-04-30,2024-06-28,true,DOMAIN.md\n")
    events = cal.reconstitution_events(2023, 2024, path=path)
    assert list(events["year"]) == [2023, 2024]
    assert list(events["source"]) == ["rule", "DOMAIN.md"]
    assert events.loc[0, "effective_date"] == pd.Timestamp("2023-06-23")


def test_events_reject_bad_years():
    with pytest.raises(BacktestError, match="start_year <= end_year"):
        cal.reconstitution_events(2024, 2020)
    with pytest.raises(BacktestError, match="1990"):
        cal.reconstitution_events(1980, 1995)


# --- trading-day anchors ------------------------------------------------------------------

def test_snap_to_trading_day():
    days = pd.bdate_range("2024-06-03", "2024-07-05")  # Mon 3 June .. Fri 5 July
    assert days[cal.snap_to_trading_day(days, "2024-06-28")] == pd.Timestamp("2024-06-28")
    assert days[cal.snap_to_trading_day(days, "2024-06-30")] == pd.Timestamp("2024-06-28")
    assert days[cal.snap_to_trading_day(days, "2024-06-30", "next")] == pd.Timestamp("2024-07-01")
    with pytest.raises(BacktestError, match="on or before 2024-06-01"):
        cal.snap_to_trading_day(days, "2024-06-01")
    with pytest.raises(BacktestError, match="on or after 2024-07-06"):
        cal.snap_to_trading_day(days, "2024-07-06", side="next")
    with pytest.raises(BacktestError, match="did you mean 'previous'"):
        cal.snap_to_trading_day(days, "2024-06-28", side="previos")


def test_anchor_indices_on_business_days():
    days = pd.bdate_range("2022-01-03", "2026-12-31")
    eff = cal.anchor_indices(days, "effective_date")
    expected = ["2022-06-24", "2023-06-23", "2024-06-28", "2025-06-27", "2026-06-26", "2026-11-13"]
    assert list(days[eff]) == [pd.Timestamp(d) for d in expected]
    assert eff.dtype == np.int64
    eff_annual = cal.anchor_indices(days, "effective_date", include_semiannual=False)
    np.testing.assert_array_equal(eff_annual, eff[:-1])
    # Rank days; the 2026 November event has none published and is skipped.
    rank = cal.anchor_indices(days, "rank_day")
    expected = ["2022-05-06", "2023-04-28", "2024-04-30", "2025-04-30", "2026-04-30"]
    assert list(days[rank]) == [pd.Timestamp(d) for d in expected]


def test_anchor_indices_snap_back_over_a_gap_and_drop_events_outside_range():
    # Remove 28 June 2024 (as if a holiday): the effective anchor snaps back to the 27th.
    days = pd.bdate_range("2024-05-01", "2025-06-26").drop(pd.Timestamp("2024-06-28"))
    idx = cal.anchor_indices(days, "effective_date")
    assert list(days[idx]) == [pd.Timestamp("2024-06-27")]  # 2025-06-27 is past the last day
    rank = cal.anchor_indices(days, "rank_day")
    assert list(days[rank]) == [pd.Timestamp("2025-04-30")]  # 2024-04-30 is before the first


def test_anchor_indices_reject_unknown_anchor():
    days = pd.bdate_range("2024-01-02", "2024-12-31")
    with pytest.raises(BacktestError, match="did you mean 'rank_day'"):
        cal.anchor_indices(days, "rankday")


# --- corrupt files ------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("2024,annual,2024-04-30,2024-06-3x,true,x\n", r"line 2: effective_date must be a YYYY-MM-DD"),
    ("2024,annual,2024-04-30,2024-06-28,true,x\n2024,annual,2024-04-30,2024-06-28,true,x\n",
     "line 3: duplicate annual event for 2024"),
    ("2024,annual,2024-04-30,2024-06-28,true,x\n2023,annual,2023-04-28,2023-06-23,true,x\n",
     "line 3: rows must be sorted"),
    ("2024,annual,2024-07-30,2024-06-28,true,x\n", "rank_day 2024-07-30 must come before"),
    ("2024,anual,2024-04-30,2024-06-28,true,x\n", "did you mean 'annual'"),
    ("2024,annual,2024-04-30,2024-06-28,yes,x\n", "verified must be true or false"),
    ("2024,annual,2024-04-30,2024-06-28,true,rule\n", "must cite a source"),
    ("2024,annual,2024-04-30,2024-06-29,false,rule\n", "falls on a weekend"),
    ("2024,annual,2024-04-30\n", "expected 6 fields"),
])
def test_corrupt_csv_raises_data_error_naming_file_and_line(tmp_path, body, message):
    path = write_csv(tmp_path, body)
    with pytest.raises(DataError, match=message) as info:
        cal.load_reconstitution_calendar(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_header(tmp_path):
    with pytest.raises(DataError, match="not found"):
        cal.load_reconstitution_calendar(tmp_path / "nope.csv")
    path = tmp_path / "bad.csv"
    path.write_text("year,event,effective_date\n2024,annual,2024-06-28\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: header must be"):
        cal.load_reconstitution_calendar(path)
    assert issubclass(DataError, ValueError)
