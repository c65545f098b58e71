"""How much one ingest request or websocket connection may ask of the server.

Every limit has a default and a STREAMVIS_* environment variable; the ingest routes check
each one before the work it bounds (parsing, normalizing, storing). docs/http-api.md lists
them with the error code each refusal carries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

DEFAULT_MAX_BODY = 8 * 1024 * 1024
MIN_BODY = 1024
NAME_LIMIT = 128  # run and stream names: fixed by the name rule (hub.check_name)
COLUMN_NAME_LIMIT = 256  # column names, in-process too (normalize._check_names)


@dataclass(frozen=True)
class Limits:
    """Bounds on what producers send; each field is set by the variable in its metadata."""

    max_depth: int = 32  # nesting of JSON arrays/objects in a body or websocket frame
    max_number_chars: int = 100  # characters of one JSON number token
    max_columns: int = 1000  # columns in one batch
    max_column_name: int = 256  # characters of a column name
    max_batch_id: int = 256  # characters of an X-Streamvis-Batch id
    ws_max_messages: int = 1000  # messages in one websocket frame (a JSON list)
    ws_rate: float = 1000.0  # websocket messages per second, per connection, sustained
    ws_burst: int = 2000  # websocket messages a connection may send at once

    def __post_init__(self) -> None:
        for spec in fields(self):
            if getattr(self, spec.name) <= 0:
                raise ValueError(f"{ENVIRONMENT[spec.name]} must be positive")
        if self.max_column_name > COLUMN_NAME_LIMIT:
            raise ValueError(
                f"STREAMVIS_MAX_COLUMN_NAME ({self.max_column_name}) may not exceed "
                f"{COLUMN_NAME_LIMIT}, the limit every stream keeps"
            )
        if self.ws_burst < self.ws_max_messages:
            raise ValueError(
                f"STREAMVIS_WS_BURST ({self.ws_burst}) must be at least "
                f"STREAMVIS_WS_MAX_MESSAGES ({self.ws_max_messages}), or a full frame never passes"
            )


ENVIRONMENT = {
    "max_depth": "STREAMVIS_MAX_DEPTH",
    "max_number_chars": "STREAMVIS_MAX_NUMBER_CHARS",
    "max_columns": "STREAMVIS_MAX_COLUMNS",
    "max_column_name": "STREAMVIS_MAX_COLUMN_NAME",
    "max_batch_id": "STREAMVIS_MAX_BATCH_ID",
    "ws_max_messages": "STREAMVIS_WS_MAX_MESSAGES",
    "ws_rate": "STREAMVIS_WS_RATE",
    "ws_burst": "STREAMVIS_WS_BURST",
}


def limits_from_environment(environ: Mapping[str, str] | None = None) -> Limits:
    """Limits with any STREAMVIS_* override applied; a bad value stops the server with the
    variable's name (SystemExit), so a typo never runs unbounded."""
    environ = os.environ if environ is None else environ
    values: dict[str, float | int] = {}
    for spec in fields(Limits):
        text = environ.get(ENVIRONMENT[spec.name], "").strip()
        if not text:
            continue
        try:
            values[spec.name] = float(text) if spec.type == "float" else int(text)
        except ValueError:
            raise SystemExit(
                f"streamvis: {ENVIRONMENT[spec.name]}={text!r} is not a number"
            ) from None
    try:
        return Limits(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SystemExit(f"streamvis: {exc}") from None


def max_body_from_environment(environ: Mapping[str, str] | None = None) -> int:
    """STREAMVIS_MAX_BODY in bytes (default 8 MiB); a bad value stops the server."""
    environ = os.environ if environ is None else environ
    text = environ.get("STREAMVIS_MAX_BODY", "").strip()
    if not text:
        return DEFAULT_MAX_BODY
    if not text.isdigit() or int(text) < MIN_BODY:
        raise SystemExit(
            f"streamvis: STREAMVIS_MAX_BODY={text!r} is not a whole number of at least "
            f"{MIN_BODY} (bytes)"
        )
    return int(text)


class TokenBucket:
    """A message budget for one websocket connection: `burst` messages at once, refilled
    at `rate` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self, count: int) -> float:
        """Spend `count` messages if the budget allows (returns 0.0); otherwise spend
        nothing and return the seconds until it would."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if count <= self.tokens:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.rate
