"""The Redis Streams backend: one store that several server processes (and machines) write
and read at once (docs/scale-out.md).

Each (run, stream) is a Redis stream of entries, one per stored batch, holding the same
columnar blob as a SQLite segment (store/codec.py), plus a hash of what the store knows
about it (schema, generation, first and next seq). Both keys share a hash tag, so a stream
stays on one node of a Redis Cluster. The store, not a process, numbers rows: an append is
checked (batch id, schema) and written in one optimistic transaction (WATCH/MULTI on the
stream's hash), so two processes racing the first write of a stream end with one schema.
An entry's id is `first_seq + 1` (plus a counter for a clear or replace at the same seq), so
range reads by row number are ranges of entry ids.

    sv:streams               hash "run/stream" -> created (ns): every stream
    sv:runs                  hash run -> created (ns)
    sv:layouts               hash run -> layout JSON; sv:layout_version counts changes
    sv:attributes:<run>      hash key -> value JSON: the run's attributes
    sv:events                stream of catalog changes: a new stream, a layout, attributes,
                             a deleted run
    sv:{run/stream}:meta     hash: columns, mode, generation, first/next seq, rows, bytes...
    sv:{run/stream}:log      stream: one entry per batch (o: a|r|c, g, s, n, t, d: blob)
    sv:{run/stream}:b:<id>   a producer batch id already stored (expires after BATCH_DAYS)

Processes follow the entries into their own hubs (store/redis_follow.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

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
from streamvis.errors import StoreError, StreamError
from streamvis.store.codec import CorruptSegment, decode, dtype_code, encode, merged_code
from streamvis.store.pick import Segments, pick
from streamvis.store.redis_cluster import (
    CLUSTER_SCHEMES,
    check_kind,
    client_for,
    is_cluster_url,
)
from streamvis.store.sqlite import Retention

log = logging.getLogger("streamvis")
FORMAT = b"1"  # bump when the key layout changes
BATCH_DAYS = 7  # how long a producer batch id is remembered (a retry comes within seconds)
EVENTS_KEPT = 100_000  # catalog changes kept in sv:events (followers read them at once)
PAGE_ENTRIES = 512  # entries per range read
ENTRY_ROWS = 65_536  # queued appends to one stream merge into entries of at most this size
SOCKET_SECONDS = 5.0  # a Redis that does not answer within this is "unavailable"
EntryKind = Literal["append", "replace", "clear"]
_KINDS: dict[bytes, EntryKind] = {b"a": "append", b"r": "replace", b"c": "clear"}


# renew the lease if this process holds it, else take it if nobody does (one atomic step)
_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


# an append, atomically: refused ('stale') when the stream's hash is not the one the write
# was planned from, or ('dup') when a batch id is stored already; else the hash, the entry,
# the trim of a replace and each batch id's end. ARGV: expected v, entry id, replace (0/1),
# batch id lifetime (s), n, n hash fields and values, m, m entry fields and values, ends.
_APPEND = """
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return 'stale' end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'dup' end
end
local at = 6
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, at, at + n - 1))
at = at + n
local m = tonumber(ARGV[at])
redis.call('XADD', KEYS[2], ARGV[2], unpack(ARGV, at + 1, at + m))
at = at + m + 1
if ARGV[3] == '1' then redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2]) end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[at], 'EX', ARGV[4])
  at = at + 1
end
return 'ok'
"""


def is_redis_url(text: object) -> bool:
    """True for a `redis://`, `rediss://`, `unix://` or cluster store address."""
    return isinstance(text, str) and text.split("://", 1)[0].lower() in (
        "redis",
        "rediss",
        "unix",
        *CLUSTER_SCHEMES,
    )


def shown_url(url: str) -> str:
    """The URL for messages and logs, its password replaced by '***'."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    hosts = parts.netloc.rpartition("@")[2]  # as written: a cluster address may list several
    netloc = f"{parts.username or ''}:***@{hosts}"
    return urlunsplit(parts._replace(netloc=netloc))


def _int(value: bytes | None, default: int = 0) -> int:
    return int(value) if value is not None else default


def _entry_seq(entry_id: bytes) -> int:
    """The first seq an entry holds rows from (its id's first part, less one)."""
    return int(entry_id.split(b"-", 1)[0]) - 1


class Entry:
    """One decoded entry of a stream's log: a batch of rows, a clear or a replace."""

    __slots__ = ("batch", "first_seq", "generation", "id", "kind", "newest", "rows", "times")

    def __init__(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        self.id = entry_id
        self.kind: EntryKind = _KINDS.get(fields.get(b"o", b"a"), "append")
        self.generation = _int(fields.get(b"g"))
        self.first_seq = _int(fields.get(b"s"))
        self.rows = _int(fields.get(b"n"))
        self.newest = _int(fields.get(b"t"))
        blob = fields.get(b"d")
        self.batch: dict[str, np.ndarray] = {}
        self.times = np.empty(0, np.int64)
        if blob:
            self.batch, self.times = decode(blob)


def _joins(group: list[AppendRows], op: Op) -> bool:
    """Whether `op` can share the group's entry: an append to the same stream with the same
    columns and types, while the entry stays under ENTRY_ROWS rows."""
    first = group[0]
    if not isinstance(op, AppendRows) or op.mode != "append" or first.mode != "append":
        return False
    if (op.run, op.stream) != (
        first.run,
        first.stream,
    ) or op.columns.keys() != first.columns.keys():
        return False
    if any(op.columns[name].dtype != values.dtype for name, values in first.columns.items()):
        return False
    return sum(one.rows for one in group) + op.rows <= ENTRY_ROWS


def _joined(group: list[AppendRows]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The group's columns and arrival times (one per row), concatenated."""
    times = [
        np.full(one.rows, one.times, np.int64) if isinstance(one.times, int) else one.times
        for one in group
    ]
    if len(group) == 1:
        return dict(group[0].columns), np.asarray(times[0], np.int64)
    names = group[0].columns.keys()
    batch = {name: np.concatenate([one.columns[name] for one in group]) for name in names}
    return batch, np.concatenate(times).astype(np.int64, copy=False)


class _Bytes:
    """A blob already in memory, for `pick`'s byte-range reads (Redis has no partial
    reads of an entry: a pick decodes the entries it touches from their bytes)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def __len__(self) -> int:
        return len(self._data)

    def seek(self, offset: int, origin: int = 0, /) -> None:
        self._at = offset if origin == 0 else self._at + offset

    def read(self, length: int = -1, /) -> bytes:
        end = len(self._data) if length < 0 else self._at + length
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk

    def close(self) -> None:
        self._data = b""


def connect(url: str) -> Any:
    """A Redis client for `url`, checked with a PING: a StoreError naming the URL and what
    went wrong (no client library, unreachable, refused password, not Redis)."""
    try:
        import redis
    except ImportError:
        raise StoreError(
            f"{shown_url(url)}: the Redis store needs the redis package "
            "(pip install 'streamvis[redis]')"
        ) from None
    try:
        client = client_for(url, shown_url(url), SOCKET_SECONDS, SOCKET_SECONDS)
        client.ping()
        check_kind(client, url, shown_url(url))
    except redis.AuthenticationError as exc:
        raise StoreError(f"{shown_url(url)}: Redis refused the credentials ({exc})") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreError(f"{shown_url(url)}: cannot reach Redis ({exc})") from None
    except (redis.RedisError, ValueError) as exc:
        message = str(exc)
        if "NOAUTH" in message or "WRONGPASS" in message:
            message = f"Redis refused the credentials ({message})"
        raise StoreError(f"{shown_url(url)}: {message}") from None
    except redis.exceptions.RedisClusterException as exc:  # no node answered the slot map
        raise StoreError(f"{shown_url(url)}: no usable Redis Cluster ({exc})") from None
    return client


class RedisStore:
    """A store in Redis that several processes share (see the module's docstring).
    `commit` is called by one journal thread per process; reads come from any thread."""

    shared = True  # rows are numbered here; hubs get them from a follower

    def __init__(
        self, url: str, *, retention: Retention | None = None, prefix: str = "sv"
    ) -> None:
        self.url = url
        self.cluster = is_cluster_url(url)  # a Redis Cluster: followed key by key
        self.prefix = prefix
        self.retention = retention or Retention()
        if self.retention.bytes is not None:
            raise StoreError(
                f"{shown_url(url)}: a byte limit (--keep-bytes) is for SQLite files; on Redis "
                "keep rows (--keep-rows) or seconds (--keep-seconds), or set Redis's maxmemory"
            )
        self.damaged: list[Damage] = []
        self._client: Any = connect(url)  # redis.Redis; its replies are untyped unions
        self._lock = threading.Lock()
        self._announced: set[tuple[str, str]] = set()
        self.follower: Any = None  # this process's follower (store/redis_follow.py), if any
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._metas: dict[tuple[str, str], dict[bytes, bytes]] = {}  # streams' hashes as written
        self._append_script = self._client.register_script(_APPEND)
        try:
            stored = self._client.get(self._key("format"))
            if stored is None:
                self._client.setnx(self._key("format"), FORMAT)
            elif stored != FORMAT:
                raise StoreError(
                    f"{self.location}: holds streamvis Redis format {stored.decode()!r}; this "
                    f"streamvis reads format {FORMAT.decode()!r}"
                )
        except BaseException:
            self._client.close()
            raise

    # -- keys ------------------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def _stream_key(self, run: str, stream: str, part: str) -> str:
        return f"{self.prefix}:{{{run}/{stream}}}:{part}"

    @property
    def location(self) -> str:
        return shown_url(self.url)

    @property
    def client(self) -> Any:
        """The connection, for this package's follower (store/redis_follow.py)."""
        return self._client

    def log_key(self, run: str, stream: str) -> str:
        """The Redis stream holding the stream's entries."""
        return self._stream_key(run, stream, "log")

    @property
    def events_key(self) -> str:
        return self._key("events")

    # -- writes ----------------------------------------------------------------------------------
    def transient(self, error: BaseException) -> bool:
        """Connection trouble passes (the journal keeps the changes and retries); a refused
        change (a schema conflict) never will."""
        import redis

        return (
            isinstance(
                error,
                redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError | OSError,
            )
            or isinstance(error, redis.exceptions.ClusterError | redis.exceptions.TryAgainError)
            or "READONLY" in str(error)
            or "LOADING" in str(error)
        )

    def commit(self, ops: Sequence[Op]) -> None:
        """Apply `ops` in order; consecutive appends to a stream with the same columns become
        one entry (one transaction). Each append carries a batch id (the hub gives one to
        every change of a shared store), so when a failure cuts this short and the journal
        tries again, the appends already stored are skipped, not stored twice."""
        index = 0
        while index < len(ops):
            op = ops[index]
            index += 1
            if isinstance(op, AppendRows):
                group = [op]
                while index < len(ops) and _joins(group, ops[index]):
                    group.append(ops[index])  # type: ignore[arg-type]
                    index += 1
                self._append(group)
            elif isinstance(op, AppendRow):  # only from a hub that numbers its own rows
                raise StoreError("a shared Redis store takes rows numbered by itself")
            elif isinstance(op, ClearStream):
                self._clear(op.run, op.stream)
            elif isinstance(op, DeleteRun):
                self._delete_run(op.run)
            elif isinstance(op, SetLayout):
                self._set_layout(op.run, op.layout)
            elif isinstance(op, SetAttributes):
                self._set_attributes(op)

    def check_and_append(self, op: AppendRows) -> Appended:
        return self._append([op])

    def _announce(self, run: str, stream: str) -> None:
        """Put a stream in the catalog (and tell followers) before its first entry."""
        if (run, stream) in self._announced:
            return
        now = time.time_ns()
        pipe = self._client.pipeline(transaction=False)
        pipe.hsetnx(self._key("runs"), run, now)
        pipe.hsetnx(self._key("streams"), f"{run}/{stream}", now)
        _, new = pipe.execute()
        if new:
            self._event("stream", run, stream)
        self._announced.add((run, stream))

    def _event(self, kind: str, run: str, stream: str = "") -> None:
        self._client.xadd(
            self.events_key,
            {"k": kind, "run": run, "stream": stream},
            maxlen=EVENTS_KEPT,
            approximate=True,
        )

    @staticmethod
    def _next_id(meta: dict[bytes, bytes], seq: int) -> str:
        """The id of an entry whose rows start at `seq`: `seq + 1`, and a counter above the
        last entry's when that one started at the same seq (a clear, then rows)."""
        last = meta.get(b"last_id")
        first = seq + 1
        if last is not None:
            last_ms, last_part = (int(part) for part in last.split(b"-"))
            if last_ms >= first:
                return f"{last_ms}-{last_part + 1}"
        return f"{first}-0"

    def _append(self, group: list[AppendRows]) -> Appended:
        """Store a group of appends to one stream (or one replace) as one entry, in one
        atomic step (a script: one round trip): the ops whose batch id is stored already are
        dropped; the rest are checked against the stream's schema and numbered from where
        it ends. The stream's hash is planned from this process's copy of it; the script
        refuses the write when the hash changed since (its `v`), and the plan is made again
        from a fresh read."""
        op = group[0]
        where = (op.run, op.stream)
        self._announce(op.run, op.stream)
        meta_key = self._stream_key(op.run, op.stream, "meta")
        log_key = self._stream_key(op.run, op.stream, "log")
        fresh = list(group)
        meta = self._metas.get(where)
        if meta is None:
            meta = self._client.hgetall(meta_key)
        while True:
            rows = sum(one.rows for one in fresh)
            batch, times = _joined(fresh)
            codes = {name: dtype_code(values.dtype) for name, values in batch.items()}
            try:
                outcome = self._plan_append(op, meta, codes)
            except StreamError:
                if where not in self._metas:
                    raise  # planned from a fresh read: the refusal stands
                outcome = None
            refused = outcome is None or isinstance(outcome, Appended)
            if refused and where in self._metas:  # maybe only this copy is old: read, replan
                del self._metas[where]
                meta = self._client.hgetall(meta_key)
                continue
            if isinstance(outcome, Appended):
                return outcome
            assert outcome is not None  # a refusal planned from a fresh read was raised
            first_seq, generation, columns = outcome
            blob = encode(batch, times) if rows else b""
            newest = int(times.max()) if len(times) else time.time_ns()
            entry_id = self._next_id(meta, first_seq)
            replace = op.mode == "replace"
            now = time.time_ns()
            written = {
                "run": op.run,
                "stream": op.stream,
                "columns": json.dumps(columns),
                "mode": op.mode,
                "generation": generation,
                "first_seq": first_seq if replace else _int(meta.get(b"first_seq")),
                "next_seq": first_seq + rows,
                "rows": (0 if replace else _int(meta.get(b"rows"))) + rows,
                "bytes": (0 if replace else _int(meta.get(b"bytes"))) + len(blob),
                "created": _int(meta.get(b"created"), now),
                "updated": max(newest, _int(meta.get(b"updated"))),
                "last_id": entry_id,
                "v": uuid.uuid4().hex[:12],
            }
            entry = {"o": "r" if replace else "a", "g": generation, "s": first_seq, "n": rows}
            entry.update({"t": newest})
            named = [one for one in fresh if one.batch_id]
            ends = list(itertools.accumulate(one.rows for one in fresh))
            ends_of_named = [
                first_seq + end for one, end in zip(fresh, ends, strict=True) if one.batch_id
            ]
            args: list[Any] = [meta.get(b"v", b"").decode(), entry_id, int(replace)]
            args += [BATCH_DAYS * 86_400, 2 * len(written)]
            args += [part for pair in written.items() for part in pair]
            args += [2 * len(entry) + 2]
            args += [part for pair in entry.items() for part in pair] + ["d", blob]
            args += ends_of_named
            keys = [meta_key, log_key, *(self._batch_key(one) for one in named)]
            answer = self._append_script(keys=keys, args=args)
            if answer == b"stale":
                self._metas.pop(where, None)
                meta = self._client.hgetall(meta_key)
                continue
            if answer == b"dup":  # some batch ids are stored already: leave those out
                stored = self._client.execute_command("MGET", *keys[2:])
                seen = {one.batch_id for one, at in zip(named, stored, strict=True) if at}
                fresh = [one for one in fresh if one.batch_id not in seen]
                if not fresh:
                    next_seq = int(max(int(at) for at in stored if at))
                    return Appended("duplicate", next_seq - group[-1].rows, next_seq)
                continue
            self._metas[where] = {k.encode(): str(v).encode() for k, v in written.items()}
            return Appended("stored", first_seq, first_seq + rows)

    def _batch_key(self, op: AppendRows) -> str:
        """Where a batch id is remembered; an op without one (check_and_append's callers
        may send none) gets a key that never exists."""
        name = op.batch_id or f"~none-{id(op)}-{time.monotonic_ns()}"
        return self._stream_key(op.run, op.stream, f"b:{name}")

    def _plan_append(
        self, op: AppendRows, meta: dict[bytes, bytes], codes: dict[str, str]
    ) -> tuple[int, int, dict[str, str]] | Appended:
        """Where the rows go, the stream's generation after them and its columns; an
        `Appended("moved")` when `op.seq` is not where the stream ends; a StreamError when a
        column's type conflicts with the stored one (nothing is written)."""
        next_seq = _int(meta.get(b"next_seq"))
        if op.seq != ANY_SEQ and op.seq != next_seq:
            return Appended("moved", next_seq, next_seq)
        generation = _int(meta.get(b"generation"))
        stored: dict[str, str] = json.loads(meta[b"columns"]) if b"columns" in meta else {}
        if op.mode == "replace":
            return next_seq, generation + 1, dict(codes)
        columns = dict(stored)
        for name, code in codes.items():
            old = stored.get(name)
            merged = code if old is None else merged_code(old, code)
            if merged is None:
                raise StreamError(
                    f"run '{op.run}', stream '{op.stream}', column '{name}': the store holds "
                    f"{old} values, the batch has {code}; nothing was stored",
                    run=op.run,
                    stream=op.stream,
                    column=name,
                )
            columns[name] = merged
        return next_seq, generation, columns

    def _clear(self, run: str, stream: str) -> None:
        """Drop a stream's rows (numbering goes on), as an entry followers see."""
        import redis

        meta_key = self._stream_key(run, stream, "meta")
        log_key = self._stream_key(run, stream, "log")
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(meta_key)
                    meta = pipe.hgetall(meta_key)
                    if not meta:
                        pipe.unwatch()
                        return
                    next_seq = _int(meta.get(b"next_seq"))
                    generation = _int(meta.get(b"generation")) + 1
                    entry_id = self._next_id(meta, next_seq)
                    pipe.multi()
                    pipe.hset(
                        meta_key,
                        mapping={
                            "columns": "{}",
                            "generation": generation,
                            "first_seq": next_seq,
                            "rows": 0,
                            "bytes": 0,
                            "updated": time.time_ns(),
                            "last_id": entry_id,
                            "v": uuid.uuid4().hex[:12],
                        },
                    )
                    fields = {"o": "c", "g": generation, "s": next_seq, "n": 0}
                    pipe.xadd(log_key, fields, id=entry_id)
                    pipe.xtrim(log_key, minid=entry_id, approximate=False)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def _delete_run(self, run: str) -> None:
        names = [key.decode() for key in self._client.hkeys(self._key("streams"))]
        streams = [name.split("/", 1)[1] for name in names if name.split("/", 1)[0] == run]
        for stream in streams:
            self._client.delete(
                self._stream_key(run, stream, "meta"), self._stream_key(run, stream, "log")
            )
            self._announced.discard((run, stream))
        pipe = self._client.pipeline(transaction=False)
        if streams:
            pipe.hdel(self._key("streams"), *[f"{run}/{stream}" for stream in streams])
        pipe.hdel(self._key("runs"), run)
        pipe.delete(self.attributes_key(run))
        pipe.hdel(self._key("layouts"), run)
        results = pipe.execute()
        if results[-1]:
            self._client.incr(self._key("layout_version"))
        self._event("delete", run)

    def _set_layout(self, run: str, layout: Any) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.hsetnx(self._key("runs"), run, time.time_ns())
        pipe.hset(self._key("layouts"), run, json.dumps(layout))
        pipe.incr(self._key("layout_version"))
        pipe.execute()
        self._event("layout", run)

    def attributes_key(self, run: str) -> str:
        """The hash of a run's attributes (key -> value JSON)."""
        return self._key(f"attributes:{run}")

    def _set_attributes(self, op: SetAttributes) -> None:
        """Merge checked changes into the run's hash, then tell every follower."""
        key = self.attributes_key(op.run)
        kept = {name: json.dumps(value) for name, value in op.changes.items() if value is not None}
        removed = [name for name, value in op.changes.items() if value is None]
        pipe = self._client.pipeline(transaction=False)
        pipe.hsetnx(self._key("runs"), op.run, time.time_ns())
        if kept:
            pipe.hset(key, mapping=kept)
        if removed:
            pipe.hdel(key, *removed)
        pipe.execute()
        self._event("attributes", op.run)

    def maintain(self) -> None:
        """Retention: trim each stream to its newest `rows` rows (and rows younger than
        `age` seconds) at an entry boundary: an entry holding a kept row is kept whole."""
        keep_rows, age = self.retention.rows, self.retention.age
        if keep_rows is None and age is None:
            return
        for record in self.streams():
            boundary = record.first_seq
            if keep_rows is not None:
                boundary = max(boundary, record.next_seq - keep_rows)
            log_key = self.log_key(record.run, record.stream)
            if age is not None:
                oldest = time.time_ns() - int(age * 1e9)
                for entry_id, fields in self._client.xrange(log_key, count=PAGE_ENTRIES):
                    if _int(fields.get(b"t")) >= oldest:
                        boundary = max(boundary, _entry_seq(entry_id))
                        break
                    boundary = max(boundary, _int(fields.get(b"s")) + _int(fields.get(b"n")))
            if boundary > record.first_seq:
                self._trim(record, boundary)

    def _trim(self, record: StreamRecord, boundary: int) -> None:
        """Drop the entries wholly before row `boundary`, and count what is left."""
        log_key = self.log_key(record.run, record.stream)
        holding = self._client.xrevrange(log_key, max=f"{boundary + 1}", count=1)
        if not holding:
            return
        entry_id, fields = holding[0]
        first = _int(fields.get(b"s"))
        if first + _int(fields.get(b"n")) <= boundary:  # wholly before: keep from the next
            first = boundary
            self._client.xtrim(log_key, minid=f"{boundary + 1}", approximate=False)
        else:
            self._client.xtrim(log_key, minid=entry_id.decode(), approximate=False)
        meta_key = self._stream_key(record.run, record.stream, "meta")
        rows = max(0, record.next_seq - first)
        stamp = uuid.uuid4().hex[:12]  # appends planned from an older copy must read it again
        self._client.hset(meta_key, mapping={"first_seq": first, "rows": rows, "v": stamp})

    def claim(self, name: str, seconds: float) -> bool:
        """Hold the lease `name` (a key with an expiry naming this process): renewed when
        this process holds it, taken when nobody does (see Backend.claim)."""
        held = self._client.eval(
            _CLAIM, 1, self._key(f"lease:{name}"), self._owner, max(1, int(seconds * 1000))
        )
        return bool(held)

    def remember(self, name: str, value: str | None = None) -> str | None:
        """A lease holder's note of where it stands (kept as long as the lease's data)."""
        key = self._key(f"lease:{name}:at")
        if value is not None:
            self._client.set(key, value)
            return value
        noted = self._client.get(key)
        return noted.decode() if noted is not None else None

    def forget_announced(self, run: str) -> None:
        """A run was deleted (by any process): its streams must be announced again."""
        self._announced = {pair for pair in self._announced if pair[0] != run}

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        self._client.close()

    # -- reads -----------------------------------------------------------------------------------
    def streams(self, run: str | None = None) -> list[StreamRecord]:
        names = sorted(key.decode() for key in self._client.hkeys(self._key("streams")))
        pairs = [tuple(name.split("/", 1)) for name in names]
        pairs = [(r, s) for r, s in pairs if run is None or r == run]
        pipe = self._client.pipeline(transaction=False)
        for r, s in pairs:
            pipe.hgetall(self._stream_key(r, s, "meta"))
        found = []
        for (r, s), meta in zip(pairs, pipe.execute(), strict=True):
            if not meta:
                continue  # announced, its first write not stored (yet)
            found.append(
                StreamRecord(
                    id=hash((r, s)) & (2**62 - 1),
                    run=r,
                    stream=s,
                    mode=meta.get(b"mode", b"append").decode(),
                    generation=_int(meta.get(b"generation")),
                    columns=json.loads(meta.get(b"columns", b"{}")),
                    first_seq=_int(meta.get(b"first_seq")),
                    next_seq=_int(meta.get(b"next_seq")),
                    rows=_int(meta.get(b"rows")),
                    bytes=_int(meta.get(b"bytes")),
                    created=_int(meta.get(b"created")),
                    updated=_int(meta.get(b"updated")),
                )
            )
        return found

    def runs(self) -> list[RunSummary]:
        created = {k.decode(): int(v) for k, v in self._client.hgetall(self._key("runs")).items()}
        with_layout = {k.decode() for k in self._client.hkeys(self._key("layouts"))}
        records = self.streams()
        summaries = []
        for run in sorted(created):
            mine = [r for r in records if r.run == run]
            summaries.append(
                RunSummary(
                    run=run,
                    created=created[run],
                    updated=max((r.updated for r in mine), default=created[run]),
                    streams=len(mine),
                    rows=sum(r.rows for r in mine),
                    layout=run in with_layout,
                )
            )
        return summaries

    def entries(
        self, run: str, stream: str, since: int = 0, until: int | None = None
    ) -> Iterator[Entry]:
        """The entries of a stream that hold rows >= `since` (and < `until`), oldest first,
        a page at a time (clear and replace entries included)."""
        log_key = self.log_key(run, stream)
        start = "-"
        if since > 0:
            before = self._client.xrevrange(log_key, max=f"{since + 1}", count=1)
            start = before[0][0].decode() if before else f"{since + 1}"
        end = "+" if until is None else f"{until}"
        while True:
            page = self._client.xrange(log_key, min=start, max=end, count=PAGE_ENTRIES)
            for entry_id, fields in page:
                try:
                    yield Entry(entry_id, fields)
                except CorruptSegment as exc:
                    first, rows = _int(fields.get(b"s")), _int(fields.get(b"n"))
                    self._report_damage(run, stream, first, rows, str(exc))
            if len(page) < PAGE_ENTRIES:
                return
            start = "(" + page[-1][0].decode()

    def segments(
        self, record: StreamRecord, since: int = 0, until: int | None = None
    ) -> Iterator[Segment]:
        for entry in self.entries(record.run, record.stream, since, until):
            if entry.rows and entry.first_seq + entry.rows > since:
                yield Segment(entry.first_seq, entry.batch, entry.times)

    def pick(
        self,
        record: StreamRecord,
        starts: np.ndarray,
        stops: np.ndarray,
        columns: Sequence[str],
        arrival: bool,
    ) -> Picked:
        """The rows of short ranges: the entries holding them are read whole (Redis has no
        partial reads of an entry) and cut by `pick` like SQLite's segments."""
        starts = np.asarray(starts, dtype=np.int64)
        stops = np.maximum(np.asarray(stops, dtype=np.int64), starts)
        blobs: dict[bytes, bytes] = {}
        firsts, counts = [], []
        if len(starts):
            log_key = self.log_key(record.run, record.stream)
            low, high = int(starts[0]), int(stops[-1])
            before = self._client.xrevrange(log_key, max=f"{low + 1}", count=1)
            start = before[0][0].decode() if before else f"{low + 1}"
            while True:
                page = self._client.xrange(log_key, min=start, max=f"{high}", count=PAGE_ENTRIES)
                for entry_id, fields in page:
                    rows = _int(fields.get(b"n"))
                    first = _int(fields.get(b"s"))
                    if rows and fields.get(b"d") and first + rows > low:
                        blobs[entry_id] = fields[b"d"]
                        firsts.append(first)
                        counts.append(rows)
                if len(page) < PAGE_ENTRIES:
                    break
                start = "(" + page[-1][0].decode()
        listed = Segments(list(blobs), np.array(firsts, np.int64), np.array(counts, np.int64))
        opener = lambda key: _Bytes(blobs[key])  # noqa: E731
        found, damaged = pick(listed, opener, starts, stops, columns, arrival)
        for first_seq, rows, why in damaged:
            self._report_damage(record.run, record.stream, first_seq, rows, why)
        return found

    def follow(
        self, run: str, stream: str, generation: int, since: int, limit: int | None = None
    ) -> Followed | None:
        """Rows a follower has not read (see StoreReads.follow): range reads on entry ids."""
        return follow_by_segments(self, run, stream, generation, since, limit)

    def batch_ids(self, limit: int = 100_000) -> list[BatchId]:
        """None: Redis itself refuses a batch id it holds, whichever process sees it."""
        return []

    def layouts(self) -> dict[str, dict[str, Any]]:
        stored = self._client.hgetall(self._key("layouts"))
        return {run.decode(): json.loads(text) for run, text in stored.items()}

    def layout_version(self) -> int:
        return _int(self._client.get(self._key("layout_version")))

    def attributes(self, run: str | None = None) -> dict[str, dict[str, Any]]:
        """Runs' attributes by run (one hash per run in the catalog), as stored."""
        runs = (
            [run]
            if run is not None
            else sorted(name.decode() for name in self._client.hkeys(self._key("runs")))
        )
        pipe = self._client.pipeline(transaction=False)
        for name in runs:
            pipe.hgetall(self.attributes_key(name))
        found = {}
        for name, stored in zip(runs, pipe.execute(), strict=True):
            if stored:
                found[name] = {k.decode(): json.loads(v) for k, v in stored.items()}
        return found

    def integrity(self) -> str:
        """'ok' when Redis answers and every stream's entries add up to its recorded rows."""
        problems = []
        for record in self.streams():
            entries = self.entries(record.run, record.stream)
            held = sum(entry.rows for entry in entries if entry.kind != "clear")
            if held < record.rows:
                problems.append(
                    f"run '{record.run}', stream '{record.stream}': {held} rows, "
                    f"{record.rows} recorded"
                )
        return "; ".join(problems) or "ok"

    def _report_damage(self, run: str, stream: str, first_seq: int, rows: int, why: str) -> None:
        damage = Damage(run, stream, first_seq, rows, why)
        if damage not in self.damaged:
            self.damaged.append(damage)
            log.error(
                "store %s: run '%s', stream '%s', rows %d to %d are damaged and skipped: %s",
                self.location, run, stream, first_seq, first_seq + rows - 1, why,
            )  # fmt: skip
