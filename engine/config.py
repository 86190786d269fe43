"""Run configs: strict pydantic models, YAML loading with file/line errors, the run hash.

A config is a YAML mapping (``yaml.safe_load`` only: tags such as ``!!python/object`` are
refused). Unknown keys are errors with a did-you-mean; the strategy's own parameter model
validates ``params``. The resolved config (defaults filled in) serialised as canonical JSON and
hashed with SHA-256 identifies a run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import ConfigError, did_you_mean


class Strict(BaseModel):
    """Frozen, keyword-only, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    tickers: list[str] = Field(min_length=1, description="tickers traded; prices/<T>.csv")
    start: date | None = Field(None, description="first day of the run (earlier rows = warm-up)")
    end: date | None = Field(None, description="last day of the run (inclusive)")
    dir: str | None = Field(None, description="data folder; default: the bundled data/")
    monthly_lag_months: int = Field(1, ge=0, le=12, description="publication lag, monthly series")
    daily_lag_days: int = Field(1, ge=1, le=31, description="publication lag, daily series")

    @model_validator(mode="after")
    def _end_after_start(self):
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"data.end {self.end} is before data.start {self.start}")
        if len(set(self.tickers)) != len(self.tickers):
            raise ValueError(f"data.tickers has duplicates: {self.tickers}")
        return self


class PortfolioConfig(Strict):
    initial_cash: float = Field(100_000.0, gt=0, description="starting cash, currency")
    fees_bps: float = Field(1.0, ge=0, le=1000, description="commission, bps of notional")
    slippage_bps: float = Field(2.0, ge=0, le=1000, description="slippage, bps of notional")
    fixed_fee: float = Field(0.0, ge=0, description="currency per filled order")
    execution: Literal["next_close"] = "next_close"
    rebalance: Literal["on_change", "periodic", "band"] = "on_change"
    rebalance_every: int | Literal["month"] = Field("month", description="periodic: bars or month")
    band_pct: float = Field(5.0, gt=0, le=100, description="band: drift tolerance, weight points")
    cash_rate: float | str | None = Field(
        None, description="interest on cash: annual % constant or a macro series (FEDFUNDS, DFF)"
    )
    integer_units: bool = False

    @model_validator(mode="after")
    def _positive_period(self):
        if isinstance(self.rebalance_every, int) and self.rebalance_every < 1:
            raise ValueError("portfolio.rebalance_every must be >= 1 bar or 'month'")
        return self


class ReportConfig(Strict):
    dir: str = Field("results", description="results root; a run writes <dir>/<name>/")
    html: bool = Field(True, description="write report.html and PNG charts")


class RunConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
    strategy: str
    description: str = ""
    data: DataConfig
    params: dict[str, Any] = Field(default_factory=dict)
    portfolio: PortfolioConfig = PortfolioConfig()
    benchmark: str | None = "SPY"
    report: ReportConfig = ReportConfig()
    sweep: dict[str, Any] | None = None  # validated by engine.sweep

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of the resolved config (sorted keys, no spaces)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def with_overrides(self, **data_fields) -> RunConfig:
        """A copy with ``data`` fields replaced (CLI --start/--end/--data-dir)."""
        fields = {k: v for k, v in data_fields.items() if v is not None}
        if not fields:
            return self
        merged = {**self.data.model_dump(), **fields}
        try:
            data = DataConfig.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(_override_error(exc, fields), ("data",)) from None
        return self.model_copy(update={"data": data})


_OVERRIDE_FLAGS = {"start": "--start", "end": "--end", "dir": "--data-dir"}


def _override_error(exc: ValidationError, fields: dict) -> str:
    """One line for a bad command-line override of a ``data`` field."""
    err = exc.errors()[0]
    msg = err["msg"].removeprefix("Value error, ")
    name = str(err["loc"][0]) if err["loc"] else ""
    if name in _OVERRIDE_FLAGS:
        return f"{_OVERRIDE_FLAGS[name]}: {msg} (got {fields.get(name)!r})"
    given = ", ".join(f"{_OVERRIDE_FLAGS.get(k, k)} {v}" for k, v in fields.items())
    return f"{msg} (command line: {given})"


# ------------------------------------------------------------------ YAML with line numbers
def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict:
    """Map key paths (tuples of keys / list indexes) to 1-based line numbers."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (key.value,)
            out[sub] = key.start_mark.line + 1
            _line_index(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _line_index(value, path + (i,), out)
    return out


def read_yaml(path: str | Path) -> tuple[dict, dict]:
    """Parse a YAML mapping safely; returns (data, line index). Raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read the file (not UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({type(exc).__name__})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (ValueError, OverflowError) as exc:  # a well-formed but impossible date: 2019-02-30
        line, value = _bad_scalar(node)
        raise ConfigError(f"{path} line {line}: '{value}' is not a valid date ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
            raise ConfigError(f"{path}{where}: YAML tag refused, a config is plain data "
                              f"({problem})") from None
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty (want a mapping with name, strategy, data)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys (name, strategy, data, ...), "
            f"got a {type(data).__name__}"
        )
    _refuse_duplicate_keys(node, path)
    return data, _line_index(node) if node is not None else {}


def _bad_scalar(node: yaml.Node | None) -> tuple[int | str, str]:
    """(line, text) of the first timestamp scalar that does not construct (else ('?', ''))."""
    stack = [node] if node is not None else []
    while stack:
        item = stack.pop(0)
        if isinstance(item, yaml.MappingNode):
            stack[:0] = [v for pair in item.value for v in pair]
        elif isinstance(item, yaml.SequenceNode):
            stack[:0] = list(item.value)
        elif item.tag.endswith(":timestamp"):
            try:
                yaml.safe_load(item.value)
            except (ValueError, OverflowError):
                return item.start_mark.line + 1, item.value
    return "?", ""


def _refuse_duplicate_keys(node: yaml.Node | None, path: Path, key_path: str = "") -> None:
    """YAML lets a later key silently replace an earlier one; a config must say it once."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = f"{key_path}.{key.value}" if key_path else str(key.value)
            line = key.start_mark.line + 1
            if name in seen:
                raise ConfigError(f"{path} line {line}: duplicate key '{name}' "
                                  f"(first on line {seen[name]})", tuple(name.split(".")))
            seen[name] = line
            _refuse_duplicate_keys(value, path, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _refuse_duplicate_keys(value, path, f"{key_path}[{i}]")


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (sub)model that owns the key at ``loc``."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def format_validation_error(exc: ValidationError, path: Path, lines: dict, model: type[BaseModel],
                            prefix: tuple = ()) -> str:
    """One line: file, line, dotted key, what is wrong, what was given."""
    err = exc.errors()[0]
    loc = prefix + tuple(p for p in err["loc"] if not isinstance(p, str) or "[" not in p)
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = lines.get(loc) or lines.get(loc[:-1]) or lines.get(prefix)
    where = f"{path} line {line}" if line else f"{path}"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, tuple(err["loc"]))
        hint = did_you_mean(loc[-1], allowed)
        return f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{where}: missing required key '{key}'"
    msg = err["msg"].removeprefix("Value error, ")
    given = err.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    return f"{where}: {key}: {msg}{shown}"


def load_config(path: str | Path) -> RunConfig:
    """Read, validate and resolve a run config (strategy params included)."""
    from strategies import get_strategy

    path = Path(path)
    data, lines = read_yaml(path)
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path, lines, RunConfig)) from None
    try:
        strategy = get_strategy(cfg.strategy)
    except ConfigError as exc:
        raise ConfigError(f"{path} line {lines.get(('strategy',), '?')}: {exc}") from None
    try:
        params = strategy.Params.model_validate(cfg.params)
    except ValidationError as exc:
        msg = format_validation_error(exc, path, lines, strategy.Params, prefix=("params",))
        raise ConfigError(msg) from None
    try:
        strategy.check(params, cfg)
    except ConfigError as exc:
        line = lines.get(exc.key) or lines.get(exc.key[:1])
        raise ConfigError(f"{path}{f' line {line}' if line else ''}: {exc}", exc.key) from None
    return cfg.model_copy(update={"params": params.model_dump(mode="json")})
