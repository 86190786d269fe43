"""``backtest validate``: a config checked against its data without running it."""

from __future__ import annotations

from pathlib import Path

from engine.config import RunConfig


def check_config_data(cfg: RunConfig, data_dir: Path) -> None:
    """Raise a BacktestError if the config's tickers, macro series or date range do not
    exist in ``data_dir`` (loads and validates the files; does not simulate)."""
    from engine.run import prepare

    prepare(cfg.with_overrides(dir=str(data_dir)))
