"""The embedded store: one SQLite file in WAL mode, one blob per segment of rows.

Tables: `meta` (format version), `runs` (start time, layout), `run_attributes` (one row per
run and key, the value as JSON), `streams` (schema, mode,
generation, seq window, row and byte counts), `segments` (a columnar blob of consecutive
rows of one stream, see codec.py) and `batches` (recent producer batch ids, so a batch
retried across a crash is still stored once). Only the journal's writer thread writes;
readers use their own connection, which WAL lets run alongside the writer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import numbers
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from streamvis.core.storage import (
    ANY_SEQ,
    Appended,
    AppendRow,
    AppendRows,
    BatchId,
    ClearStream,
    Damage,
    DeleteRun,
    Followed,
    Op,
    Picked,
    RunSummary,
    Segment,
    SetAttributes,
    SetLayout,
    StreamRecord,
    follow_by_segments,
)
from streamvis.errors import StoreBusy, StoreError, StreamError
from streamvis.store import lock
from streamvis.store.codec import (
    CorruptSegment,
    decode,
    dtype_code,
    encode_parts,
    merged_code,
    time_runs,
)
from streamvis.store.compact import compact
from streamvis.store.pick import Miscounted, Segments, pick

log = logging.getLogger("streamvis")
FORMAT = 3  # bump with a migration in MIGRATIONS when the schema changes
_ATTRIBUTES_TABLE = (
    "CREATE TABLE run_attributes(run TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY(run, key))"
)
# from-format -> SQL bringing it to from-format + 1. Format 2 adds float32 segment columns
# (code f4) and no table: its only job is that an older streamvis refuses the file by name
# ("upgrade streamvis") instead of reading float32 rows as damage. Format 3 adds the runs'
# attributes (an older streamvis would keep a deleted run's attributes behind).
MIGRATIONS: dict[int, str] = {
    1: "",
    2: _ATTRIBUTES_TABLE.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"),
}
SEGMENT_ROWS = 65_536  # consecutive small writes merge into segments of at most this size
KEEP_BATCH_IDS = 100_000
WAL_LIMIT = 64 * 2**20  # bytes the WAL file is cut back to after a checkpoint
CHECKPOINT_SECONDS = 0.25
IDLE_SECONDS = 0.5  # writes paused this long: copy the WAL into the file now
WAL_CHECKPOINT = 256 * 2**20  # during a longer burst, checkpoint once the WAL is this big
PICK_MMAP = 2**31  # bytes of the file picks may read through a memory map (SQLite caps it)
PAGE_SIZE = 16_384  # segments are tens of KB to MBs: fewer, larger pages write faster
SCHEMA = (
    """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(run TEXT PRIMARY KEY, created INTEGER NOT NULL, layout TEXT);
CREATE TABLE streams(
    id INTEGER PRIMARY KEY, run TEXT NOT NULL, stream TEXT NOT NULL, mode TEXT NOT NULL,
    generation INTEGER NOT NULL, columns TEXT NOT NULL, first_seq INTEGER NOT NULL,
    next_seq INTEGER NOT NULL, rows INTEGER NOT NULL, bytes INTEGER NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE(run, stream));
CREATE TABLE segments(
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,
    rows INTEGER NOT NULL, written INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX segments_by_seq ON segments(stream_id, first_seq);
CREATE INDEX segments_by_age ON segments(written);
CREATE TABLE batches(
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, batch TEXT NOT NULL,
    seq INTEGER NOT NULL, UNIQUE(stream_id, batch));
"""
    + _ATTRIBUTES_TABLE
    + ";\n"
)


@dataclass
class Retention:
    """What the store keeps: rows per stream, age in seconds, total bytes (None: no limit).
    Whole segments are dropped, oldest first, so a little more than a limit may remain."""

    rows: int | None = None
    age: float | None = None
    bytes: int | None = None


def checked_retention(options: Mapping[str, Any]) -> Retention:
    """`Retention(**options)` for `sv.use_store(path, rows=, age=, bytes=)`: StoreError
    naming an unknown limit or one that is not a number above 0 (None: no limit)."""
    known = ("rows", "age", "bytes")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise StoreError(
            f"use_store: unknown retention {', '.join(unknown)}; use rows=, age= (seconds) "
            "or bytes="
        )
    for name, value in options.items():
        whole = name != "age"
        kind = numbers.Integral if whole else numbers.Real
        number = isinstance(value, kind) and not isinstance(value, bool)
        if value is not None and not (number and value > 0):
            what = "a whole number" if whole else "a number of seconds"
            raise StoreError(f"use_store({name}={value!r:.40}): {name} must be {what} above 0")
    return Retention(**options)


def _record(row: tuple[Any, ...]) -> StreamRecord:
    """A StreamRecord from a `streams` table row (columns in the table's order, the column
    types as JSON)."""
    id_, run, stream, mode, generation, columns, first_seq, next_seq, rows, size, made, at = row
    return StreamRecord(
        id_, run, stream, mode, generation, json.loads(columns), first_seq, next_seq, rows,
        size, made, at,
    )  # fmt: skip


class _Pending:
    """Consecutive rows of one stream waiting to become one segment."""

    def __init__(self, first_seq: int, codes: dict[str, str]) -> None:
        self.first_seq = first_seq
        self.codes = codes
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in codes}
        self.time_values: list[int] = []
        self.time_counts: list[int] = []
        self.rows = 0
        self.row_dicts: list[dict[str, Any]] = []
        self.row_dtypes: dict[str, Any] = {}

    @property
    def next_seq(self) -> int:
        return self.first_seq + self.rows + len(self.row_dicts)

    def _fold_rows(self) -> None:
        if not self.row_dicts:
            return
        rows = self.row_dicts
        for name, dtype in self.row_dtypes.items():
            self.parts[name].append(np.array([row[name] for row in rows], dtype=dtype))
        self.rows += len(rows)
        self.row_dicts = []

    def _add_times(self, value: int, count: int) -> None:
        if self.time_values and self.time_values[-1] == value:
            self.time_counts[-1] += count
        else:
            self.time_values.append(value)
            self.time_counts.append(count)

    def add(self, op: AppendRows | AppendRow) -> None:
        if isinstance(op, AppendRow):
            self.row_dicts.append(dict(op.row))
            self.row_dtypes = dict(op.dtypes)
            self._add_times(op.time, 1)
            return
        self._fold_rows()
        for name, values in op.columns.items():
            self.parts[name].append(values)
        if isinstance(op.times, np.ndarray):
            values, counts = time_runs(op.times)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                self._add_times(value, count)
        else:
            self._add_times(int(op.times), op.rows)
        self.rows += op.rows

    def blob(self) -> tuple[int, int, bytes]:
        """(rows, newest arrival ns, encoded segment)."""
        self._fold_rows()
        values = np.array(self.time_values, dtype=np.int64)
        counts = np.array(self.time_counts, dtype=np.int64)
        newest = int(values.max()) if len(values) else 0
        return self.rows, newest, encode_parts(self.parts, values, counts)


def _codes(op: AppendRows | AppendRow) -> dict[str, str]:
    if isinstance(op, AppendRow):
        return {name: dtype_code(dtype) for name, dtype in op.dtypes.items()}
    return {name: dtype_code(values.dtype) for name, values in op.columns.items()}


def _conflict(stored: dict[str, str], codes: dict[str, str]) -> tuple[str, str, str] | None:
    """(column, stored code, new code) of the first column a batch cannot add its values
    to, or None when every column fits."""
    for name, code in codes.items():
        old = stored.get(name)
        if old is not None and merged_code(old, code) is None:
            return name, old, code
    return None


class _Checkpointer:
    """Copies committed WAL pages into the database file in the background (PASSIVE: never
    blocks the writer): when writes pause, or when the WAL has grown past WAL_CHECKPOINT
    bytes during a long burst; a last full checkpoint on close. Keeping it off the writer's
    thread, and out of short bursts, leaves the CPU to producers while they are busy."""

    def __init__(self, connection: sqlite3.Connection, wal: Path) -> None:
        self.connection = connection
        self.wal = wal
        self.last_write = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamvis-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        checkpointed = True
        while not self._stop.wait(CHECKPOINT_SECONDS):
            try:
                size = self.wal.stat().st_size
            except OSError:
                continue
            idle = time.monotonic() - self.last_write > IDLE_SECONDS
            if size > WAL_CHECKPOINT or (idle and not checkpointed):
                with contextlib.suppress(sqlite3.Error):
                    self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                checkpointed = idle
            elif not idle:
                checkpointed = False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        with contextlib.suppress(sqlite3.Error):
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self.connection.close()


class SQLiteStore:
    """Reads and (from one writer thread) writes a streamvis SQLite file."""

    shared = False  # one process writes it; its hub numbers the rows

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        retention: Retention | None = None,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.retention = retention or Retention()
        self._lock_file: lock.WriterLock | None = None
        self._checkpointer: _Checkpointer | None = None
        self._read_lock = threading.Lock()
        # the journal's thread writes; check_and_append may come from any other thread
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._picker: sqlite3.Connection | None = None  # picks' own reader (memory-mapped)
        self.damaged: list[Damage] = []  # each segment that did not decode
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"store {self.path}: no such file", file=str(self.path))
                self._reader = self._connect(f"file:{self.path}?mode=ro", uri=True)
                self._check_format(self._reader)
            else:
                self._open_writer(synchronous)
        except BaseException:
            self.close()  # a refused file leaves no lock, connection or thread behind
            raise
        self._streams: dict[tuple[str, str], StreamRecord] = {
            (r.run, r.stream): r for r in self.streams()
        }

    # -- opening -------------------------------------------------------------------------
    def _open_writer(self, synchronous: str) -> None:
        """Check the file is ours (or new) before touching it, then lock, then prepare."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            probe = self._connect(str(self.path))
            try:
                has_tables = probe.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if has_tables:
                    self._check_format(probe)
            finally:
                probe.close()
        self._take_lock()
        self._writer = self._connect(str(self.path))
        self._writer.execute(f"PRAGMA synchronous={synchronous}")
        self._prepare(self._writer)
        # checkpoints (copying the WAL into the main file) run on their own thread, so the
        # writer only ever appends to the WAL
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._writer.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        self._reader = self._connect(str(self.path))
        self._checkpointer = _Checkpointer(
            self._connect(str(self.path)), self.path.with_name(self.path.name + "-wal")
        )

    def _connect(self, target: str, uri: bool = False) -> sqlite3.Connection:
        connection = None
        try:
            connection = sqlite3.connect(
                target, uri=uri, check_same_thread=False, isolation_level=None, timeout=10
            )
            connection.execute("PRAGMA busy_timeout=10000")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            if connection is not None:
                connection.close()
            raise StoreError(
                f"store {self.path}: cannot open it as an SQLite database ({exc}); "
                "give --store another path",
                file=str(self.path),
            ) from None
        return connection

    def _take_lock(self) -> None:
        """One writing process per store: a second server on the same file would reuse
        sequence numbers. Held on the file itself (lock.py), so a symlink, a hard link or a
        deleted lock file cannot let a second writer in; released when this process ends,
        even by kill -9."""
        try:
            self._lock_file = lock.take(self.path)
        except StoreBusy as busy:
            raise StoreBusy(
                f"store {self.path} is in use by {busy.owner}; stop it, or give this one "
                "another --store (reading with `streamvis ls/export` works meanwhile)",
                owner=busy.owner,
                file=str(self.path),
            ) from None

    def _prepare(self, connection: sqlite3.Connection) -> None:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if not tables:
            connection.execute(f"PRAGMA page_size={PAGE_SIZE}")
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("PRAGMA journal_mode=WAL")
            with self._transaction(connection):
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            return
        connection.execute("PRAGMA journal_mode=WAL")
        found = self._check_format(connection)
        while found < FORMAT:
            with self._transaction(connection):
                for statement in MIGRATIONS[found].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                found += 1
                connection.execute("UPDATE meta SET value=? WHERE key='format'", (str(found),))

    def _check_format(self, connection: sqlite3.Connection) -> int:
        try:
            row = connection.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            raise StoreError(
                f"store {self.path}: this SQLite file is not a streamvis store (no format "
                "record); give --store a new or streamvis-made file",
                file=str(self.path),
            )
        found = int(row[0])
        if found > FORMAT:
            raise StoreError(
                f"store {self.path} was written by a newer streamvis (store format {found}); "
                f"this version reads formats up to {FORMAT}: upgrade streamvis",
                file=str(self.path),
            )
        if found < FORMAT and any(f not in MIGRATIONS for f in range(found, FORMAT)):
            raise StoreError(
                f"store {self.path} has store format {found}, which this version cannot "
                f"upgrade to format {FORMAT}; export it with the streamvis that wrote it",
                file=str(self.path),
            )
        return found

    @contextlib.contextmanager
    def _transaction(self, connection: sqlite3.Connection) -> Iterator[None]:
        """BEGIN ... COMMIT; whatever fails, COMMIT included (a full disk), the transaction
        is rolled back, so the connection is never left inside one and the next write can
        succeed once the cause is gone."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise

    @staticmethod
    def transient(error: BaseException) -> bool:
        """True for failures of the disk or file (full, I/O error, locked) that may pass, so
        the journal retries; False for a change this store can never take."""
        return isinstance(error, sqlite3.OperationalError | OSError)

    def _reload_records(self) -> None:
        """After a failed transaction, forget what it changed in memory (new stream ids,
        counts): the file, rolled back, is the truth."""
        connection = self._writer
        assert connection is not None
        rows = connection.execute(
            "SELECT id, run, stream, mode, generation, columns, first_seq, next_seq, rows, "
            "bytes, created, updated FROM streams"
        ).fetchall()
        self._streams = {(row[1], row[2]): _record(row) for row in rows}

    # -- writing (the journal's thread only) ------------------------------------------------
    def commit(self, ops: Sequence[Op]) -> None:
        """Apply queued changes in one transaction; consecutive rows of a stream merge. When
        it fails, the file and this object's view of it are as they were before."""
        connection = self._writer
        assert connection is not None, "a read-only store cannot be written"
        if self._checkpointer is not None:
            self._checkpointer.last_write = time.monotonic()
        with self._write_lock:
            try:
                with self._transaction(connection):
                    self._apply(connection, ops)
            except BaseException:
                self._reload_records()
                raise

    def check_and_append(self, op: AppendRows) -> Appended:
        """Store a batch after checking, in the same transaction, its batch id, its columns
        against the stored schema and (unless ANY_SEQ) where the stream ends; see
        `Backend.check_and_append`. Not to be mixed with the journal on one stream: the
        journal's rows are numbered by the hub, these by the store."""
        connection = self._writer
        assert connection is not None, "a read-only store cannot be written"
        with self._write_lock:
            try:
                with self._transaction(connection):
                    return self._check_and_append(connection, op)
            except BaseException:
                self._reload_records()
                raise

    def _check_and_append(self, connection: sqlite3.Connection, op: AppendRows) -> Appended:
        record = self._streams.get((op.run, op.stream))
        if record is not None and op.batch_id:
            stored = connection.execute(
                "SELECT seq FROM batches WHERE stream_id=? AND batch=?", (record.id, op.batch_id)
            ).fetchone()
            if stored is not None:
                return Appended("duplicate", stored[0] - op.rows, stored[0])
        next_seq = record.next_seq if record is not None else max(op.seq, 0)
        if op.seq != ANY_SEQ and op.seq != next_seq:
            return Appended("moved", next_seq, next_seq)
        generation = record.generation if record is not None else 0
        if op.mode == "replace":
            generation += 1
        elif record is not None:
            conflict = _conflict(record.columns, _codes(op))
            if conflict is not None:
                name, old, new = conflict
                raise StreamError(
                    f"run '{op.run}', stream '{op.stream}', column '{name}': the store holds "
                    f"{old} values, the batch has {new}; nothing was stored"
                )
        self._apply(connection, [replace(op, seq=next_seq, generation=generation)])
        return Appended("stored", next_seq, next_seq + op.rows)

    def _apply(self, connection: sqlite3.Connection, ops: Sequence[Op]) -> None:
        """Write `ops` inside the caller's transaction."""
        pending: dict[tuple[str, str], _Pending] = {}
        touched: set[tuple[str, str]] = set()
        for op in ops:
            if isinstance(op, AppendRows | AppendRow):
                key = (op.run, op.stream)
                record = self._record(connection, op)
                touched.add(key)
                if isinstance(op, AppendRows) and op.mode == "replace":
                    pending.pop(key, None)
                    self._drop_rows(connection, record, op.seq)
                    record.mode = "replace"
                    record.generation = op.generation
                elif isinstance(op, AppendRows):
                    record.mode = "append"
                if op.rows == 0:  # an empty replace: the stream is now empty
                    continue
                codes = _codes(op)
                waiting = pending.get(key)
                if waiting is not None and (
                    waiting.codes != codes
                    or waiting.next_seq != op.seq
                    or waiting.rows + len(waiting.row_dicts) >= SEGMENT_ROWS
                ):
                    self._write_segment(connection, record, pending.pop(key))
                    waiting = None
                if waiting is None:
                    waiting = pending[key] = _Pending(op.seq, codes)
                waiting.add(op)
                self._merge_columns(record, codes)
                record.next_seq = max(record.next_seq, op.seq + op.rows)
                record.updated = max(record.updated, self._newest(op))
                if isinstance(op, AppendRows) and op.batch_id:
                    connection.execute(
                        "INSERT OR IGNORE INTO batches(stream_id, batch, seq) VALUES (?, ?, ?)",
                        (record.id, op.batch_id, op.seq + op.rows),
                    )
            elif isinstance(op, ClearStream):
                key = (op.run, op.stream)
                cleared = self._streams.get(key)
                pending.pop(key, None)
                if cleared is not None:
                    self._drop_rows(connection, cleared, op.next_seq)
                    cleared.generation = op.generation
                    cleared.columns = {}
                    touched.add(key)
            elif isinstance(op, DeleteRun):
                for stream_key in [k for k in pending if k[0] == op.run]:
                    del pending[stream_key]
                touched -= {k for k in touched if k[0] == op.run}
                self._delete_run(connection, op.run)
                self._count_layout_change(connection)
            elif isinstance(op, SetLayout):
                self._ensure_run(connection, op.run, time.time_ns())
                connection.execute(
                    "UPDATE runs SET layout=? WHERE run=?", (json.dumps(op.layout), op.run)
                )
                self._count_layout_change(connection)
            elif isinstance(op, SetAttributes):
                self._set_attributes(connection, op)
        for key, waiting in pending.items():
            self._write_segment(connection, self._streams[key], waiting)
        for key in touched:
            self._save_record(connection, self._streams[key])

    @staticmethod
    def _newest(op: AppendRows | AppendRow) -> int:
        times = op.time if isinstance(op, AppendRow) else op.times
        if isinstance(times, np.ndarray):
            return int(times.max()) if len(times) else 0
        return int(times or 0)

    @staticmethod
    def _count_layout_change(connection: sqlite3.Connection) -> None:
        """Move the layout version other processes poll (see `layout_version`)."""
        connection.execute(
            "INSERT INTO meta VALUES ('layouts', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    @staticmethod
    def _merge_columns(record: StreamRecord, codes: dict[str, str]) -> None:
        for name, code in codes.items():
            old = record.columns.get(name)
            merged = code if old is None else merged_code(old, code)
            if merged is not None:  # numbers widen like the ring does
                record.columns[name] = merged

    def _set_attributes(self, connection: sqlite3.Connection, op: SetAttributes) -> None:
        """Merge checked attribute changes into the run's rows (None: delete the key)."""
        self._ensure_run(connection, op.run, time.time_ns())
        for key, value in op.changes.items():
            if value is None:
                connection.execute(
                    "DELETE FROM run_attributes WHERE run=? AND key=?", (op.run, key)
                )
            else:
                connection.execute(
                    "INSERT INTO run_attributes VALUES (?, ?, ?) ON CONFLICT(run, key) "
                    "DO UPDATE SET value=excluded.value",
                    (op.run, key, json.dumps(value)),
                )

    def _ensure_run(self, connection: sqlite3.Connection, run: str, now: int) -> None:
        connection.execute("INSERT OR IGNORE INTO runs(run, created) VALUES (?, ?)", (run, now))

    def _record(self, connection: sqlite3.Connection, op: AppendRows | AppendRow) -> StreamRecord:
        key = (op.run, op.stream)
        record = self._streams.get(key)
        if record is None:
            now = self._newest(op) or time.time_ns()
            mode, generation = (
                (op.mode, op.generation) if isinstance(op, AppendRows) else ("append", 0)
            )
            self._ensure_run(connection, op.run, now)
            cursor = connection.execute(
                "INSERT INTO streams(run, stream, mode, generation, columns, first_seq, "
                "next_seq, rows, bytes, created, updated) VALUES (?,?,?,?,?,?,?,0,0,?,?)",
                (op.run, op.stream, mode, generation, "{}", op.seq, op.seq, now, now),
            )
            record = StreamRecord(
                cursor.lastrowid or 0, op.run, op.stream, mode, generation, {},
                op.seq, op.seq, 0, 0, now, now,
            )  # fmt: skip
            self._streams[key] = record
        return record

    def _write_segment(
        self, connection: sqlite3.Connection, record: StreamRecord, waiting: _Pending
    ) -> None:
        rows, newest, blob = waiting.blob()
        if rows == 0:
            return  # never store an empty segment: it would claim a seq the next one needs
        connection.execute(
            "INSERT INTO segments(stream_id, first_seq, rows, written, data) VALUES (?,?,?,?,?)",
            (record.id, waiting.first_seq, rows, newest, blob),
        )
        record.rows += rows
        record.bytes += len(blob)

    def _drop_rows(self, connection: sqlite3.Connection, record: StreamRecord, seq: int) -> None:
        """Forget every stored row of a stream (replace, clear); numbering goes on at seq."""
        connection.execute("DELETE FROM segments WHERE stream_id=?", (record.id,))
        record.rows = record.bytes = 0
        record.first_seq = record.next_seq = seq

    def _save_record(self, connection: sqlite3.Connection, record: StreamRecord) -> None:
        connection.execute(
            "UPDATE streams SET mode=?, generation=?, columns=?, first_seq=?, next_seq=?, "
            "rows=?, bytes=?, updated=? WHERE id=?",
            (
                record.mode, record.generation, json.dumps(record.columns), record.first_seq,
                record.next_seq, record.rows, record.bytes, record.updated, record.id,
            ),
        )  # fmt: skip

    def _delete_run(self, connection: sqlite3.Connection, run: str) -> None:
        ids = [r.id for k, r in self._streams.items() if k[0] == run]
        for stream_id in ids:
            connection.execute("DELETE FROM segments WHERE stream_id=?", (stream_id,))
            connection.execute("DELETE FROM batches WHERE stream_id=?", (stream_id,))
        connection.execute("DELETE FROM streams WHERE run=?", (run,))
        connection.execute("DELETE FROM runs WHERE run=?", (run,))
        connection.execute("DELETE FROM run_attributes WHERE run=?", (run,))
        for key in [k for k in self._streams if k[0] == run]:
            del self._streams[key]

    # -- retention (the journal's thread, between commits) ------------------------------------
    def claim(self, name: str, seconds: float) -> bool:
        """Always granted: this process is the file's only writer (see Backend.claim)."""
        return True

    def remember(self, name: str, value: str | None = None) -> str | None:
        """Nothing to hand over: no other process takes a lease of this file's writer."""
        return None

    def maintain(self) -> None:
        """Apply the retention limits, merge small segments and forget old batch ids, in
        short transactions."""
        connection = self._writer
        if connection is None:
            return
        with self._write_lock:
            try:
                self._maintain(connection)
            except BaseException:
                self._reload_records()
                raise

    def _maintain(self, connection: sqlite3.Connection) -> None:
        policy = self.retention
        now = time.time_ns()
        for record in list(self._streams.values()):
            if policy.rows is not None and record.rows > policy.rows:
                self._drop_before(connection, record, record.next_seq - policy.rows, None)
            if policy.age is not None:
                self._drop_before(connection, record, None, now - int(policy.age * 1e9))
        if policy.bytes is not None:
            self._shrink_to(connection, policy.bytes)
        for record in list(self._streams.values()):
            if compact(connection, record, self._transaction):
                with self._transaction(connection):
                    self._recount(connection, record)
        with self._transaction(connection):
            connection.execute(
                "DELETE FROM batches WHERE id <= (SELECT max(id) FROM batches) - ?",
                (KEEP_BATCH_IDS,),
            )
        connection.execute("PRAGMA incremental_vacuum(2000)")

    def _drop_before(
        self,
        connection: sqlite3.Connection,
        record: StreamRecord,
        seq: int | None,
        written: int | None,
    ) -> None:
        """Delete whole segments ending at or before `seq`, or written before `written`."""
        with self._transaction(connection):
            if seq is not None:
                connection.execute(
                    "DELETE FROM segments WHERE stream_id=? AND first_seq + rows <= ?",
                    (record.id, seq),
                )
            else:
                connection.execute(
                    "DELETE FROM segments WHERE stream_id=? AND written < ?", (record.id, written)
                )
            self._recount(connection, record)

    def _recount(self, connection: sqlite3.Connection, record: StreamRecord) -> None:
        first, rows, size = connection.execute(
            "SELECT min(first_seq), coalesce(sum(rows), 0), coalesce(sum(length(data)), 0) "
            "FROM segments WHERE stream_id=?",
            (record.id,),
        ).fetchone()
        record.first_seq = record.next_seq if first is None else first
        record.rows, record.bytes = rows, size
        self._save_record(connection, record)

    def _shrink_to(self, connection: sqlite3.Connection, limit: int) -> None:
        total = sum(r.bytes for r in self._streams.values())
        by_id = {r.id: r for r in self._streams.values()}
        while total > limit:
            oldest = connection.execute(
                "SELECT id, stream_id, length(data) FROM segments ORDER BY written LIMIT 200"
            ).fetchall()
            if not oldest:
                return
            doomed, touched = [], set()
            for segment_id, stream_id, size in oldest:
                if total <= limit:
                    break
                doomed.append((segment_id,))
                touched.add(stream_id)
                total -= size
            with self._transaction(connection):
                connection.executemany("DELETE FROM segments WHERE id=?", doomed)
                for stream_id in touched:
                    self._recount(connection, by_id[stream_id])

    # -- reading (any thread) ---------------------------------------------------------------
    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        assert self._reader is not None, "the store is closed"
        with self._read_lock:
            return self._reader.execute(sql, parameters).fetchall()

    def streams(self, run: str | None = None) -> list[StreamRecord]:
        """Every stored stream (of one run), by run then name."""
        rows = self._query(
            "SELECT id, run, stream, mode, generation, columns, first_seq, next_seq, rows, "
            "bytes, created, updated FROM streams"
            + (" WHERE run=?" if run is not None else "")
            + " ORDER BY run, stream",
            (run,) if run is not None else (),
        )
        return [_record(row) for row in rows]

    @property
    def location(self) -> str:
        """The file's path, as given."""
        return str(self.path)

    def runs(self) -> list[RunSummary]:
        """Each run: start, last write (ns), streams and stored rows."""
        rows = self._query(
            "SELECT runs.run, runs.created, max(streams.updated), count(streams.id), "
            "coalesce(sum(streams.rows), 0), runs.layout IS NOT NULL FROM runs "
            "LEFT JOIN streams ON streams.run = runs.run GROUP BY runs.run ORDER BY runs.run"
        )
        return [
            RunSummary(
                run=run,
                created=created,
                updated=updated or created,
                streams=streams,
                rows=rows_stored,
                layout=bool(has_layout),
            )
            for run, created, updated, streams, rows_stored, has_layout in rows
        ]

    def layouts(self) -> dict[str, Any]:
        """Layouts sent by producers (PUT .../layout), as the dicts they were stored as."""
        rows = self._query("SELECT run, layout FROM runs WHERE layout IS NOT NULL")
        return {run: json.loads(text) for run, text in rows}

    def layout_version(self) -> int:
        """Grows with every stored layout change; 0 for a file that never had one."""
        rows = self._query("SELECT value FROM meta WHERE key='layouts'")
        return int(rows[0][0]) if rows else 0

    def attributes(self, run: str | None = None) -> dict[str, dict[str, Any]]:
        """Runs' attributes by run, as stored; a file from before format 3, opened
        read-only (not migrated), has none."""
        where, parameters = (" WHERE run=?", (run,)) if run is not None else ("", ())
        try:
            sql = f"SELECT run, key, value FROM run_attributes{where} ORDER BY rowid"
            rows = self._query(sql, parameters)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise
        found: dict[str, dict[str, Any]] = {}
        for name, key, value in rows:
            found.setdefault(name, {})[key] = json.loads(value)
        return found

    def segments(
        self, record: StreamRecord, since: int = 0, until: int | None = None
    ) -> Iterator[Segment]:
        """(first seq, batch, times) of each stored segment holding rows >= `since` (and
        rows < `until` when given)."""
        rows = self._query(
            "SELECT first_seq, rows, data FROM segments WHERE stream_id=? AND "
            "first_seq + rows > ? AND first_seq < ? ORDER BY first_seq",
            (record.id, since, 2**63 - 1 if until is None else until),
        )
        for first_seq, count, blob in rows:
            try:
                batch, times = decode(blob)
            except CorruptSegment as exc:
                self._report_damage(record, first_seq, count, str(exc))
                continue  # a damaged segment costs its own rows, not the stream
            yield Segment(first_seq, batch, times)

    def pick(
        self,
        record: StreamRecord,
        starts: np.ndarray,
        stops: np.ndarray,
        columns: Sequence[str],
        arrival: bool,
    ) -> Picked:
        """The stored rows of short ranges (see StoreReads.pick): the segments holding them
        listed in one query, then of each only its header and the byte ranges of the asked
        rows, read with SQLite's incremental blob I/O (store/pick.py), in one read
        transaction."""
        starts = np.asarray(starts, dtype=np.int64)
        stops = np.maximum(np.asarray(stops, dtype=np.int64), starts)
        with self._read_lock:
            connection = self._picking()
            connection.execute("BEGIN")
            try:
                listed = self._holding(connection, record, starts, stops)
                opener = partial(self._blob, connection)
                try:
                    found, damaged = pick(listed, opener, starts, stops, columns, arrival)
                except Miscounted:  # a gap the stream's counts did not show: stored counts
                    listed = self._holding(connection, record, starts, stops, counted=True)
                    found, damaged = pick(listed, opener, starts, stops, columns, arrival)
            finally:
                connection.execute("COMMIT")
        for first_seq, rows, why in damaged:  # a damaged segment costs its own rows
            self._report_damage(record, first_seq, rows, why)
        return found

    def _picking(self) -> sqlite3.Connection:
        """The connection picks read through, opened on the first: like the reader, but
        reading the file through a memory map (PICK_MMAP), which makes a small read of a
        blob several times cheaper than copying its pages in. Only picks use it, so only
        the pages they touch are mapped (replay and export, which read every row, do not)."""
        if self._picker is None:
            assert self._reader is not None, "the store is closed"
            if self.readonly:
                self._picker = self._connect(f"file:{self.path}?mode=ro", uri=True)
            else:
                self._picker = self._connect(str(self.path))
            self._picker.execute(f"PRAGMA mmap_size={PICK_MMAP}")
        return self._picker

    @staticmethod
    def _blob(connection: sqlite3.Connection, segment_id: int) -> sqlite3.Blob:
        """A segment's blob, open for byte-range reads."""
        return connection.blobopen("segments", "data", segment_id, readonly=True)

    @staticmethod
    def _holding(
        connection: sqlite3.Connection,
        record: StreamRecord,
        starts: np.ndarray,
        stops: np.ndarray,
        counted: bool = False,
    ) -> Segments:
        """The segments from the one holding the first asked row (the newest starting at or
        before it) to the one holding the last. When the stream's segments leave no gap (its
        stored rows span first to next seq, the usual case) each one's row count is read off
        the next one's first seq, so only the (stream, seq) index is read; else, or when
        `counted`, from the table too (some ms more per thousand segments)."""
        found = connection.execute(
            "SELECT first_seq, next_seq, rows FROM streams WHERE id = ?", (record.id,)
        ).fetchone()
        asked = stops > starts
        if found is None or not asked.any():
            return Segments([], np.empty(0, np.int64), np.empty(0, np.int64))
        first, end, rows = found
        where = (
            "FROM segments WHERE stream_id = ?1 AND first_seq >= coalesce((SELECT "
            "max(first_seq) FROM segments WHERE stream_id = ?1 AND first_seq <= ?2), ?2) AND "
            "first_seq < ?3 ORDER BY first_seq"
        )
        bounds = (record.id, int(starts[asked][0]), int(stops[asked][-1]))
        if counted or rows != end - first:
            listed = connection.execute(f"SELECT id, first_seq, rows {where}", bounds).fetchall()
            table = np.array(listed, dtype=np.int64).reshape(-1, 3)
            return Segments(table[:, 0].tolist(), table[:, 1], table[:, 2])
        listed = connection.execute(f"SELECT id, first_seq {where}", bounds).fetchall()
        if not listed:
            return Segments([], np.empty(0, np.int64), np.empty(0, np.int64))
        table = np.array(listed, dtype=np.int64).reshape(-1, 2)
        after = connection.execute(
            "SELECT min(first_seq) FROM segments WHERE stream_id = ? AND first_seq >= ?",
            (record.id, bounds[2]),
        ).fetchone()[0]
        ends = np.append(table[1:, 1], end if after is None else after)
        return Segments(table[:, 0].tolist(), table[:, 1], ends - table[:, 1], inferred=True)

    def follow(
        self, run: str, stream: str, generation: int, since: int, limit: int | None = None
    ) -> Followed | None:
        """Rows a follower has not read (see StoreReads.follow): a range read from the
        stream's record, cut at `since` (or the newest `limit`)."""
        return follow_by_segments(self, run, stream, generation, since, limit)

    def _report_damage(self, record: StreamRecord, first_seq: int, rows: int, why: str) -> None:
        damage = Damage(record.run, record.stream, first_seq, rows, why)
        if damage not in self.damaged:
            self.damaged.append(damage)
            log.error(
                "store %s: run '%s', stream '%s', rows %d to %d are damaged and skipped: %s",
                self.path, record.run, record.stream, first_seq, first_seq + rows - 1, why,
            )  # fmt: skip

    def batch_ids(self, limit: int = KEEP_BATCH_IDS) -> list[BatchId]:
        """The newest producer batch ids: (run, stream, batch id, seq after it)."""
        rows = self._query(
            "SELECT streams.run, streams.stream, batches.batch, batches.seq FROM batches "
            "JOIN streams ON streams.id = batches.stream_id ORDER BY batches.id DESC LIMIT ?",
            (limit,),
        )
        return [BatchId(*row) for row in reversed(rows)]

    def integrity(self) -> str:
        """SQLite's own check of the file: 'ok' when sound."""
        return "; ".join(row[0] for row in self._query("PRAGMA integrity_check"))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        for connection in (self._writer, self._reader, self._picker):
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
        self._writer = self._reader = self._picker = None
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None
