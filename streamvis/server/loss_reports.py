"""Rows a producer dropped from its own full queue, as it reports them with a batch: over
HTTP the headers `X-Streamvis-Dropped` (its running total for the stream) and
`X-Streamvis-Producer` (who it is), over the websocket the message fields `dropped` and
`producer`. Checked before the batch is read, recorded in the hub (core/losses.py) once the
batch is accepted; producers that send neither are unaffected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamvis.core.hub import Hub
from streamvis.server.operations import ApiError

COUNT_LIMIT = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
_PRODUCER = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
HTTP_FIELDS = ("X-Streamvis-Dropped", "X-Streamvis-Producer")
MESSAGE_FIELDS = ("dropped", "producer")


@dataclass(frozen=True)
class DropReport:
    """`producer` has dropped `total` rows of the stream so far."""

    producer: str
    total: int


def drop_report(
    dropped: Any,
    producer: Any,
    run: str,
    stream: str,
    fields: tuple[str, str] = HTTP_FIELDS,
) -> DropReport | None:
    """The report a request carries (None without one); a 400 naming the header or field
    (`fields`) for a count that is not a whole number of rows or a malformed producer id."""
    if producer is not None and (
        not isinstance(producer, str) or not _PRODUCER.fullmatch(producer)
    ):
        raise ApiError(
            400,
            "invalid_producer",
            f"{fields[1]} must be 1-64 letters, digits, '_', '.', ':' or '-', "
            f"not {producer!r:.60}",
            run=run,
            stream=stream,
        )
    if dropped is None:
        return None
    if fields == HTTP_FIELDS and isinstance(dropped, str) and _WHOLE_NUMBER.fullmatch(dropped):
        total: Any = int(dropped)
    else:
        total = dropped
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= COUNT_LIMIT:
        raise ApiError(
            400,
            "invalid_dropped",
            f"{fields[0]} must be the whole number of rows this producer has dropped from "
            f"stream '{stream}' so far, from 0 to {COUNT_LIMIT}, not {dropped!r:.60}",
            run=run,
            stream=stream,
        )
    return DropReport(producer or "", total)


def record(hub: Hub, run: str, stream: str, report: DropReport | None) -> None:
    """Keep an accepted batch's report in the hub, for the stream's pages."""
    if report is not None and report.total:
        hub.losses.report_dropped(run, stream, report.producer, report.total)
