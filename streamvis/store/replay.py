"""Build a hub from its store: each stream's newest rows that fit the hub's memory budget,
producers' layouts and the runs' attributes.

`hub_from_store` is the one place a hub is made on a store (a server start, `sv.use_store`,
the default hub on STREAMVIS_STORE, tests). Every stored row is fed through `Table.restore`
(a page of segments at a time), so what a table builds from its rows (the level-of-detail
summary) covers the whole run, but memory keeps only the newest rows the byte budget holds
(the same share of each stream, so the oldest rows stay behind, as the hub would have
dropped them); older rows are read back from the store when a view needs them
(`Table.rows_between`). It reads through the store's typed reads only.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from streamvis.core.hub import Hub
from streamvis.store.codec import CODE_DTYPES

if TYPE_CHECKING:
    from streamvis.core.durable import Store
    from streamvis.core.normalize import Batch
    from streamvis.core.storage import Segment, StoreReads, StreamRecord

log = logging.getLogger("streamvis")
Progress = Callable[[int], None]
PAGE_ROWS = 1 << 20  # rows read from the store per query while replaying
TEXT_BYTES = 64  # a guess at the memory one stored text value takes once loaded
BUDGET_SHARE = 0.9  # of the budget filled at replay: new rows arrive right after
MIN_ROWS = 1024  # the newest rows of each stream loaded whatever the budget


def hub_from_store(
    store: Store | None,
    retain: int | None = None,
    progress: Progress | None = None,
    memory: int | str | None = None,
    whole_run: bool = True,
) -> Hub:
    """A hub on `store` (with the row cap `retain` and the byte budget `memory`, see `Hub`)
    holding the newest stored rows the budget holds, and the stored layouts; a memory-only
    hub for None. `whole_run`: see `replay`."""
    hub = Hub(retain=retain, store=store, memory=memory)
    if store is not None and store.shared:
        from streamvis.store.redis_cluster_follow import follower_kind
        from streamvis.store.redis_follow import follow_store

        # reads what Redis holds now, then follows every change
        follow_store(hub, store, follower_kind(store))
    elif store is not None:
        replay(hub, store, progress, whole_run)
    return hub


def replay(
    hub: Hub, store: StoreReads, progress: Progress | None = None, whole_run: bool = True
) -> int:
    """Load the newest rows of every stored stream that fit `hub`'s budget (and row cap)
    into `hub`; returns rows kept. With `whole_run` every stored row (within the row cap)
    is fed through `Table.restore` for the tables' summaries, else only those kept.
    `progress(rows)` is called as segments load (the CLI's progress bar)."""
    records = store.streams()
    keep = first_rows_to_load(records, hub.memory, hub.retain)
    feed = {r.id: fed_from(r, hub.retain) if whole_run else keep[r.id] for r in records}
    bar = None
    if progress is None:
        from tqdm import tqdm

        total = sum(r.next_seq - feed[r.id] for r in records)
        bar = tqdm(total=total, unit="rows", desc="replaying", delay=1.0, leave=False)
    try:
        loaded = _load(hub, store, records, feed, keep, progress or _advance(bar))
    finally:
        if bar is not None:
            bar.close()
    hub.keep_within_budget()  # the last streams loaded may not have fit beside the first
    for run, raw in store.layouts().items():
        hub.set_layout(run, raw)  # plain data: the page validates it when it draws it
    for run, attributes in store.attributes().items():
        hub.restore_attributes(run, attributes)
    return loaded


def _advance(bar: Any) -> Progress:
    """A progress callback moving a tqdm bar."""

    def advance(rows: int) -> None:
        bar.update(rows)

    return advance


def row_bytes(record: StreamRecord) -> int:
    """About how many bytes of memory one row of a stored stream takes once loaded."""
    sizes = [
        TEXT_BYTES if code == "text" else CODE_DTYPES[code].itemsize if code in CODE_DTYPES else 8
        for code in record.columns.values()
    ]
    return sum(sizes) + 8  # and its arrival time


def fed_from(record: StreamRecord, retain: int | None) -> int:
    """The first stored row of a stream within the row cap `retain`."""
    if retain is None:
        return record.first_seq
    return max(record.first_seq, record.next_seq - retain)


def first_rows_to_load(
    records: list[StreamRecord], memory: int, retain: int | None = None
) -> dict[int, int]:
    """The first seq to load of each stream (by record id): every row when they all fit
    in the budget, else the newest same share of each stream (at least its newest
    MIN_ROWS), within the row cap `retain`."""
    stored = {r.id: r.next_seq - r.first_seq for r in records}
    if retain is not None:
        stored = {key: min(rows, retain) for key, rows in stored.items()}
    wanted = sum(stored[r.id] * row_bytes(r) for r in records)
    share = min(1.0, BUDGET_SHARE * memory / wanted) if wanted else 1.0
    return {
        r.id: r.next_seq - min(stored[r.id], max(int(stored[r.id] * share), MIN_ROWS))
        for r in records
    }


def _paged(store: StoreReads, record: StreamRecord, since: int) -> Iterator[Segment]:
    """The stored segments holding rows >= `since`, read PAGE_ROWS rows at a time, so a
    long stream is never all in memory twice (as blobs and as loaded rows)."""
    expected = since
    for start in range(since, max(record.next_seq, since + 1), PAGE_ROWS):
        for segment in store.segments(record, start, start + PAGE_ROWS):
            if segment.first_seq + len(segment.times) <= expected:
                continue  # read with the page before (it straddles the pages' edge)
            expected = segment.first_seq + len(segment.times)
            yield segment


def _pieces(
    head: Segment, segments: Iterator[Segment], progress: Progress
) -> Iterator[tuple[Batch, np.ndarray]]:
    """(batch, times) of each segment; rows the store lost between segments (a damaged
    segment, a refused change) come as missing values, so every other row keeps its seq."""
    expected = None
    for first_seq, batch, times in itertools.chain([head], segments):
        if expected is not None and first_seq > expected:
            gap = first_seq - expected
            yield {}, np.full(gap, times[0] if len(times) else 0, np.int64)
        expected = first_seq + len(times)
        yield batch, times
        progress(len(times))


def _load(
    hub: Hub,
    store: StoreReads,
    records: list[StreamRecord],
    feed: dict[int, int],
    keep: dict[int, int],
    progress: Progress,
) -> int:
    loaded = 0
    for record in records:
        segments = _paged(store, record, feed[record.id])
        head = next(segments, None)
        table = hub.restore_table(record.run, record.stream, record.created, record.updated)
        table.restore(
            head.first_seq if head is not None else record.next_seq,
            _pieces(head, segments, progress) if head is not None else [],
            record.mode,
            record.generation,
            keep_from=keep[record.id],
        )
        if head is not None and table.next_seq != record.next_seq:
            log.warning(
                "store %s: run '%s', stream '%s' ends at row %d, expected %d",
                store.location, record.run, record.stream, table.next_seq, record.next_seq,
            )  # fmt: skip
        loaded += table.row_count
    return loaded
