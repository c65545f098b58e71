"""What a stream lost before it reached the hub, kept per (run, stream) for its pages to show:
rows producers dropped from their own full queue (each producer reports its running total
with its batches) and the sources of the stream that are reconnecting or gave up.

Counts live in memory only (a restarted server starts from zero). A producer's total only
grows: a retried or reordered report never counts twice and never lowers it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from streamvis.errors import StreamError

SourceTrouble = Literal["reconnecting", "failed"]
MAX_PRODUCERS = 1024  # producer totals kept per stream; past it the oldest are folded together
_COUNT_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class SourceNote:
    """A source of the stream that is not delivering: reconnecting (after `attempts` failed
    tries in a row) or failed for good."""

    name: str
    trouble: SourceTrouble
    attempts: int


@dataclass(frozen=True)
class StreamLoss:
    """What one stream lost: rows its producers dropped, its sources in trouble."""

    dropped: int = 0
    sources: tuple[SourceNote, ...] = ()

    def __bool__(self) -> bool:
        return self.dropped > 0 or bool(self.sources)


Key = tuple[str, str]


class Losses:
    """Per (run, stream) loss counts, thread-safe. `version` grows with every change, so a
    page asks for the counts only when something changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dropped: dict[Key, dict[str, int]] = {}  # producer id -> its reported total
        self._folded: dict[Key, int] = {}  # totals of producers no longer kept one by one
        self._sources: dict[Key, dict[str, SourceNote]] = {}
        self.version = 0

    def report_dropped(self, run: str, stream: str, producer: str, total: int) -> int:
        """Producer `producer` has dropped `total` rows of the stream so far (a running
        total, so reports may repeat); returns the rows all its producers dropped."""
        if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= _COUNT_LIMIT:
            raise StreamError(
                f"run '{run}', stream '{stream}': a dropped-row count must be a whole number "
                f"from 0 to {_COUNT_LIMIT}, not {total!r:.40}",
                run=run,
                stream=stream,
            )
        if not isinstance(producer, str):
            raise StreamError(
                f"run '{run}', stream '{stream}': a producer id must be text, not "
                f"{type(producer).__name__}",
                run=run,
                stream=stream,
            )
        key = (run, stream)
        with self._lock:
            totals = self._dropped.setdefault(key, {})
            if total > totals.get(producer, 0):
                totals.pop(producer, None)  # newest report last: the oldest go first
                totals[producer] = total
                self.version += 1
                while len(totals) > MAX_PRODUCERS:
                    oldest = next(iter(totals))
                    self._folded[key] = self._folded.get(key, 0) + totals.pop(oldest)
            return self._folded.get(key, 0) + sum(totals.values())

    def source_trouble(
        self, run: str, stream: str, source: str, trouble: SourceTrouble | None, attempts: int = 0
    ) -> None:
        """Source `source` writing the stream is reconnecting or failed; None: it delivers
        (or was stopped)."""
        key = (run, stream)
        with self._lock:
            notes = self._sources.setdefault(key, {})
            note = SourceNote(source, trouble, attempts) if trouble is not None else None
            if notes.get(source) == note:
                return
            if note is None:
                del notes[source]
            else:
                notes[source] = note
            self.version += 1

    def of(self, run: str, stream: str) -> StreamLoss:
        """What the stream lost so far (an empty StreamLoss, which is falsy, for none)."""
        key = (run, stream)
        with self._lock:
            dropped = self._folded.get(key, 0) + sum(self._dropped.get(key, {}).values())
            sources = tuple(self._sources.get(key, {}).values())
        return StreamLoss(dropped, sources)

    def dropped(self, run: str) -> dict[str, int]:
        """Rows producers dropped, by stream of `run` (streams with none left out)."""
        with self._lock:
            keys = {key for key in (*self._dropped, *self._folded) if key[0] == run}
            counts = {
                stream: self._folded.get((r, stream), 0)
                + sum(self._dropped.get((r, stream), {}).values())
                for r, stream in keys
            }
        return {stream: count for stream, count in counts.items() if count}

    def forget(self, run: str) -> None:
        """Drop every count of `run` (the run was deleted)."""
        with self._lock:
            for table in (self._dropped, self._folded, self._sources):
                for key in [key for key in table if key[0] == run]:
                    del table[key]
            self.version += 1
