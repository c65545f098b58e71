"""The machinery every source shares: its own daemon thread, failures logged in one line and
retried with exponential backoff, malformed records counted and skipped, and the sink that
stores what arrived together as one batch in the hub (as a producer calling `Hub.stream`).

A source class declares itself once: `TYPE` (the layout's `type:`), `SETTINGS` (its layout
keys: check, required, default) and, when some defaults depend on other settings,
`complete`. streamvis/sources/registry.py derives the type table from the classes and tells
the layout validator about them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from streamvis.core.losses import SourceTrouble
from streamvis.errors import StreamError
from streamvis.layout.source_types import Setting

if TYPE_CHECKING:
    from streamvis.core.hub import Hub, Mode
    from streamvis.layout.spec import Source

log = logging.getLogger("streamvis")
Status = Literal["connecting", "running", "retrying", "failed", "stopped", "standby"]
WARN_EVERY = 100  # after the first malformed record, warn again every this many
LOG_AGAIN_S = 60.0  # a failure that persists is logged again this often
LEASE_SECONDS = 10.0  # on a shared store, one process reads a feed; another takes over after


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
    """One source's thread: read, emit records, store them; on failure log, wait, retry.

    Records are emitted on a `streamz.Stream`, `source.records`, whose `.sink` stores them
    (streamz's own sources are servers or need an event loop, so the readers are threads)."""

    TYPE: ClassVar[str] = ""  # the layout's `type:`; every concrete source names one
    SETTINGS: ClassVar[Mapping[str, Setting]] = {}  # its layout keys besides name/type/stream

    @classmethod
    def complete(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """Fill in the defaults that depend on other settings (`options` is checked, static
        defaults not yet applied); return (key, message) when they cannot be worked out."""
        return None

    def __init__(
        self,
        spec: Source,
        hub: Hub | None = None,
        *,
        run: str = "default",
        backoff: tuple[float, float] = (0.25, 30.0),
    ) -> None:
        import streamz  # only a running source needs it: `import streamvis` stays light

        from streamvis.core.hub import default_hub

        self.spec = spec
        self.hub = hub or default_hub()
        self.state = SourceState(spec.name, spec.type, run, spec.stream, self.target)
        self.records: streamz.Stream = streamz.Stream(stream_name=f"source {spec.name}")
        self.records.sink(self._store)
        self._min_backoff, self._max_backoff = backoff
        self._delay = self._min_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged: tuple[str, float] | None = None  # last failure logged, and when
        self._lease, self._lease_checked = False, -LEASE_SECONDS  # see `_leading`

    def setting(self, key: str) -> Any:
        """The value of one of this type's settings, or its declared default."""
        declared = self.SETTINGS.get(key)
        return self.spec.get(key, declared.default if declared is not None else None)

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

    def _leading(self) -> bool:
        """Whether this process reads the feed: on a store several processes share, only
        the holder of the source's lease does (renewed here, checked as records arrive)."""
        store = self.hub.store
        if store is None or not store.shared:
            return True
        now = time.monotonic()
        if now >= self._lease_checked + LEASE_SECONDS / 3:
            self._lease_checked = now
            had = self._lease
            self._lease = store.claim(self._lease_name, LEASE_SECONDS)
            if self._lease and not had:  # taken (over): go on from where the last holder was
                noted = store.remember(self._lease_name)
                if noted is not None:
                    self.take_position(json.loads(noted))
        return self._lease

    @property
    def _lease_name(self) -> str:
        return f"source:{self.state.run}:{self.spec.name}"

    def position(self) -> Any:
        """Where the source stands in its feed, as JSON data, for a process taking it over
        (None: it starts afresh; a file source says which file and offset)."""
        return None

    def take_position(self, position: Any) -> None:
        """Go on from a `position` another process's copy of this source reached."""

    def _note_position(self) -> None:
        """On a shared store: note where the source stands, after its records were stored."""
        store = self.hub.store
        position = self.position()
        if store is not None and store.shared and position is not None:
            store.remember(self._lease_name, json.dumps(position))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._leading():
                    self.state.status = "standby"  # another server process reads it
                    self._stop.wait(LEASE_SECONDS / 3)
                    continue
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
                self._tell_hub()

    def _tell_hub(self) -> None:
        """Tell the hub whether this source's stream is losing rows to it (its pages say so,
        core/losses.py): reconnecting, failed for good, or neither."""
        status = self.state.status
        trouble: SourceTrouble | None = None
        if status in ("retrying", "failed"):
            trouble = "reconnecting" if status == "retrying" else "failed"
        state = self.state
        losses = self.hub.losses
        losses.source_trouble(state.run, state.stream, state.name, trouble, state.failures)

    def _connected(self) -> None:
        """The feed is open: reset the backoff and say so if it had been failing."""
        self.state.status = "running"
        self._delay = self._min_backoff
        if self.state.failures:
            log.info("%s: working again after %d failed attempts", self.label, self.state.failures)
        self.state.failures = 0
        self._tell_hub()
        self._logged = None

    def _fail(self, exc: BaseException, final: bool = False) -> None:
        message = describe(exc)
        self.state.failures += 1
        self.state.status = "failed" if final else "retrying"
        self.state.last_error = message
        self._tell_hub()
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
        if not self._leading():  # the lease went to another process: it reads from now on
            raise FeedError("another server process reads this feed now")
        mode = cast("Mode", self.setting("mode") or "append")
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
