"""Russell reconstitution drift: hold IWM in a window of trading days around each event.

Index funds must trade at the close of the effective date, and traders pre-position in the
weeks before (Madhavan 2003; Petajisto 2011 measured +4.7 % for additions and -4.6 % for
deletions from announcement to effective day, shrinking over time). Whether the window moves
IWM as a whole is open; this strategy measures it.

The window is anchored on each event's ``rank_day`` or ``effective_date`` (from
``engine.calendar``: the bundled table, rule-filled for years it lacks; semiannual events from
2026 when ``include_semiannual``). The position is entered at the close of trading day
``anchor + entry_offset`` and left at the close of ``anchor + exit_offset`` (offsets in trading
days, negative = before the anchor). The calendar is published months ahead, so deciding the
trade the day before uses no future prices. Outside windows it holds ``outside``: a ticker,
``cash`` or a static mix {ticker: weight}.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from engine.calendar import anchor_indices
from engine.data import MarketData
from strategies.base import Params, Strategy

CASH = "cash"


class ReconstitutionParams(Params):
    anchor: Literal["rank_day", "effective_date"] = "effective_date"
    entry_offset: int = Field(-20, ge=-120, le=120, description="trading days vs the anchor")
    exit_offset: int = Field(0, ge=-120, le=120, description="trading days vs the anchor")
    hold: str = Field("IWM", description="held inside the window")
    outside: str | dict[str, float] = Field("SPY", description="ticker, cash, or a mix")
    include_semiannual: bool = Field(True, description="also trade the Nov/Dec events (2026-)")

    @model_validator(mode="after")
    def _window(self):
        if self.exit_offset <= self.entry_offset:
            raise ValueError(f"exit_offset ({self.exit_offset}) must be after entry_offset "
                             f"({self.entry_offset})")
        if isinstance(self.outside, dict):
            total = sum(self.outside.values())
            if any(not 0 <= v <= 1 for v in self.outside.values()) or total > 1 + 1e-9:
                raise ValueError(f"outside weights must be in [0, 1] and sum to <= 1, "
                                 f"got {self.outside}")
        return self


class Reconstitution(Strategy):
    name = "reconstitution"
    Params = ReconstitutionParams
    summary = ("Holds IWM in a window of trading days around each Russell reconstitution "
               "(rank day or effective date; semi-annual from 2026), SPY or cash otherwise.")

    def _outside(self, p) -> dict[str, float]:
        if isinstance(p.outside, dict):
            return dict(p.outside)
        return {} if p.outside == CASH else {p.outside: 1.0}

    def ticker_params(self, p):
        pairs = [] if p.hold == CASH else [("hold", p.hold)]
        return pairs + [(f"outside.{t}" if isinstance(p.outside, dict) else "outside", t)
                        for t in self._outside(p)]

    def tickers(self, p):
        return [t for _, t in self.ticker_params(p)]

    def in_window(self, data: MarketData, p: ReconstitutionParams) -> np.ndarray:
        """(T,) bool: True on rows whose decision is 'hold', so that the position is held from
        the close of anchor+entry_offset to the close of anchor+exit_offset."""
        n_days = len(data.dates)
        mask = np.zeros(n_days, dtype=bool)
        for a in anchor_indices(data.dates, p.anchor, p.include_semiannual):
            lo = max(a + p.entry_offset - 1, 0)
            hi = min(a + p.exit_offset - 1, n_days)  # row hi decides the exit
            mask[lo:hi] = True
        return mask

    def weights(self, data: MarketData, p: ReconstitutionParams) -> np.ndarray:
        inside = self.in_window(data, p)
        out = np.zeros(data.close.shape)
        if p.hold != CASH:
            out[inside, data.column(p.hold)] = 1.0
        for ticker, weight in self._outside(p).items():
            out[~inside, data.column(ticker)] = weight
        return out
