"""Ticks of a log y axis chosen from the rows drawn: a label at every decade, and when the
range spans few decades, labels between them (2 and 5; 1 to 9 within about a decade).

Bokeh's LogTicker treats a range of under two decades as linear (a loss from 1.4 down to
0.1 gets ticks at 0.5 and 1 only), and a custom ticker would need CustomJS, which the page
policy refuses (page/csp.py). The page holds every drawn row, so the server knows the y
extent the browser's auto-ranging shows and sets a FixedTicker's ticks from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MANTISSAS_WIDE = (1.0,)
MANTISSAS_FEW = (1.0, 2.0, 5.0)
MANTISSAS_NARROW = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
MOST_DECADES = 12  # beyond this many decades, every other decade (then every third...)


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis showing [low, high] (both > 0): every decade in it (one
    each side beyond, so a range inside one decade still has its bounds), and between
    them 2 and 5 when it spans at most 3 decades, or 1.5, 2, 3 ... 9 at most 1.2."""
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        return []
    low, high = min(low, high), max(low, high)
    first = math.floor(math.log10(low))
    last = math.ceil(math.log10(high))
    spanned = math.log10(high / low) if high > low else 0.0
    mantissas = MANTISSAS_WIDE
    if spanned <= 1.2:
        mantissas = MANTISSAS_NARROW
    elif spanned <= 3:
        mantissas = MANTISSAS_FEW
    step = max(1, math.ceil((last - first) / MOST_DECADES))
    ticks = []
    for exponent in range(first - 1, last + 2):
        if mantissas is MANTISSAS_WIDE and exponent % step:
            continue
        for mantissa in mantissas:
            ticks.append(float(f"{mantissa}e{exponent}"))  # exact decimals: 0.1, not 0.1000...1
    return ticks


def positive_extent(values: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """(smallest, largest) positive finite value of the arrays, None without one."""
    lows, highs = [], []
    for array in values:
        data = np.asarray(array, dtype=np.float64)
        data = data[np.isfinite(data) & (data > 0)]
        if len(data):
            lows.append(float(data.min()))
            highs.append(float(data.max()))
    return (min(lows), max(highs)) if lows else None


class LogTicks:
    """Keeps a figure's log y axis ticker at the ticks of the rows drawn."""

    def __init__(self) -> None:
        self.ticker: Any = None
        self.extent: tuple[float, float] | None = None

    def attach(self, figure: Any) -> None:
        """Give the figure's log y axes a FixedTicker (once per figure)."""
        from bokeh.models import FixedTicker, LogAxis

        axes = [axis for axis in figure.yaxis if isinstance(axis, LogAxis)]
        if not axes or (self.ticker is not None and axes[0].ticker is self.ticker):
            return
        self.ticker = FixedTicker(ticks=log_ticks(1e-3, 1e3))
        self.extent = None
        for axis in axes:
            axis.ticker = self.ticker
            figure.ygrid.ticker = self.ticker

    def update(self, values: Sequence[np.ndarray]) -> None:
        """Ticks for the y extent of `values` (the drawn lines' y)."""
        extent = positive_extent(values)
        if self.ticker is None or extent is None or extent == self.extent:
            return
        self.extent = extent
        ticks = log_ticks(*extent)
        if list(self.ticker.ticks) != ticks:
            self.ticker.ticks = ticks
