"""Errors raised by streamvis, each naming what was wrong and where.

StreamvisError            base class: catch this to catch everything below
├── StreamError           data that does not fit a stream (fields: run, stream, column)
├── SpecError             a layout that cannot be built (fields: file, line, col, path)
├── StoreError            a store that cannot be opened or used (field: file)
│   ├── StoreBusy         another process writes the store (field: owner)
│   └── StoreFailing      the store cannot write now (disk full, file unreachable); queued
│                         rows are kept and retried, new writes are refused until it recovers
├── ExportError           an export that cannot be done (fields: run, stream, file)
├── ClientError           a `Client` (or `sv.connect`) given a bad url or setting (field: url)
└── ServeError            a server that cannot start as asked (a bad port, address or flag)

The message is the whole story for a person; the fields say the same for a program, so
nothing has to read a message back. A field is None when it does not apply or is unknown.
StreamError, SpecError, ClientError and ServeError are also ValueErrors, and StoreFailing
a RuntimeError, so code written against the built-in types keeps working.

Other exception classes in the package never leave the module (or room) that raises them:
a layout checker's `Problem` becomes a SpecError, `PatternError` and a grouping rule's
`GroupingError` a page's note, `WireError`
and the server's `ApiError` an HTTP error answer, a source's `FeedError`/`GiveUp` a logged
retry, the store codec's `CorruptSegment` a damage report, a pick's `Miscounted` a second
listing of the segments it reads, the client's `_SendFailed` a retry.
"""

from __future__ import annotations

from typing import Any, Self

Path_ = tuple[str | int, ...]


class StreamvisError(Exception):
    """Base class of every error streamvis raises on purpose."""

    def located(self, **where: Any) -> Self:
        """Fill in the location fields still unknown (None) from `where`; returns self, so
        a caller that knows more can `raise exc.located(run=...)` as it passes by."""
        for name, value in where.items():
            if value is not None and getattr(self, name, None) is None:
                setattr(self, name, value)
        return self


class StreamError(StreamvisError, ValueError):
    """Data given to a stream was refused; nothing stored before was changed."""

    def __init__(
        self,
        message: str,
        *,
        run: str | None = None,
        stream: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run = run
        self.stream = stream
        self.column = column


class SpecError(StreamvisError, ValueError):
    """A layout (YAML file, dict or `Layout`) is invalid, or names a column its stream lacks.
    `line` and `col` count from 1; `path` is the key path in the layout, e.g.
    `("plots", 0, "y")`."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        path: Path_ | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.col = col
        self.path = path


class StoreError(StreamvisError):
    """The store cannot be opened or written: names the file and what to do."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


class StoreBusy(StoreError):
    """Another process (`owner`: "pid N" or "another process") holds the store's writer lock."""

    def __init__(self, message: str, *, owner: str | None = None, file: str | None = None) -> None:
        super().__init__(message, file=file)
        self.owner = owner


class StoreFailing(StoreError, RuntimeError):
    """The store cannot write now (its disk is full, its file unreachable); the journal
    keeps what was queued and retries until it can."""


class ExportError(StreamvisError):
    """An export that cannot be done: names the run, stream or file and why."""

    def __init__(
        self,
        message: str,
        *,
        run: str | None = None,
        stream: str | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run = run
        self.stream = stream
        self.file = file


class ClientError(StreamvisError, ValueError):
    """A `Client` (or `sv.connect`) was given an address or setting it cannot use."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class ServeError(StreamvisError, ValueError):
    """`sv.serve` (or a server's command line) was asked for something it cannot do: a port
    or address it cannot listen on, a bad flag; refused before anything starts."""
