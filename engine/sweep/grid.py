"""Parameter grids: expansion of lists and ranges, constraints, validation before anything runs.

The grid is the cartesian product of the swept parameters in the order the config lists them
(the first one varies slowest). Constraints drop combos; every combo left must then pass the
strategy's own parameter model (e.g. ``fast < slow`` for a crossover): a combo that fails it is
an error, not a silent skip, so that a typo cannot shrink a sweep unnoticed. Only the columns of
the combos that survive are kept: a few numbers per combo, never anything per day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from engine.errors import ConfigError, did_you_mean
from engine.sweep.config import LogRangeSpec, RangeSpec, SweepConfig
from engine.sweep.constraints import parse_constraint

MAX_GRID = 50_000_000  # combos before constraints (the flat index is evaluated in blocks)
_BLOCK = 1 << 20
_DIGITS = 12  # range values are rounded to 12 decimals: 0.1 * 3 gives 0.3, not 0.30000000000000004


@dataclass(frozen=True)
class Grid:
    """The combos of a sweep, one column per swept parameter.

    Attributes:
        names: swept parameters, in config order.
        values: distinct values of each parameter, in grid order.
        columns: per-combo values (numpy; int64, float64, bool or object for text), length n.
        base: the run config's resolved params (the values of everything not swept).
        n_grid: combos in the full product, before constraints.
        kept_by: constraint text -> combos of the full product it keeps on its own.
    """

    names: tuple[str, ...]
    values: dict[str, list]
    columns: dict[str, np.ndarray]
    base: dict
    n_grid: int
    kept_by: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.columns[self.names[0]])

    def combo(self, i: int) -> dict:
        """The swept values of combo ``i`` as plain Python scalars."""
        return {name: self.columns[name][i].item() if hasattr(self.columns[name][i], "item")
                else self.columns[name][i] for name in self.names}

    def params_dict(self, i: int) -> dict:
        return {**self.base, **self.combo(i)}

    def label(self, i: int) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.combo(i).items())


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_int_field(strategy, name: str) -> bool:
    return strategy.Params.model_fields[name].annotation is int


def _range_values(name: str, spec, integer: bool) -> list:
    if isinstance(spec, RangeSpec):
        count = int(math.floor((spec.stop - spec.start) / spec.step + 1e-9)) + 1
        values = [round(spec.start + k * spec.step, _DIGITS) for k in range(count)]
    else:
        ratio = spec.stop / spec.start
        values = [spec.start * ratio ** (k / (spec.num - 1)) for k in range(spec.num)]
        values[-1] = spec.stop
        if integer:
            values = list(dict.fromkeys(int(round(v)) for v in values))
    if integer:
        bad = [v for v in values if float(v) != int(v)]
        if bad:
            raise ConfigError(f"sweep.grid.{name}: '{name}' takes whole numbers, the range "
                              f"gives {bad[0]:g}", ("sweep", "grid", name))
        return [int(v) for v in values]
    return [float(v) for v in values]


def expand_values(strategy, name: str, spec) -> list:
    """The distinct values of one grid entry (a list, a range or a log range)."""
    integer = _is_int_field(strategy, name)
    if isinstance(spec, RangeSpec | LogRangeSpec):
        return _range_values(name, spec, integer)
    return list(spec)


def _column(values: list) -> np.ndarray:
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array(values, dtype=object)


def _check_names(strategy, grid: dict) -> None:
    fields = list(strategy.Params.model_fields)
    for name in grid:
        if name not in fields:
            raise ConfigError(
                f"sweep.grid: '{name}' is not a parameter of strategy '{strategy.name}'"
                f"{did_you_mean(name, fields)}; parameters: {', '.join(fields)}",
                ("sweep", "grid", name))


def _survivors(names, value_cols, constraints, n_grid) -> tuple[np.ndarray, dict[str, int]]:
    """Flat indices of the product that pass every constraint (evaluated block by block)."""
    lengths = [len(value_cols[n]) for n in names]
    strides = np.cumprod([1, *lengths[::-1]])[:-1][::-1]
    kept, kept_by = [], {c.text: 0 for c in constraints}
    for lo in range(0, n_grid, _BLOCK):
        flat = np.arange(lo, min(lo + _BLOCK, n_grid), dtype=np.int64)
        cols = {n: value_cols[n][(flat // s) % ln]
                for n, s, ln in zip(names, strides, lengths, strict=True)}
        mask = np.ones(flat.size, dtype=bool)
        for c in constraints:
            ok = c.evaluate(cols, flat.size)
            kept_by[c.text] += int(ok.sum())
            mask &= ok
        kept.append(flat[mask])
    return np.concatenate(kept), kept_by


def _rows(grid: Grid):
    """(index, values) of every combo, as Python scalars, a block at a time (bounded memory)."""
    for lo in range(0, grid.n, _BLOCK // 16):
        hi = min(lo + _BLOCK // 16, grid.n)
        cols = (grid.columns[n][lo:hi].tolist() for n in grid.names)
        yield from enumerate(zip(*cols, strict=True), start=lo)


def _validate_combos(strategy, cfg, grid: Grid) -> None:
    """Every combo must pass the strategy's Params (and its ticker checks)."""
    text_cols = [n for n in grid.names if grid.columns[n].dtype == object]
    checked: set[tuple] = set()
    for i, row in _rows(grid):
        try:
            values = dict(zip(grid.names, row, strict=True))
            params = strategy.Params.model_validate({**grid.base, **values})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"sweep.grid: combo {grid.label(i)} is not valid for strategy "
                f"'{strategy.name}': {where + ': ' if where else ''}{msg}; exclude such combos "
                "with a constraint (e.g. 'fast < slow')", ("sweep", "grid")) from None
        key = tuple(grid.columns[n][i] for n in text_cols)
        if key not in checked:
            checked.add(key)
            strategy.check(params, cfg)


def build_grid(strategy, cfg, sweep: SweepConfig) -> Grid:
    """Expand, constrain and validate the grid of ``sweep`` for ``strategy`` and run ``cfg``."""
    _check_names(strategy, sweep.grid)
    names = tuple(sweep.grid)
    values = {n: expand_values(strategy, n, sweep.grid[n]) for n in names}
    n_grid = math.prod(len(v) for v in values.values())
    if n_grid > MAX_GRID:
        raise ConfigError(f"sweep.grid has {n_grid:,} combos; the limit is {MAX_GRID:,} "
                          "(coarsen a range or sweep in stages)", ("sweep", "grid"))
    constraints = [parse_constraint(t, i, names) for i, t in enumerate(sweep.constraints)]
    value_cols = {n: _column(values[n]) for n in names}
    flat, kept_by = _survivors(names, value_cols, constraints, n_grid)
    if flat.size == 0:
        detail = "; ".join(f"'{t}' keeps {k:,}" for t, k in kept_by.items())
        raise ConfigError(f"sweep: no combo is left: the grid has {n_grid:,} combos and the "
                          f"constraints exclude them all ({detail})", ("sweep", "constraints"))
    lengths = [len(value_cols[n]) for n in names]
    strides = np.cumprod([1, *lengths[::-1]])[:-1][::-1]
    columns = {n: value_cols[n][(flat // s) % ln]
               for n, s, ln in zip(names, strides, lengths, strict=True)}
    grid = Grid(names, values, columns, dict(cfg.params), n_grid, kept_by)
    _validate_combos(strategy, cfg, grid)
    return grid
