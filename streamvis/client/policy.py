"""What `sv.Client`'s bounded queue does when it is full, per stream, and how many rows it
dropped of each stream (reported to the server with that stream's next request, so the
page can say so).

Policies: `drop_oldest` (the default) makes room by dropping the oldest queued rows of
streams whose policy is `drop_oldest`, and drops the new rows when none of those are
queued; `drop_newest` drops the new rows and keeps what is queued; `block` makes the
caller wait for room. Rows of a `block` or `drop_newest` stream are never dropped to make
room for another stream.
"""

from __future__ import annotations

from typing import Any

from streamvis.client.transport import Target
from streamvis.errors import ClientError

WHEN_FULL = ("drop_oldest", "drop_newest", "block")
DROPPED_HEADER = "X-Streamvis-Dropped"  # the producer's running total for the stream
PRODUCER_HEADER = "X-Streamvis-Producer"  # who that total belongs to


def checked_policy(value: Any, stream: str | None = None) -> str:
    """A queue policy, or a ClientError naming the stream it was given for."""
    if not isinstance(value, str) or value not in WHEN_FULL:
        where = "Client(when_full=...)" if stream is None else f"set_when_full({stream!r}, ...)"
        raise ClientError(
            f"{where}: when_full must be 'drop_oldest', 'drop_newest' or 'block', "
            f"not {value!r:.40}"
        )
    return value


class QueuePolicy:
    """The policy of each stream (by name, in any run) and the rows dropped per (run,
    stream) so far. Read and changed under the client's lock."""

    def __init__(self, default: str) -> None:
        self.default = checked_policy(default)
        self.streams: dict[str, str] = {}
        self.dropped: dict[Target, int] = {}  # running totals, never lowered
        self.reported: dict[Target, int] = {}  # the totals the server acknowledged
        self.uniform = True  # every stream drops oldest: any queued row may go

    def set(self, stream: str, policy: str) -> None:
        self.streams[stream] = checked_policy(policy, stream)
        self.uniform = self.default == "drop_oldest" and all(
            value == "drop_oldest" for value in self.streams.values()
        )

    def of(self, stream: str | None) -> str:
        """The policy of rows of `stream` (a clear or layout has none: the default)."""
        return self.streams.get(stream, self.default) if stream is not None else self.default

    def may_drop(self, stream: str | None, rows: int) -> bool:
        """Whether queued rows of `stream` may be dropped to make room for newer rows."""
        return rows > 0 and (self.uniform or self.of(stream) == "drop_oldest")

    def count(self, target: Target, rows: int) -> None:
        self.dropped[target] = self.dropped.get(target, 0) + rows

    def owed(self) -> list[Target]:
        """(run, stream) pairs whose latest total the server has not acknowledged."""
        return [
            target
            for target, total in self.dropped.items()
            if target[1] is not None and total > self.reported.get(target, 0)
        ]

    @staticmethod
    def headers(total: int, producer: str) -> dict[str, str]:
        """The headers reporting `total` rows of a stream dropped by `producer` so far."""
        return {DROPPED_HEADER: str(total), PRODUCER_HEADER: producer}

    def acknowledged(self, target: Target, total: int) -> None:
        if total > self.reported.get(target, 0):
            self.reported[target] = total
