"""Whole-run line views shared by the pages of one process.

Ten pages following the same stream at the same plot width ask for the same level-of-detail
view: each resolves it again once a pixel width of new rows has been appended, so at 1,000
rows/s ten pages computed ten nearly identical views a second per line plot, each under the
table's lock (which writers wait for). Here a view is kept per stream and request (x, y
columns, range, width, raw limit) and handed to the next page that asks while it is at most
`slack` rows behind the stream; that page then appends the newer rows as deltas, in the
same tick (page/lines.py), so what it draws is the same as with a view of its own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from streamvis.core.lod import View

Request = tuple[str, tuple[str, ...], float | None, float | None, int, int]


class SharedViews:
    """The latest view of each (stream, request), kept while its table lives."""

    def __init__(self) -> None:
        self._views: weakref.WeakKeyDictionary[Any, dict[Request, View]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self.computed = 0  # views asked of tables (tests and benchmarks read these)
        self.shared = 0  # views handed out again

    def view(
        self,
        table: Any,
        x: str,
        columns: Sequence[str],
        lo: float | None,
        hi: float | None,
        width: int,
        raw_limit: int,
        slack: int,
    ) -> View:
        """`table.view(...)`, or a view of the same request made at most `slack` rows ago
        (same generation, its rows after it still kept, so they can follow as deltas)."""
        request: Request = (x, tuple(columns), lo, hi, width, raw_limit)
        with self._lock:
            kept = self._views.get(table, {}).get(request)
        if (
            kept is not None
            and kept.generation == table.generation
            and table.first_seq <= kept.next_seq <= table.next_seq
            and table.next_seq - kept.next_seq <= slack
        ):
            self.shared += 1
            return kept
        view = table.view(x, columns, lo, hi, width, raw_limit)
        self.computed += 1
        with self._lock:
            views = self._views.setdefault(table, {})
            if len(views) > 64:  # many widths or zooms: keep the newest requests only
                views.clear()
            views[request] = view
        return view


VIEWS = SharedViews()  # the one cache of this process's pages
