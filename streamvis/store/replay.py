"""Fill a new hub from its store: each stream's newest kept rows, and producers' layouts.

Runs when a hub is created on a store (a server start, `sv.use_store` in a script), so a
page opened right after a restart draws the whole retained history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.errors import StreamvisError

if TYPE_CHECKING:
    from streamvis.core.hub import Hub
    from streamvis.store import SQLiteStore, Store, StreamRecord

log = logging.getLogger("streamvis")
Progress = Callable[[int], None]


def replay(hub: Hub, store: Store, progress: Progress | None = None) -> int:
    """Load every stored stream's last `hub.retain` rows into `hub`; returns rows loaded.
    `progress(rows)` is called as segments load (the CLI's progress bar)."""
    backend = store.backend
    records = backend.streams()
    bar = None
    if progress is None:
        from tqdm import tqdm

        total = sum(min(r.rows, hub.retain) for r in records)
        bar = tqdm(total=total, unit="rows", desc="replaying", delay=1.0, leave=False)
    try:
        loaded = _load(hub, backend, records, progress or _advance(bar))
    finally:
        if bar is not None:
            bar.close()
    for run, raw in backend.layouts().items():
        # only a stored layout needs the layout model (and the kinds, pandas...): a script
        # that only streams rows never imports it
        from streamvis.layout.spec import layout_from_dict

        try:
            layout = layout_from_dict(raw, source=f"stored layout of run '{run}'")
        except StreamvisError as exc:
            log.error("%s", exc)
            continue
        hub.set_layout(run, layout)
    return loaded


def _advance(bar: Any) -> Progress:
    """A progress callback moving a tqdm bar."""

    def advance(rows: int) -> None:
        bar.update(rows)

    return advance


def _load(hub: Hub, backend: SQLiteStore, records: list[StreamRecord], progress: Progress) -> int:
    loaded = 0
    for record in records:
        since = max(record.first_seq, record.next_seq - hub.retain)
        pieces = []
        first = expected = None
        for first_seq, batch, times in backend.segments(record, since):
            if expected is not None and first_seq > expected:
                # rows the store lost (a damaged segment, a refused change) come back as
                # missing values, so every other row keeps its seq and pages show a gap
                gap = first_seq - expected
                pieces.append(({}, np.full(gap, times[0] if len(times) else 0, np.int64)))
            if first is None:
                first = first_seq
            expected = first_seq + len(times)
            pieces.append((batch, times))
            progress(len(times))
        table = hub.restore_table(record.run, record.stream, record.created, record.updated)
        table.restore(
            first if first is not None else record.next_seq,
            pieces,
            record.mode,
            record.generation,
        )
        if first is not None and table.next_seq != record.next_seq:
            log.warning(
                "store %s: run '%s', stream '%s' ends at row %d, expected %d",
                backend.path, record.run, record.stream, table.next_seq, record.next_seq,
            )  # fmt: skip
        loaded += table.row_count
    return loaded
