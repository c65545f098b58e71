"""The store's interface: the changes a hub sends it, what it reads back, and the `Backend`
protocol every store (SQLite today, Redis Streams next) implements.

Core code (the hub, tables, the journal) types against this module only and never imports
a backend, so a new backend is one new module in store/ that satisfies `Backend`.

Changes are a small tagged union (`Op`), each a frozen record:

    AppendRows   a batch of columns (mode "replace": it becomes the stream's whole content)
    AppendRow    one scalar row (the `sv.stream` fast path)
    ClearStream  drop a stream's rows; numbering goes on
    DeleteRun    forget a run: its streams, rows, batch ids and layout
    SetLayout    a producer's layout for a run, as plain data
    SetAttributes  changes to a run's attributes (a value of None removes its key)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, TypedDict

import numpy as np

from streamvis.core.normalize import Batch

ANY_SEQ = -1  # check_and_append: number the rows from wherever the stream stands
StreamMode = Literal["append", "replace"]


# -- changes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class AppendRows:
    """Rows `seq` .. `seq + rows - 1` of a stream, as columns. `times` is one arrival time
    (ns) for all of them or one per row. With mode "replace" they replace what the stream
    held, and `generation` is the stream's new generation."""

    kind: ClassVar[str] = "append"
    run: str
    stream: str
    seq: int
    rows: int
    columns: Mapping[str, np.ndarray]
    times: int | np.ndarray
    mode: StreamMode = "append"
    generation: int = 0
    batch_id: str | None = None  # a producer's id: the store keeps it to drop a retry


@dataclass(frozen=True, slots=True, eq=False)
class AppendRow:
    """One row `seq` of a stream as {column: scalar}, with its columns' dtypes."""

    kind: ClassVar[str] = "row"
    run: str
    stream: str
    seq: int
    row: Mapping[str, Any]
    time: int
    dtypes: Mapping[str, np.dtype] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class ClearStream:
    """Drop every row of a stream; the next row gets `next_seq`."""

    kind: ClassVar[str] = "clear"
    run: str
    stream: str
    next_seq: int
    generation: int

    @property
    def rows(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class DeleteRun:
    """Forget a run: its streams, their rows and batch ids, and its layout."""

    kind: ClassVar[str] = "delete_run"
    run: str

    @property
    def rows(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class SetLayout:
    """The layout a producer sent for a run, in its plain-dict form."""

    kind: ClassVar[str] = "layout"
    run: str
    layout: Mapping[str, Any]

    @property
    def rows(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class SetAttributes:
    """Checked changes to a run's attributes (core/attributes.py), merged into what the
    store holds: a value of None removes its key."""

    kind: ClassVar[str] = "attributes"
    run: str
    changes: Mapping[str, str | int | float | bool | None]

    @property
    def rows(self) -> int:
        return 0


Op = AppendRows | AppendRow | ClearStream | DeleteRun | SetLayout | SetAttributes


def describe(op: Op) -> str:
    """The change in words, for the log: `append to run 'r', stream 's' (seq 4, 10 rows)`."""
    if isinstance(op, AppendRows | AppendRow):
        where = f"run '{op.run}', stream '{op.stream}'"
        return f"{op.kind} to {where} (seq {op.seq}, {op.rows} rows)"
    if isinstance(op, ClearStream):
        return f"clear of run '{op.run}', stream '{op.stream}'"
    return f"{op.kind} of run '{op.run}'"


# -- what a store reads back --------------------------------------------------------------------
@dataclass
class StreamRecord:
    """A stream as the store knows it (also what `streamvis ls` prints). `id` is the
    backend's own handle for the stream; `columns` maps names to dtype codes."""

    id: int
    run: str
    stream: str
    mode: str
    generation: int
    columns: dict[str, str]
    first_seq: int
    next_seq: int
    rows: int
    bytes: int
    created: int
    updated: int


class RunSummary(TypedDict):
    """A stored run: start and last write (ns since the epoch), streams, stored rows, and
    whether a producer stored a layout for it."""

    run: str
    created: int
    updated: int
    streams: int
    rows: int
    layout: bool


class Segment(NamedTuple):
    """Consecutive stored rows of one stream: numbered from `first_seq`, as columns, with
    each row's arrival time (int64 ns)."""

    first_seq: int
    batch: Batch
    times: np.ndarray


class Picked(NamedTuple):
    """The rows of the ranges a `StoreReads.pick` asked for, concatenated: `held` marks
    the rows the store holds; `batch[name]` has a value of that column at every row, which
    means something only where `has[name]` is True (rows held by segments with the column);
    `times` are the arrival times (int64 ns) of the held rows, in order (None: not asked)."""

    held: np.ndarray
    batch: Batch
    has: dict[str, np.ndarray]
    times: np.ndarray | None


class Followed(NamedTuple):
    """What a follower has not read yet (see `StoreReads.follow`). `reset`: the stream was
    replaced or cleared since the follower's generation, so drop what it holds; `segments`
    are then every kept row. `next_seq` is the position to follow from next time."""

    reset: bool
    generation: int
    next_seq: int
    segments: list[Segment]


class Appended(NamedTuple):
    """The outcome of `Backend.check_and_append`. `status`: "stored"; "duplicate" (the
    batch id was stored before, nothing written); "moved" (the stream's next seq was not
    the one expected, nothing written). `first_seq`/`next_seq`: where the batch's rows are
    (or, for "moved", where the stream now ends)."""

    status: Literal["stored", "duplicate", "moved"]
    first_seq: int
    next_seq: int


class BatchId(NamedTuple):
    """A producer batch id the store remembers: its run, stream and the seq after it."""

    run: str
    stream: str
    batch_id: str
    next_seq: int


class Damage(NamedTuple):
    """Stored rows that could not be decoded, and why (they read back as missing)."""

    run: str
    stream: str
    first_seq: int
    rows: int
    why: str


# -- the protocols --------------------------------------------------------------------------------
class StoreReads(Protocol):
    """Every read a store offers; safe from any thread, and from other processes while one
    process writes. A store shows only what it has durably committed."""

    @property
    def location(self) -> str:
        """Where the data lives (a file path, a URL), for messages."""
        ...

    def streams(self, run: str | None = None) -> list[StreamRecord]:
        """Every stored stream (of one run), by run then name."""
        ...

    def runs(self) -> list[RunSummary]:
        """Every stored run, by name."""
        ...

    def segments(
        self, record: StreamRecord, since: int = 0, until: int | None = None
    ) -> Iterator[Segment]:
        """The stored segments of a stream holding rows >= `since` (and, with `until`, rows
        < `until`), oldest first (the first may start before `since`, the last end after
        `until`). Undecodable ones are skipped and listed in `damaged`."""
        ...

    def pick(
        self,
        record: StreamRecord,
        starts: np.ndarray,
        stops: np.ndarray,
        columns: Sequence[str],
        arrival: bool,
    ) -> Picked:
        """The stored rows of a stream in the ranges [starts[i], stops[i]) (ascending, none
        overlapping; a view's pixel column edges, short ranges here and there), with arrival
        times when `arrival`: only those rows of each segment holding some, read without
        loading the segment whole where the store can. Undecodable segments are skipped
        (their rows not held) and listed in `damaged`."""
        ...

    def follow(
        self, run: str, stream: str, generation: int, since: int, limit: int | None = None
    ) -> Followed | None:
        """Rows of a stream a follower (another process catching up) has not read: those
        with seq >= `since` (at most the newest `limit`), or every kept row when the stream's
        generation is no longer `generation`. None for a stream the store does not hold."""
        ...

    def batch_ids(self, limit: int = 100_000) -> list[BatchId]:
        """The newest remembered producer batch ids, oldest first."""
        ...

    def layouts(self) -> dict[str, dict[str, Any]]:
        """Producers' layouts by run, as the plain dicts they were stored as."""
        ...

    def layout_version(self) -> int:
        """A number that grows with every stored layout change (set, or its run deleted):
        another process polls it and reads `layouts()` again when it moved."""
        ...

    def attributes(self, run: str | None = None) -> dict[str, dict[str, Any]]:
        """Runs' attributes by run (only `run`'s when given), as stored; runs without
        any are left out."""
        ...

    def integrity(self) -> str:
        """The backend's own consistency check: 'ok' when sound."""
        ...

    @property
    def damaged(self) -> Sequence[Damage]:
        """Stored rows found undecodable so far."""
        ...


class Backend(StoreReads, Protocol):
    """A durable store. The journal's single writer thread calls `commit`, `maintain` and
    `close`; `check_and_append` is for writers sharing one store across processes."""

    @property
    def shared(self) -> bool:
        """True when several processes write this store at once (Redis): the store numbers
        rows (appends come with ANY_SEQ), and each process's hub gets every row, its own
        too, from a follower of the store; False when one process owns it (SQLite)."""
        ...

    def commit(self, ops: Sequence[Op]) -> None:
        """Apply `ops` in order, all or none. On failure nothing changed; `transient` says
        whether trying again later may succeed."""
        ...

    def check_and_append(self, op: AppendRows) -> Appended:
        """Atomically: drop the batch when its `batch_id` is stored already ("duplicate");
        refuse it with StreamError when a column's type conflicts with the stream's stored
        schema; unless `op.seq` is ANY_SEQ, refuse it when the stream does not end at
        `op.seq` ("moved"); else store its rows numbered from the stream's next seq (a
        replace also starts the stream's next generation)."""
        ...

    def maintain(self) -> None:
        """Periodic upkeep between commits: retention limits, compaction, old batch ids."""
        ...

    def claim(self, name: str, seconds: float) -> bool:
        """Hold the lease `name` for `seconds` (calling again renews it): True while this
        process holds it. A layout's feed is read by the one process holding its lease, so
        several processes on one store do not each store its rows. A store one process
        owns (SQLite) always grants it."""
        ...

    def remember(self, name: str, value: str | None = None) -> str | None:
        """With `value`: note it under `name` (where the lease holder stands in its feed);
        returns what is noted (None: nothing), for the process taking the lease over. A
        store one process owns notes nothing: no other process will take over."""
        ...

    def transient(self, error: BaseException) -> bool:
        """True when `error` (raised by commit) may pass (a full disk), so the journal
        retries; False for a change this store can never take."""
        ...

    def close(self) -> None:
        """Release files, connections and locks; reads fail afterwards."""
        ...


def follow_by_segments(
    reads: StoreReads, run: str, stream: str, generation: int, since: int, limit: int | None
) -> Followed | None:
    """`StoreReads.follow` answered with the store's own range reads (`streams`,
    `segments`), the segments cut at `since` (or at the newest `limit` rows)."""
    record = next((r for r in reads.streams(run) if r.stream == stream), None)
    if record is None:
        return None
    reset = record.generation != generation
    start = record.first_seq if reset else max(since, record.first_seq)
    if limit is not None:
        start = max(start, record.next_seq - limit)
    pieces = []
    for first_seq, batch, times in reads.segments(record, start):
        skip = max(0, start - first_seq)
        if skip >= len(times):
            continue
        if skip:
            batch = {name: values[skip:] for name, values in batch.items()}
            times, first_seq = times[skip:], first_seq + skip
        pieces.append(Segment(first_seq, batch, times))
    return Followed(reset, record.generation, record.next_seq, pieces)
