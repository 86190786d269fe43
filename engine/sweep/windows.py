"""Hold-out and walk-forward windows as bar ranges of the loaded data.

Every window is a half-open range of bars ``[start, end)`` simulated as a fresh account: it
starts in cash at ``start`` and trades the target decided at ``start - 1`` (indicators keep
their warm-up history, so nothing is lost at a window's edge and nothing after ``end - 1`` is
read). A fold's training window always ends at or before its test window starts, so a test
window never sees its own data in training.

* no validation: one window, the whole run; metric columns unprefixed.
* ``holdout``: ``is_`` = run start to ``train_until`` (inclusive), ``oos_`` = the days after.
* ``walk_forward``: test windows of ``test_years`` follow each other from ``run start +
  train_years`` to the end of the data (the last may be shorter); each is preceded by a training
  window of ``train_years`` (``rolling``) or by everything since the run start (``anchored``).
  Columns: ``is_`` = the whole run (what a sweep without validation would rank on), ``oos_`` =
  the out-of-sample span (first test day to the end) traded continuously by each combo. The
  walk-forward itself (the best set of each training window traded in the next test window,
  the test windows' returns stitched) is reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.errors import ConfigError
from engine.sweep.config import Validation


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: bar ranges ``[start, end)`` of training and test."""

    train: tuple[int, int]
    test: tuple[int, int]


@dataclass(frozen=True)
class Plan:
    """The windows every combo is simulated over.

    Attributes:
        kind: "none", "holdout" or "walk_forward".
        main: bar ranges whose full metrics go into the sweep table, one per prefix.
        prefixes: column prefixes of ``main`` ("" without validation, else "is_", "oos_").
        folds: walk-forward folds (empty otherwise); only the objective of their training
            windows is kept, to pick each fold's best set.
        selection: the bar range the best set is chosen on (``main[0]``): DSR and PBO use it.
        description: one line for reports.
    """

    kind: str
    main: tuple[tuple[int, int], ...]
    prefixes: tuple[str, ...]
    folds: tuple[Fold, ...]
    description: str

    @property
    def selection(self) -> tuple[int, int]:
        return self.main[0]

    def windows(self) -> list[tuple[int, int]]:
        """Every window simulated per combo: ``main`` first, then the folds' training ones."""
        return list(self.main) + [f.train for f in self.folds]


def _months(years: float, key: str) -> int:
    months = round(years * 12)
    if months < 1:
        raise ConfigError(f"sweep.validation.walk_forward.{key}: {years:g} years is less than "
                          "one month", ("sweep", "validation", "walk_forward", key))
    return months


def _span(dates: pd.DatetimeIndex, start: int) -> str:
    return f"{dates[start].date()}..{dates[-1].date()}"


def holdout_plan(dates: pd.DatetimeIndex, start: int, train_until) -> Plan:
    split = int(dates.searchsorted(pd.Timestamp(train_until), side="right"))
    n_days = len(dates)
    if split - start < 2 or n_days - split < 2:
        raise ConfigError(
            f"sweep.validation.holdout.train_until {train_until} leaves fewer than two days "
            f"on one side (run {_span(dates, start)})",
            ("sweep", "validation", "holdout", "train_until"))
    text = (f"hold-out: in-sample {dates[start].date()}..{dates[split - 1].date()}, "
            f"out-of-sample {dates[split].date()}..{dates[-1].date()}")
    return Plan("holdout", ((start, split), (split, n_days)), ("is_", "oos_"), (), text)


def walk_forward_folds(dates: pd.DatetimeIndex, start: int, train_years: float,
                       test_years: float, mode: str) -> list[Fold]:
    """The folds of a walk-forward over ``dates[start:]`` (see the module docstring)."""
    train, test = _months(train_years, "train_years"), _months(test_years, "test_years")
    first = dates[start]
    n_days = len(dates)

    def bar(months: int) -> int:  # first bar on or after run start + months
        return int(dates.searchsorted(first + pd.DateOffset(months=months), side="left"))

    folds = []
    k = 0
    while True:
        lo = bar(train + test * k)
        if lo >= n_days:
            break
        hi = min(bar(train + test * (k + 1)), n_days)
        train_lo = start if mode == "anchored" else max(bar(test * k), start)
        if lo - train_lo >= 2 and hi > lo:
            folds.append(Fold((train_lo, lo), (lo, hi)))
        k += 1
    return folds


def walk_forward_plan(dates: pd.DatetimeIndex, start: int, wf) -> Plan:
    folds = walk_forward_folds(dates, start, wf.train_years, wf.test_years, wf.mode)
    if not folds:
        raise ConfigError(
            f"sweep.validation.walk_forward: train_years {wf.train_years:g} leaves no test "
            f"window in the run {_span(dates, start)}", ("sweep", "validation", "walk_forward"))
    n_days = len(dates)
    first_test = folds[0].test[0]
    text = (f"walk-forward ({wf.mode}): train {wf.train_years:g} y, test {wf.test_years:g} y, "
            f"{len(folds)} folds, out-of-sample {dates[first_test].date()}..{dates[-1].date()}")
    return Plan("walk_forward", ((start, n_days), (first_test, n_days)), ("is_", "oos_"),
                tuple(folds), text)


def make_plan(dates: pd.DatetimeIndex, start: int, validation: Validation | None) -> Plan:
    """The windows of a sweep over ``dates`` whose run starts at bar ``start``."""
    if validation is None:
        return Plan("none", ((start, len(dates)),), ("",), (),
                    f"no validation: whole run {_span(dates, start)}")
    if validation.holdout is not None:
        return holdout_plan(dates, start, validation.holdout.train_until)
    return walk_forward_plan(dates, start, validation.walk_forward)
