"""Backtesting engine for small-cap / large-cap ETF strategies.

One pipeline: YAML config -> RunConfig -> MarketData -> strategy weights (combo, day, asset)
-> numba simulation kernel -> metrics and reports under ``results/<name>/``.
"""

__version__ = "0.1.0"
