"""The ``sweep:`` block of a run config: strict pydantic models and loading.

A sweep is a run config (``configs/rotation.yaml``) with a ``sweep:`` block, or a separate file
that names its run config with ``extends:`` and overrides any top-level key::

    extends: rotation.yaml          # relative to this file
    name: rotation-sweep
    sweep:
      grid:
        window: {start: 20, stop: 400, step: 5}      # stop included
        band: [0.0, 0.5, 1.0, 2.0]
        lookback: {start: 10, stop: 1000, num: 7, log: true}
      constraints: ["fast < slow"]
      objective: sharpe                               # or {metric: max_drawdown_pct, goal: max}
      validation: {walk_forward: {train_years: 5, test_years: 1, mode: rolling}}
      top: 3
      ci: {min_oos_sharpe: 0.2, max_pbo: 0.5}
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.config import RunConfig, format_validation_error, load_config, read_yaml
from engine.errors import ConfigError, did_you_mean
from engine.results import METRIC_KEYS

Scalar = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeSpec(_Strict):
    """Evenly spaced values ``start, start + step, ...`` up to and including ``stop``."""

    start: float
    stop: float
    step: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop:g}) is below start ({self.start:g})")
        return self


class LogRangeSpec(_Strict):
    """``num`` values spaced evenly on a log scale from ``start`` to ``stop`` (both included)."""

    start: float = Field(gt=0)
    stop: float = Field(gt=0)
    num: int = Field(ge=2, le=100_000)
    log: Literal[True]

    @model_validator(mode="after")
    def _ordered(self):
        if self.stop <= self.start:
            raise ValueError(f"stop ({self.stop:g}) must be above start ({self.start:g})")
        return self


GridValues = list[Scalar] | RangeSpec | LogRangeSpec


def _grid_entry(name: str, value: Any) -> GridValues:
    """One grid entry: a list of values, a range, a log range, or a single value."""
    if isinstance(value, dict):
        model = LogRangeSpec if "log" in value or "num" in value else RangeSpec
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            what = err["msg"].removeprefix("Value error, ")
            form = ("{start, stop, num, log: true}" if model is LogRangeSpec
                    else "{start, stop, step}")
            raise ValueError(f"grid.{name}: {key + ': ' if key else ''}{what} (a "
                             f"{'log range' if model is LogRangeSpec else 'range'} is {form})"
                             ) from None
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"grid.{name} is an empty list")
    for v in values:
        if not isinstance(v, int | float | str | bool):
            raise ValueError(f"grid.{name}: only single values can be swept, got {v!r}")
    if len({(type(v), v) for v in values}) != len(values):
        raise ValueError(f"grid.{name} lists a value twice: {values}")
    return values


class Objective(_Strict):
    metric: str = "sharpe"
    goal: Literal["max", "min"] = "max"

    @model_validator(mode="after")
    def _known_metric(self):
        if self.metric not in METRIC_KEYS:
            hint = did_you_mean(self.metric, METRIC_KEYS)
            raise ValueError(f"unknown metric '{self.metric}'{hint}; "
                             f"choose one of: {', '.join(METRIC_KEYS)}")
        return self


class Holdout(_Strict):
    """Train on the run's days up to and including ``train_until``, test on the days after."""

    train_until: date


class WalkForward(_Strict):
    """Train ``train_years``, trade the best set for the next ``test_years``, roll on."""

    train_years: float = Field(gt=0, le=100)
    test_years: float = Field(gt=0, le=100)
    mode: Literal["rolling", "anchored"] = "rolling"


class Validation(_Strict):
    holdout: Holdout | None = None
    walk_forward: WalkForward | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.holdout is None) == (self.walk_forward is None):
            raise ValueError("give exactly one of holdout or walk_forward")
        return self


class Overfitting(_Strict):
    partitions: int = Field(16, ge=2, le=24, description="CSCV blocks S (even)")
    max_curves: int = Field(2000, ge=2, le=20_000, description="combos whose returns are kept")

    @model_validator(mode="after")
    def _even(self):
        if self.partitions % 2:
            raise ValueError(f"partitions must be even, got {self.partitions}")
        return self


class CiThresholds(_Strict):
    """``backtest sweep --check`` exits 3 when one of these is missed (None = not checked)."""

    min_oos_sharpe: float | None = Field(None, description="out-of-sample Sharpe of the choice")
    max_pbo: float | None = Field(None, ge=0, le=1, description="probability of overfitting")
    min_deflated_sharpe: float | None = Field(None, ge=0, le=1, description="DSR of the best")
    max_drawdown_pct: float | None = Field(None, gt=0, le=100,
                                           description="worst drawdown allowed, percent > 0")
    min_sharpe: float | None = Field(None, description="in-sample Sharpe of the best set")


class SweepConfig(_Strict):
    grid: dict[str, GridValues] = Field(min_length=1)
    constraints: list[str] = Field(default_factory=list)
    objective: Objective = Objective()
    validation: Validation | None = None
    top: int = Field(3, ge=0, le=100, description="full tearsheets written for the best sets")
    ci: CiThresholds | None = None
    overfitting: Overfitting = Overfitting()
    chunk_size: int | None = Field(None, ge=1, le=10_000_000, description="combos per chunk")
    chunk_mb: int = Field(256, ge=8, le=65_536, description="memory budget of one chunk")

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any):
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("objective"), str):
            data = {**data, "objective": {"metric": data["objective"]}}
        if isinstance(data.get("grid"), dict):
            data = {**data, "grid": {str(k): _grid_entry(str(k), v)
                                     for k, v in data["grid"].items()}}
        return data

    @model_validator(mode="after")
    def _oos_needs_validation(self):
        if self.ci is not None and self.ci.min_oos_sharpe is not None and self.validation is None:
            raise ValueError("ci.min_oos_sharpe needs a validation (holdout or walk_forward)")
        return self


def parse_sweep(cfg: RunConfig, path: str | Path | None = None) -> SweepConfig:
    """Validate ``cfg.sweep``; errors name the file and line when ``path`` is given."""
    if not cfg.sweep:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}no sweep: block (add sweep: {{grid: {{...}}}} to the config)",
                          ("sweep",))
    try:
        return SweepConfig.model_validate(cfg.sweep)
    except ValidationError as exc:
        if path is None:
            raise ConfigError(format_validation_error(exc, Path("config"), {}, SweepConfig,
                                                      prefix=("sweep",))) from None
        lines = _lines(path)
        raise ConfigError(format_validation_error(exc, Path(path), lines, SweepConfig,
                                                  prefix=("sweep",))) from None


def _lines(path: str | Path) -> dict:
    try:
        return read_yaml(path)[1]
    except ConfigError:
        return {}


def load_sweep_config(path: str | Path) -> RunConfig:
    """Load a sweep config: a run config with a ``sweep:`` block, or a file with ``extends:``."""
    path = Path(path)
    data, _ = read_yaml(path)
    if "extends" not in data:
        return load_config(path)
    base_path = (path.parent / str(data["extends"])).resolve()
    base, _ = read_yaml(base_path)
    merged = {**base, **{k: v for k, v in data.items() if k != "extends"}}
    try:
        cfg = RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path, {}, RunConfig)) from None
    from strategies import get_strategy

    strategy = get_strategy(cfg.strategy)
    try:
        params = strategy.Params.model_validate(cfg.params)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path, {}, strategy.Params,
                                                  prefix=("params",))) from None
    strategy.check(params, cfg)
    return cfg.model_copy(update={"params": params.model_dump(mode="json")})
