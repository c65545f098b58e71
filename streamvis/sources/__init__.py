"""Sources declared in a layout (`sources:`): feeds the server reads by itself and stores
in the hub exactly as a producer calling `Hub.stream` would.

Each source runs in its own daemon thread (a websocket source with its own asyncio loop,
never Panel's) and emits what it reads as records (JSON objects, CSV rows) on a
`streamz.Stream`, `source.records`, whose `.sink` stores them: records that arrived together
(one read, one message) go to the hub as one batch. streamz's own sources are servers or
need an event loop of their own, so the readers are plain threads that emit into streamz.

A feed that fails is logged in one line and retried with exponential backoff; it never
stops the server. Malformed records are counted and skipped, with a warning showing an
example (the first, then every 100th). `start_sources` starts a layout's sources once per
process; `states(run)` and `problems(run)` report them for a page.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import streamz

from streamvis.core.hub import Hub, default_hub
from streamvis.errors import StreamError
from streamvis.layout.spec import Layout, Source

log = logging.getLogger("streamvis")
Status = Literal["connecting", "running", "retrying", "failed", "stopped"]
WARN_EVERY = 100  # after the first malformed record, warn again every this many
LOG_AGAIN_S = 60.0  # a failure that persists is logged again this often
MAX_LINE = 16 * 2**20  # a "line" longer than this without a newline is dropped
FILE_POLL_S = 0.1


class GiveUp(Exception):
    """A failure that retrying cannot fix (a missing package): the source stops."""


class FeedError(Exception):
    """The feed ended or refused us; the message is shown as is."""


@dataclass
class SourceState:
    """What a page shows about a source: its status, rows stored, records skipped."""

    name: str
    type: str
    run: str
    stream: str
    target: str
    status: Status = "connecting"
    records: int = 0
    malformed: int = 0
    failures: int = 0  # failed attempts in a row (0 while it works)
    last_error: str | None = None


def describe(exc: BaseException) -> str:
    """One line for a failure: the exception's type and message, without a traceback."""
    if isinstance(exc, FeedError | GiveUp):
        return str(exc)
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class BaseSource:
    """One source's thread: read, emit records, store them; on failure log, wait, retry."""

    def __init__(
        self,
        spec: Source,
        hub: Hub | None = None,
        *,
        run: str = "default",
        backoff: tuple[float, float] = (0.25, 30.0),
    ) -> None:
        self.spec = spec
        self.hub = hub or default_hub()
        self.state = SourceState(spec.name, spec.type, run, spec.stream, self.target)
        self.records = streamz.Stream(stream_name=f"source {spec.name}")
        self.records.sink(self._store)
        self._min_backoff, self._max_backoff = backoff
        self._delay = self._min_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged: tuple[str, float] | None = None  # last failure logged, and when

    @property
    def target(self) -> str:
        """What the source reads, for messages (a URL, a path, host:port)."""
        return ""

    @property
    def label(self) -> str:
        return f"source '{self.spec.name}' ({self.spec.type} {self.target})"

    def start(self) -> BaseSource:
        self._thread = threading.Thread(
            target=self._run, name=f"streamvis-source:{self.spec.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it (at most `timeout` seconds)."""
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def _interrupt(self) -> None:
        """Wake a read blocked in another thread (sources that block override this)."""

    def read(self) -> None:
        """Read until stopped (return) or until the feed fails (raise)."""
        raise NotImplementedError

    def _finish(self) -> None:
        """Release what the thread kept between attempts."""

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.state.status = "connecting"
                try:
                    self.read()
                    continue  # a normal return (a rotated file): open again at once
                except GiveUp as exc:
                    self._fail(exc, final=True)
                    return
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    self._fail(exc)
                self._stop.wait(self._delay)
                self._delay = min(self._delay * 2, self._max_backoff)
        finally:
            self._finish()
            if self.state.status != "failed":
                self.state.status = "stopped"

    def _connected(self) -> None:
        """The feed is open: reset the backoff and say so if it had been failing."""
        self.state.status = "running"
        self._delay = self._min_backoff
        if self.state.failures:
            log.info("%s: working again after %d failed attempts", self.label, self.state.failures)
        self.state.failures = 0
        self._logged = None

    def _fail(self, exc: BaseException, final: bool = False) -> None:
        message = describe(exc)
        self.state.failures += 1
        self.state.status = "failed" if final else "retrying"
        self.state.last_error = message
        now = time.monotonic()
        logged = self._logged
        if logged is None or logged[0] != message or now - logged[1] > LOG_AGAIN_S:
            self._logged = (message, now)
            if final:
                log.error("%s failed: %s; not retrying", self.label, message)
            else:
                failures = self.state.failures
                attempts = f" ({failures} attempts)" if failures > 1 else ""
                log.error("%s failed%s: %s; retrying", self.label, attempts, message)
        log.debug("%s failure details", self.label, exc_info=exc)

    def _malformed(self, example: Any, reason: str) -> None:
        if isinstance(example, bytes):
            example = example.decode("utf-8", "replace")
        self.state.malformed += 1
        count = self.state.malformed
        if count == 1 or count % WARN_EVERY == 0:
            message = "%s: skipped a malformed record (%d so far): %s; example: %.200r"
            log.warning(message, self.label, count, reason, example)

    def _emit(self, records: list[Any]) -> None:
        if records:
            self.records.emit(records)

    def _store(self, data: Any) -> None:
        """The sink: store what arrived together in one write; if the hub refuses a batch of
        records, store them one by one so only the bad ones are skipped."""
        mode = self.spec.get("mode", "append")
        records = isinstance(data, list) and all(isinstance(r, dict) for r in data)
        batch = data[0] if records and len(data) == 1 else data
        try:
            self.state.records += self.hub.stream(
                self.spec.stream, batch, run=self.state.run, mode=mode
            )
            return
        except StreamError as exc:
            if not records or len(data) == 1 or mode == "replace":
                self._malformed(batch, str(exc))
                return
        for record in data:
            try:
                self.state.records += self.hub.stream(self.spec.stream, record, run=self.state.run)
            except StreamError as exc:
                self._malformed(record, str(exc))

    def _parse_json(self, text: str | bytes, out: list[Any]) -> None:
        """Append the record(s) of one JSON text (an object, or a list of objects) to `out`."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            self._malformed(text, f"not JSON ({exc})")
            return
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                out.append(item)
            else:
                self._malformed(item, f"not a JSON object but {type(item).__name__}")


class Lines:
    """Bytes in, complete lines out; a partial last line waits for the rest of it."""

    def __init__(self, skip_first: bool = False) -> None:
        self.partial = b""
        self.skip_first = skip_first  # started mid-line (`from: end`): drop up to the newline

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        if lines and self.skip_first:
            self.skip_first = False
            lines = lines[1:]
        if len(self.partial) > MAX_LINE:
            lines.append(self.partial)  # reported as malformed by the caller's parser
            self.partial = b""
        return lines

    def rest(self) -> list[bytes]:
        """The unfinished last line, when no more will come (a closed feed, a rotated file)."""
        rest, self.partial = self.partial, b""
        return [rest] if rest.strip() and not self.skip_first else []


class LineSource(BaseSource):
    """Sources that read lines: NDJSON, or CSV with a header line."""

    header: list[str] | None = None

    def _lines(self, lines: list[bytes]) -> None:
        records: list[Any] = []
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                self._malformed(line[:200], f"a line longer than {MAX_LINE} bytes")
            elif self.spec.get("format", "jsonl") == "csv":
                self._csv_line(line, records)
            else:
                self._parse_json(line, records)
        self._emit(records)

    def _csv_line(self, line: bytes, out: list[Any]) -> None:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error) as exc:
            self._malformed(line, f"not a CSV row ({exc})")
            return
        if self.header is None:
            self.header = fields
        elif len(fields) != len(self.header):
            self._malformed(
                line.decode("utf-8"),
                f"expected {len(self.header)} fields ({', '.join(self.header)}), "
                f"got {len(fields)}",
            )
        else:
            out.append({name: _cell(text) for name, text in zip(self.header, fields, strict=True)})


def _cell(text: str) -> Any:
    """A CSV field as the value a producer would send: int, float, text, or None if empty."""
    if text == "":
        return None
    if "_" in text:  # int() and float() accept "1_000"; a producer would send text
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class FileSource(LineSource):
    """Follow a JSONL or CSV file as it grows (`tail -f`), from its start or its end. A file
    truncated in place is read again from its start, a replaced (rotated) one is reopened,
    and after a read error the same file is resumed where it was left."""

    _opened = False
    _resume: tuple[int, int, int] | None = None  # (device, inode, offset) read up to

    @property
    def target(self) -> str:
        return str(self.spec["path"])

    def read(self) -> None:
        path = self.spec["path"]
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by `with`; reopened on rotation
        except FileNotFoundError:
            raise FeedError(f"file not found: {path}") from None
        with handle:
            opened = os.fstat(handle.fileno())
            lines = self._open_at(handle, opened)
            self._connected()
            while not self._stop.is_set():
                chunk = handle.read(2**20)
                if chunk:
                    self._lines(lines.feed(chunk))
                    offset = handle.tell() - len(lines.partial)
                    self._resume = (opened.st_dev, opened.st_ino, offset)
                elif self._rotated(opened):
                    self._lines(lines.feed(handle.read()) + lines.rest())
                    log.info("%s: the file was replaced; reading the new one", self.label)
                    return
                elif os.fstat(handle.fileno()).st_size < handle.tell():
                    log.info("%s: the file was truncated; reading from its start", self.label)
                    handle.seek(0)
                    lines, self.header = Lines(), None
                else:
                    self._stop.wait(FILE_POLL_S)

    def _open_at(self, handle: Any, opened: os.stat_result) -> Lines:
        """Where to start in a newly opened file: where we left it (same file), its end (first
        open with `from: end`, skipping a partial last line), or its start. A CSV header is
        read first in every case."""
        first, self._opened = not self._opened, True
        resume = self._resume
        at_end = first and self.spec.get("from") == "end"
        offset = 0
        if resume is not None and resume[:2] == (opened.st_dev, opened.st_ino):
            offset = resume[2] if opened.st_size >= resume[2] else 0
        elif at_end:
            offset = opened.st_size
        self.header = None
        if self.spec.get("format") == "csv" and offset > 0:
            header = handle.readline()
            if not header.endswith(b"\n"):
                offset = 0  # no complete header yet: everything is new
            else:
                self._lines([header])
                offset = max(offset, handle.tell())
        skip_first = False
        if at_end and offset > 0:
            handle.seek(offset - 1)
            skip_first = handle.read(1) != b"\n"
        handle.seek(offset)
        return Lines(skip_first=skip_first)

    def _rotated(self, opened: os.stat_result) -> bool:
        try:
            now = os.stat(self.spec["path"])
        except FileNotFoundError:
            return False  # moved away and not yet replaced: keep reading the old file
        return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)


class TcpSource(LineSource):
    """Connect to a TCP server and read newline-delimited JSON; reconnect when it drops."""

    @property
    def target(self) -> str:
        return f"{self.spec['host']}:{self.spec['port']}"

    def read(self) -> None:
        with socket.create_connection((self.spec["host"], self.spec["port"]), timeout=5) as sock:
            sock.settimeout(0.25)  # wake up to notice stop()
            self._connected()
            lines = Lines()
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(2**16)
                except TimeoutError:
                    continue
                if not chunk:
                    self._lines(lines.rest())
                    raise FeedError("the server closed the connection")
                self._lines(lines.feed(chunk))


class WebSocketSource(BaseSource):
    """Connect to a websocket; each message is one JSON record or a list of records.

    Tornado's client runs on an asyncio loop owned by this source's thread."""

    _runner: asyncio.Runner | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task[Any] | None = None

    @property
    def target(self) -> str:
        return str(self.spec["url"])

    def read(self) -> None:
        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            self._runner.run(self._session())
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise FeedError("the connection was cancelled") from None

    async def _session(self) -> None:
        from tornado.websocket import websocket_connect

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop.is_set():
            return
        connecting = websocket_connect(
            self.spec["url"], connect_timeout=10, ping_interval=20, ping_timeout=20
        )
        try:  # shielded: a stop during the handshake must not orphan a half-made connection
            connection = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            connecting.add_done_callback(_close_if_connected)
            raise
        try:
            self._connected()
            while True:
                message = await connection.read_message()
                if message is None:
                    code = connection.close_code
                    raise FeedError(
                        "the feed closed the connection" + (f" (code {code})" if code else "")
                    )
                records: list[Any] = []
                self._parse_json(message, records)
                self._emit(records)
        finally:
            connection.close()

    def _interrupt(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop is already closed
                pass

    def _finish(self) -> None:
        if self._runner is not None:
            self._runner.close()


def _close_if_connected(future: Any) -> None:
    """Close the connection a cancelled handshake still produced (tornado would drop it
    with its socket open)."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()


class PythonSource(BaseSource):
    """Call `module:function` (or `path/file.py:function`) every `every_ms`; store what it
    returns (anything `Hub.stream` accepts; None for nothing)."""

    _function: Any = None

    @property
    def target(self) -> str:
        return str(self.spec["function"])

    def read(self) -> None:
        if self._function is None:
            from streamvis.server.app import resolve  # app starts sources: import it late

            self._function = resolve(self.spec["function"])
        period = self.spec.get("every_ms", 1000) / 1000
        while not self._stop.is_set():
            started = time.monotonic()
            rows = self._function()
            if self.state.status != "running":
                self._connected()
            if rows is not None:
                self.records.emit(rows)
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))


class KafkaSource(BaseSource):
    """Read JSON records from a Kafka topic (needs the `kafka` extra: kafka-python)."""

    @property
    def target(self) -> str:
        return f"{self.spec['topic']} at {','.join(self.spec['bootstrap_servers'])}"

    def read(self) -> None:
        try:
            from kafka import KafkaConsumer  # type: ignore[import-not-found]
        except ImportError:
            raise GiveUp(
                "the kafka source needs the kafka-python package: "
                "install streamvis[kafka] (pip install 'streamvis[kafka]')"
            ) from None
        consumer = KafkaConsumer(
            self.spec["topic"],
            bootstrap_servers=list(self.spec["bootstrap_servers"]),
            group_id=self.spec.get("group_id"),
        )
        try:
            self._connected()
            while not self._stop.is_set():
                records: list[Any] = []
                for messages in consumer.poll(timeout_ms=250).values():
                    for message in messages:
                        self._parse_json(message.value, records)
                self._emit(records)
        finally:
            consumer.close()


TYPES: dict[str, type[BaseSource]] = {
    "websocket": WebSocketSource,
    "file": FileSource,
    "tcp": TcpSource,
    "python": PythonSource,
    "kafka": KafkaSource,
}
_running: dict[tuple[str, str], BaseSource] = {}
_running_lock = threading.Lock()


def make_source(
    spec: Source, hub: Hub | None = None, *, run: str = "default", **options: Any
) -> BaseSource:
    """The (not yet started) source object for one `sources:` entry."""
    return TYPES[spec.type](spec, hub, run=run, **options)


def start_sources(
    layout: Layout, *, hub: Hub | None = None, run: str | None = None
) -> list[BaseSource]:
    """Start the layout's sources, writing to `run` (default: the layout's). Once per process:
    a source whose (run, name) already runs is left alone. Returns those started now."""
    run = run or layout.run
    started = []
    with _running_lock:
        for spec in layout.sources:
            if (run, spec.name) not in _running:
                assert isinstance(spec, Source)
                _running[(run, spec.name)] = source = make_source(spec, hub, run=run)
                started.append(source)
    for source in started:
        source.start()
    return started


def stop_sources(run: str | None = None) -> None:
    """Stop the started sources (of one run, or all) and forget them."""
    with _running_lock:
        keys = [key for key in _running if run is None or key[0] == run]
        stopping = [_running.pop(key) for key in keys]
    for source in stopping:
        source.stop()


def states(run: str) -> list[SourceState]:
    """A snapshot of the state of each source started for `run`."""
    with _running_lock:
        return [replace(s.state) for (r, _), s in _running.items() if r == run]


def problems(run: str) -> list[str]:
    """One line per source of `run` that is failing: what it reads and what went wrong."""
    return [
        f"source '{s.name}' ({s.type} {s.target}): {s.status}: {s.last_error}"
        for s in states(run)
        if s.status in ("retrying", "failed")
    ]
