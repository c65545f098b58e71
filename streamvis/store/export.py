"""Get logged numbers out: a run's streams as pandas DataFrames, or CSV/Parquet files.

Reads the full stored history when there is a store (a path, or the default hub's store),
else what the in-memory hub keeps. Columns keep the dtypes they were stored with; missing
values stay missing (NaN, None, NaT).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streamvis.core.hub import Hub, check_name, hub_or_default
from streamvis.core.normalize import Batch
from streamvis.core.storage import StoreReads, StreamRecord
from streamvis.errors import ExportError, StoreError, StreamError
from streamvis.store.sqlite import SQLiteStore

Progress = Callable[[int], None]
WALL_TIME = "wall_time"


def _frame(pieces: list[tuple[int, Batch, np.ndarray]], wall_time: bool) -> pd.DataFrame:
    """One DataFrame indexed by seq from (first seq, batch, times) pieces."""
    frames = []
    for first_seq, batch, times in pieces:
        index = pd.RangeIndex(first_seq, first_seq + len(times), name="seq")
        # text stays object with None (pandas 3 would otherwise infer its own str dtype)
        columns: dict[str, Any] = {
            name: pd.Series(values, index=index, dtype=object) if values.dtype == object
            else values
            for name, values in batch.items()
        }  # fmt: skip
        if wall_time:
            columns[WALL_TIME] = times.astype("datetime64[ns]")
        frames.append(pd.DataFrame(columns, index=index))
    if not frames:
        return pd.DataFrame(index=pd.RangeIndex(0, name="seq"))
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def _stored(
    reads: StoreReads, record: StreamRecord, wall_time: bool, progress: Progress | None
) -> pd.DataFrame:
    pieces = []
    for first_seq, batch, times in reads.segments(record):
        pieces.append((first_seq, batch, times))
        if progress is not None:
            progress(len(times))
    return _frame(pieces, wall_time)


def stored_rows(
    reads: StoreReads, run: str, stream: str, since: int, limit: int | None
) -> tuple[int, int, Batch] | None:
    """(first seq, next seq, rows with seq >= since, at most the newest `limit`) from the
    store; None when the store does not hold the stream."""
    record = next((r for r in reads.streams(run) if r.stream == stream), None)
    if record is None:
        return None
    since = max(since, record.first_seq)
    if limit is not None:
        since = max(since, record.next_seq - limit)
    frame = _frame(list(reads.segments(record, since)), wall_time=False)
    frame = frame[frame.index >= since]
    batch = {name: frame[name].to_numpy() for name in frame.columns}
    return (int(frame.index[0]) if len(frame) else record.next_seq), record.next_seq, batch


def _open(store: str | os.PathLike[str] | StoreReads | None, hub: Hub) -> StoreReads | None:
    """What to read: the file `store` names (opened read-only), the store given, or the
    hub's own store (after writing what it queued); None: the hub's memory."""
    if isinstance(store, str | os.PathLike):
        return SQLiteStore(store, readonly=True)
    if store is not None and not callable(getattr(store, "streams", None)):
        raise ExportError(f"export(store=...) must be a file path, not {type(store).__name__}")
    if store is not None:
        return store
    if hub.store is not None:
        hub.flush()
        return hub.store
    return None


def export(
    run: str = "default",
    stream: str | None = None,
    *,
    store: str | os.PathLike[str] | StoreReads | None = None,
    hub: Hub | None = None,
    wall_time: bool = False,
    progress: Progress | None = None,
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Stream `stream` of `run` as a DataFrame indexed by seq, or every stream of the run as
    {name: DataFrame} when `stream` is None. `store` reads that SQLite file (it may be in use
    by a server) or that store; otherwise the default hub's store, or its memory.
    `wall_time=True` adds each row's arrival time as a `wall_time` column."""
    check_name("run", run)
    if stream is not None:
        check_name("stream", stream)
    try:
        hub = hub_or_default(hub, "export")
    except StreamError as exc:
        raise ExportError(str(exc)) from None
    backend = _open(store, hub)
    try:
        if backend is not None:
            records = {r.stream: r for r in backend.streams(run)}
            frames = {
                name: _stored(backend, record, wall_time, progress)
                for name, record in records.items()
                if stream in (None, name)
            }
            where = f"store {backend.location}"
        else:
            frames = {}
            for table in hub.tables(run):
                if stream in (None, table.name):
                    rows = table.snapshot(0)
                    frames[table.name] = _frame(
                        [(rows.first_seq, rows.batch, rows.times)], wall_time
                    )
            where = "this process"
    finally:
        if isinstance(backend, SQLiteStore) and isinstance(store, str | os.PathLike):
            backend.close()  # opened here
    if stream is not None:
        if stream not in frames:
            known = ", ".join(sorted(s.name for s in hub.tables(run))) if backend is None else ""
            raise ExportError(
                f"run '{run}' has no stream '{stream}' in {where}"
                + (f" (it has: {known})" if known else ""),
                run=run,
                stream=stream,
            )
        return frames[stream]
    if not frames:
        raise ExportError(f"no run '{run}' in {where}", run=run)
    return frames


def write_file(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame as CSV or Parquet, chosen by the file's extension."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ExportError(
                f"{target}: writing Parquet needs pyarrow, which is not installed: "
                "pip install pyarrow (or pip install 'streamvis[parquet]'), or write .csv",
                file=str(target),
            ) from None
        frame.to_parquet(target)
    elif suffix in (".csv", ".txt", ""):
        frame.to_csv(target, index=False)
    else:
        message = f"{target}: unknown file type {suffix!r}; use .csv or .parquet"
        raise ExportError(message, file=str(target))
    return target


__all__ = ["ExportError", "StoreError", "export", "write_file"]
