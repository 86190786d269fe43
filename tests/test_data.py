"""Loaders: calendar alignment, warm-up, publication lag, validation messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data import is_monthly, load_market_data, publish
from engine.errors import DataError


def write_prices(folder, ticker, dates, values):
    (folder / "prices").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"date": dates, "adj_close": values}).to_csv(
        folder / "prices" / f"{ticker}.csv", index=False)


def test_tickers_are_aligned_on_their_common_days(tmp_path):
    write_prices(tmp_path, "AAA", ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
                 [1, 2, 3, 4])
    write_prices(tmp_path, "BBB", ["2020-01-03", "2020-01-06", "2020-01-08"], [10, 20, 30])
    data = load_market_data(["AAA", "BBB"], data_dir=tmp_path)
    assert list(data.dates.strftime("%Y-%m-%d")) == ["2020-01-03", "2020-01-06"]
    np.testing.assert_array_equal(data.close, [[2, 10], [3, 20]])


def test_history_before_start_is_kept_for_warm_up(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=10).strftime("%Y-%m-%d")
    write_prices(tmp_path, "AAA", days, np.arange(1.0, 11.0))
    data = load_market_data(["AAA"], start="2020-01-08", end="2020-01-13", data_dir=tmp_path)
    assert data.dates[0] == pd.Timestamp("2020-01-01")
    assert data.dates[data.start_index] == pd.Timestamp("2020-01-08")
    assert data.dates[-1] == pd.Timestamp("2020-01-13")


def test_monthly_value_is_never_visible_before_the_next_month():
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    series = pd.Series(np.arange(24.0), index=months)
    dates = pd.bdate_range("2000-01-01", "2001-12-31")
    published = publish(series, dates)
    for day, value in zip(dates, published, strict=True):
        if np.isnan(value):
            assert day.month == 1 and day.year == 2000
            continue
        month_of_value = months[int(value)]
        assert month_of_value + pd.DateOffset(months=1) <= day  # published in M+1 at the earliest
        first_day_of_month = dates[(dates.year == day.year) & (dates.month == day.month)][0]
        assert month_of_value == first_day_of_month.to_period("M").to_timestamp() - \
            pd.DateOffset(months=1)


def test_daily_series_is_usable_the_next_trading_day():
    days = pd.date_range("2024-01-01", "2024-01-10", freq="D")  # every calendar day, like DFF
    series = pd.Series(np.arange(len(days), dtype=float), index=days)
    assert not is_monthly(series.index)
    trading = pd.bdate_range("2024-01-02", "2024-01-10")
    published = publish(series, trading)
    # Monday 2024-01-08 sees Sunday's value (dated 2024-01-07), never its own
    assert published[trading.get_loc(pd.Timestamp("2024-01-08"))] == 6.0


def test_bundled_fedfunds_lag_on_real_data():
    data = load_market_data(["SPY"], start="2024-08-01", end="2024-10-31", macro=["FEDFUNDS"])
    ff = pd.Series(data.macro["FEDFUNDS"], index=data.dates)
    # FEDFUNDS 2024-09 (5.13, the first month after the September cut) shows in October only
    assert ff["2024-09-30"] == 5.33 and ff["2024-10-01"] == 5.13


@pytest.mark.parametrize("rows,fragment", [
    ("date,adj_close\n2020-01-02,1\n2020-01-02,2\n", "line 3: duplicate date 2020-01-02"),
    ("date,adj_close\n2020-01-03,1\n2020-01-02,2\n", "line 3: date 2020-01-02 comes after"),
    ("date,adj_close\n2020-01-02,1\nnot-a-date,2\n", "line 3: unparsable date 'not-a-date'"),
    ("date,adj_close\n2020-01-02,1\n2020-01-03,\n", "line 3 (2020-01-03): adj_close is missing"),
    ("date,adj_close\n2020-01-02,0\n", "line 2 (2020-01-02): adj_close 0 is not positive"),
    ("date,price\n2020-01-02,1\n", "needs columns 'date' and 'adj_close' or 'close'"),
    ("date,adj_close\n", "has a header but no data rows"),
])
def test_bad_price_files_name_file_line_and_date(tmp_path, rows, fragment):
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "BAD.csv").write_text(rows)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_market_data(["BAD"], data_dir=tmp_path)


def test_unknown_ticker_lists_what_exists():
    with pytest.raises(DataError, match=r"unknown ticker 'IWN'.*available: IJR, IWM.*IWM"):
        load_market_data(["IWN"])


def test_empty_date_range_is_an_error():
    with pytest.raises(DataError, match="no trading days between 2030-01-01"):
        load_market_data(["SPY"], start="2030-01-01")
