"""Crossfilter groups: charts over one stream that filter each other, per browser session.

dc.js semantics: a chart's selection (categories clicked, or a value range) filters every
*other* chart of its group; the chart holding the selection keeps showing all of its
categories, the unselected ones dimmed. New rows are filtered as they arrive, and the
summaries stay exact: each member is folded with the new rows that pass the other members'
filters (work proportional to new rows); a selection change rebuilds the other members
from all rows of the group (one vectorized pass each). No Panel or HoloViews here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from streamvis.core.normalize import Batch


class Member(Protocol):
    """What a chart contributes to a group: the column it filters on, and its summary."""

    column: str

    def rebuild(self, rows: Batch) -> None:
        """Start the summary over from these rows (they pass the other members' filters)."""

    def fold(self, rows: Batch) -> None:
        """Add new rows (they pass the other members' filters)."""


@dataclass(frozen=True)
class Selection:
    """Categories of `column` (compared as text), or inclusive ranges: [low, high] of
    `column`, plus more `(column, low, high)` in `also` (a box on a scatter: x and y)."""

    column: str
    categories: frozenset[str] | None = None
    low: float | None = None
    high: float | None = None
    also: tuple[tuple[str, float, float], ...] = ()

    def mask(self, rows: Batch) -> np.ndarray:
        if self.categories is not None:
            return np.isin(rows[self.column].astype(str), list(self.categories))
        mask = _within(rows[self.column], self.low, self.high)
        for column, low, high in self.also:
            mask &= _within(rows[column], low, high)
        return mask


def _within(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    if values.dtype.kind == "M":
        values = values.astype("datetime64[ms]").astype(float)  # Bokeh's time unit
    numbers = np.asarray(values, dtype=float)
    return (numbers >= (-np.inf if low is None else low)) & (
        numbers <= (np.inf if high is None else high)
    )


def _take(rows: Batch, mask: np.ndarray | None) -> Batch:
    return rows if mask is None else {name: values[mask] for name, values in rows.items()}


CROSSFILTER_ROWS = 1_000_000  # rows a session's group keeps when the hub has no row cap


class Crossfilter:
    """One group in one session: its rows, each member's selection, and the members."""

    def __init__(self, name: str, keep: int | None = None) -> None:
        self.name = name
        self.keep = keep  # rows kept (the hub's retain, else CROSSFILTER_ROWS): summaries
        # are exact over these
        self.members: dict[str, Member] = {}
        self.selections: dict[str, Selection] = {}
        self._chunks: list[Batch] = []
        self._rows: Batch | None = None
        self._count = 0
        self.listeners: list[Callable[[], None]] = []
        self.last_update: tuple[int, int] | None = None

    def join(self, member_id: str, member: Member) -> None:
        self.members[member_id] = member

    @property
    def rows(self) -> Batch:
        """Every row the group has seen (since the last reset), as one batch."""
        if self._rows is None:
            if not self._chunks:
                self._rows = {}
            else:
                names = list(self._chunks[0])
                self._rows = {
                    n: np.concatenate([c[n] for c in self._chunks if n in c]) for n in names
                }
            self._chunks = [self._rows] if self._rows else []
        return self._rows

    def _mask(self, rows: Batch, excluding: str | None) -> np.ndarray | None:
        """Rows passing every selection but `excluding`'s; None when nothing filters."""
        active = [s for member_id, s in self.selections.items() if member_id != excluding]
        if not active or not rows:
            return None
        mask = np.ones(len(next(iter(rows.values()))), dtype=bool)
        for selection in active:
            mask &= selection.mask(rows)
        return mask

    def ingest(self, rows: Batch, reset: bool, key: tuple[int, int] | None = None) -> None:
        """New rows of the group's stream (or, with `reset`, its whole new content). `key`
        (generation, seq) makes repeated delivery of one update to several members a no-op."""
        if key is not None:
            if key == self.last_update:
                return
            self.last_update = key
        if reset:
            self._chunks, self._rows = ([rows] if rows else []), None
            self._count = len(next(iter(rows.values()))) if rows else 0
            for member_id, member in self.members.items():
                member.rebuild(_take(self.rows, self._mask(self.rows, member_id)))
            return
        if not rows:
            return
        self._chunks.append(rows)
        self._rows = None
        self._count += len(next(iter(rows.values())))
        if self.keep is not None and self._count > self.keep * 1.1:
            self._trim()  # occasional: drop the oldest rows and rebuild over the rest
            return
        for member_id, member in self.members.items():
            member.fold(_take(rows, self._mask(rows, member_id)))

    def _trim(self) -> None:
        assert self.keep is not None  # only called when a bound is set
        kept = {name: values[-self.keep :] for name, values in self.rows.items()}
        self._chunks, self._rows = [kept], None
        self._count = len(next(iter(kept.values())))
        for member_id, member in self.members.items():
            member.rebuild(_take(kept, self._mask(kept, member_id)))

    def select(self, member_id: str, selection: Selection | None) -> None:
        """Set (or with None clear) a member's selection; rebuild every other member."""
        if selection is None:
            self.selections.pop(member_id, None)
        else:
            self.selections[member_id] = selection
        rows = self.rows
        for other_id, member in self.members.items():
            if other_id != member_id:
                member.rebuild(_take(rows, self._mask(rows, other_id)) if rows else {})
        for listener in self.listeners:
            listener()

    def reset(self, member_ids: Iterable[str] | None = None) -> None:
        """Clear the selections of some members (all by default)."""
        for member_id in list(member_ids if member_ids is not None else self.selections):
            if member_id in self.selections:
                self.select(member_id, None)

    @property
    def active(self) -> bool:
        return bool(self.selections)


class RowsState:
    """A group member that draws rows (table, line, scatter, histogram): the newest `keep`
    rows passing the other members' selections. `column` is what its own range selection
    filters on (empty: it filters nothing)."""

    def __init__(self, plot: Any, keep: int, column: str = "") -> None:
        self.plot = plot
        self.keep = keep
        self.column = column
        self.group: Crossfilter | None = None
        self.kept: Batch = {}

    def rebuild(self, rows: Batch) -> None:
        self.kept = {}
        self.fold(rows)

    def fold(self, rows: Batch) -> None:
        if not rows or not len(next(iter(rows.values()))):
            return
        self.kept = {
            name: (
                np.concatenate([self.kept[name], rows[name]]) if name in self.kept else rows[name]
            )[-self.keep :]
            for name in self.plot.columns
        }

    def update(self, batch: Batch, reset: bool, key: Any = None) -> Any:
        if self.group is not None:
            self.group.ingest(batch, reset, key)
        return self.table()

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({name: self.kept.get(name, []) for name in self.plot.columns})

    def select_range(self, ranges: list[tuple[str, float, float]]) -> None:
        """A box or range drawn on this chart: filter the rest of the group by it."""
        if self.group is None or not ranges:
            return
        (column, low, high), *more = ranges
        self.group.select(self.plot.id, Selection(column, low=low, high=high, also=tuple(more)))


def toggle(selection: Selection | None, column: str, category: Any) -> Selection | None:
    """A click on a category: add it to the selection, or take it out (None when empty)."""
    chosen = set(selection.categories or ()) if selection is not None else set()
    chosen ^= {str(category)}
    return Selection(column, frozenset(chosen)) if chosen else None
