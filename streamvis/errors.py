"""Errors raised by streamvis, each naming what was wrong and where.

StreamvisError            base class: catch this to catch everything below
├── StreamError           data that does not fit a stream (names run, stream, column)
├── SpecError             a layout that cannot be built (names file, line, plot, key)
├── StoreError            a store that cannot be opened or used (names the file, what to do)
│   └── StoreFailing      the store cannot write now (disk full, file unreachable); queued
│                         rows are kept and retried, new writes are refused until it recovers
└── ExportError           an export that cannot be done (names the run, stream or file)

Other exception classes in the package (a layout checker's `Problem`, `WireError`,
`PatternError`, a source's `FeedError`, ...) never leave the module that raises them: they
are turned into one of the above, or into an HTTP error answer.
"""

from __future__ import annotations


class StreamvisError(Exception):
    """Base class of every error streamvis raises on purpose."""


class StreamError(StreamvisError, ValueError):
    """Data given to a stream was refused; nothing stored before was changed."""


class SpecError(StreamvisError, ValueError):
    """A layout (YAML file, dict or `Layout`) is invalid, or names a column its stream lacks."""


class StoreError(StreamvisError):
    """The store cannot be opened or written: names the file and what to do."""


class StoreFailing(StoreError, RuntimeError):
    """The store cannot write now (its disk is full, its file unreachable); the journal
    keeps what was queued and retries until it can."""


class ExportError(StreamvisError):
    """An export that cannot be done: names the run, stream or file and why."""
