"""Crossfilter groups: charts over one stream that filter each other, per browser session.

dc.js semantics: a chart's selection (categories clicked, or a value range) filters every
*other* chart of its group; the chart holding the selection keeps showing all of its
categories, the unselected ones dimmed. Every chart of a group aggregates the same rows:
the stream's rows held in memory. The encodings of those rows (category codes, bin
indexes, numbers) are the stream's, shared by every session (transforms/encodings.py); a
session keeps only what its filters make differ: one pass flag per row for each active
selection, the count of failed selections per row, and each member's sums. A selection
change is a few vectorised passes over integer codes; new rows under a filter are folded
in exactly (work proportional to the new rows); rows leaving memory make the group
recompute. A page without a selection holds nothing per row. No Panel or HoloViews here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from streamvis.transforms.encodings import Column, Encodings, Need, encodings_of

if TYPE_CHECKING:
    from streamvis.core.table import Table


class Member(Protocol):
    """What a chart contributes to a group: the column it filters on, what it needs encoded,
    and its summary, recomputed or folded over the rows `mask` lets through (None: all)."""

    column: str

    def needs(self) -> list[Need]:
        """The shared encodings this member reads."""

    def recompute(self, group: Crossfilter, mask: np.ndarray | None) -> None:
        """Start the summary over from every row held that `mask` lets through."""

    def fold(self, group: Crossfilter, start: int, mask: np.ndarray | None) -> None:
        """Add the rows from index `start` on (`mask` covers those rows only)."""


@dataclass(frozen=True)
class Selection:
    """Categories of `column` (compared as text), or inclusive ranges: [low, high] of
    `column`, plus more `(column, low, high)` in `also` (a box on a scatter: x and y)."""

    column: str
    categories: frozenset[str] | None = None
    low: float | None = None
    high: float | None = None
    also: tuple[tuple[str, float, float], ...] = ()

    def needs(self) -> list[Need]:
        if self.categories is not None:
            return [Need("codes", self.column)]
        return [Need("numbers", column) for column in (self.column, *(a[0] for a in self.also))]

    def passes(self, encodings: Encodings, start: int = 0) -> np.ndarray:
        """Which rows held, from index `start` on, this selection lets through."""
        if self.categories is not None:
            categories = encodings.categories[self.column]
            codes = categories.codes.values[start:]
            wanted = [categories.code_of[n] for n in self.categories if n in categories.code_of]
            if len(wanted) <= 3:  # a comparison per category beats a table lookup
                mask = np.zeros(len(codes), dtype=bool)
                for code in wanted:
                    mask |= codes == code
                return mask
            chosen = np.zeros(len(categories.names) + 1, dtype=bool)
            chosen[wanted] = True
            picked: np.ndarray = chosen[codes]
            return picked
        mask = _within(encodings.numbers[self.column].values[start:], self.low, self.high)
        for column, low, high in self.also:
            mask &= _within(encodings.numbers[column].values[start:], low, high)
        return mask


def _within(numbers: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    low = -np.inf if low is None else low
    high = np.inf if high is None else high
    return (numbers >= low) & (numbers <= high)


class Crossfilter:
    """One group in one session: each member's selection, the per-row pass state of the
    active selections, and the members. `table` finds the stream's hub Table."""

    def __init__(self, name: str, table: Callable[[], Table | None] | None = None) -> None:
        self.name = name
        self._find_table = table
        self.members: dict[str, Member] = {}
        self.selections: dict[str, Selection] = {}
        self.listeners: list[Callable[[], None]] = []  # told of each selection change
        self.note_listeners: list[Callable[[str], None]] = []  # told when `note()` changes
        self._note = ""
        self.last_update: tuple[int, int] | None = None
        self.encodings: Encodings | None = None
        self.table: Table | None = None
        self._epoch = -1
        self._hi = 0  # rows held that this session has folded: seq < _hi
        # per selecting member: the selection applied, and 1 where a row passes it
        self._passes: dict[str, tuple[Selection, Column]] = {}
        self._fails: Column | None = None  # per row: how many selections it fails

    def join(self, member_id: str, member: Member) -> None:
        self.members[member_id] = member
        self._epoch = -1  # the next sync computes the new member from every row held

    @property
    def active(self) -> bool:
        return bool(self.selections)

    @property
    def rows(self) -> int:
        """How many rows the group aggregates (the stream's rows held in memory)."""
        return len(self.encodings) if self.encodings is not None else 0

    @property
    def lo(self) -> int:
        """Seq of the first row held (index 0 of the member arrays)."""
        return self.encodings.lo if self.encodings is not None else 0

    def ingest(self, reset: bool = False, key: tuple[int, int] | None = None) -> None:
        """Bring the group up to date with its stream. `key` (generation, seq) makes
        repeated delivery of one update to several members a no-op."""
        if key is not None:
            if key == self.last_update:
                return
            self.last_update = key
        self.sync()

    def sync(self, changed: str | None = None) -> None:
        """Fold rows that arrived since the last sync, or recompute after rows left; with
        `changed` (a member whose selection changed) also recompute every other member."""
        table = self._find_table() if self._find_table is not None else None
        if table is None:
            return
        if table is not self.table:
            self.table, self.encodings, self._epoch = table, encodings_of(table), -1
        encodings = self.encodings
        assert encodings is not None
        with encodings.lock:
            encodings.require(n for m in self.members.values() for n in m.needs())
            encodings.require(n for s in self.selections.values() for n in s.needs())
            encodings.sync()
            if encodings.epoch != self._epoch:
                self._epoch = encodings.epoch
                self._recompute_all(encodings)
            else:
                if encodings.hi > self._hi:
                    self._fold_new(encodings)
                if changed is not None:
                    self._recompute_all(encodings, changed)
            self._hi = encodings.hi
        note = self.note()
        if note != self._note:
            self._note = note
            for listener in self.note_listeners:
                listener(note)

    def _recompute_all(self, encodings: Encodings, changed: str | None = None) -> None:
        """Recompute the pass flags (only `changed`'s when given) and every member but
        `changed` (whose own selection does not filter it)."""
        if changed is None:
            self._passes = {}
        self._passes.pop(changed or "", None)
        for member_id, selection in self.selections.items():
            if member_id not in self._passes:
                self._passes[member_id] = (selection, _column_of(selection.passes(encodings)))
        self._fails = self._count_fails(len(encodings))
        for member_id, member in self.members.items():
            if member_id != changed:
                member.recompute(self, self._mask(member_id))

    def _count_fails(self, rows: int, start: int = 0) -> Column | None:
        if len(self._passes) < 2:  # one selection: its pass flags are the masks
            return None
        fails = np.full(rows - start, len(self._passes), dtype=np.uint8)
        for _, passes in self._passes.values():
            fails -= passes.values[start:]
        return _column_of(fails)

    def _fold_new(self, encodings: Encodings) -> None:
        start = self._hi - encodings.lo  # index of the first new row
        for selection, passes in self._passes.values():  # the selections applied so far
            passes.append(selection.passes(encodings, start).view(np.uint8))
        if self._fails is not None:
            new_fails = self._count_fails(len(encodings), start)
            assert new_fails is not None
            self._fails.append(new_fails.values)
        for member_id, member in self.members.items():
            member.fold(self, start, self._mask(member_id, start))

    def _mask(self, member_id: str, start: int = 0) -> np.ndarray | None:
        """Rows (from index `start`) passing every selection but `member_id`'s; None when
        nothing else filters."""
        others = [m for m in self._passes if m != member_id]
        if not others:
            return None
        if len(self._passes) == 1:  # one selection, not this member's: its flags
            return self._passes[others[0]][1].values[start:].view(bool)
        assert self._fails is not None
        fails = self._fails.values[start:]
        own = self._passes.get(member_id)
        passing: np.ndarray = (
            fails == 0 if own is None else fails == 1 - own[1].values[start:]
        )  # with its own selection: failing that one at most
        return passing

    def select(self, member_id: str, selection: Selection | None) -> None:
        """Set (or with None clear) a member's selection; recompute every other member."""
        if selection is None:
            self.selections.pop(member_id, None)
        else:
            self.selections[member_id] = selection
        self.sync(changed=member_id)
        self._tell()

    def _tell(self) -> None:
        for listener in self.listeners:
            listener()

    def reset(self, member_ids: Iterable[str] | None = None) -> None:
        """Clear the selections of some members (all by default)."""
        for member_id in list(member_ids if member_ids is not None else self.selections):
            if member_id in self.selections:
                self.select(member_id, None)

    def rows_at(self, indexes: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
        """Raw values of `columns` at row indexes held (ascending), read from the table."""
        if self.table is None or not len(indexes):
            return {name: np.empty(0) for name in columns}
        first = int(indexes[0])
        span = self.table.rows_between(self.lo + first, self.lo + int(indexes[-1]) + 1, columns)
        return {name: values[indexes - first] for name, values in span.items()}

    def note(self) -> str:
        """What the page says about the rows counted when the store holds more."""
        encodings = self.encodings
        if encodings is None or not encodings.stored_elsewhere:
            return ""
        return (
            f"crossfilter '{self.name}' counts the {len(encodings):,} rows in memory; "
            f"{encodings.stored_elsewhere:,} older rows are only in the store"
        )


def _column_of(values: np.ndarray) -> Column:
    column = Column(np.uint8)
    column.append(values.view(np.uint8) if values.dtype == bool else values)
    return column


def toggle(selection: Selection | None, column: str, category: object) -> Selection | None:
    """A click on a category: add it to the selection, or take it out (None when empty)."""
    chosen = set(selection.categories or ()) if selection is not None else set()
    chosen ^= {str(category)}
    return Selection(column, frozenset(chosen)) if chosen else None
