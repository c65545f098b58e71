"""Errors raised by streamvis, each naming what was wrong and where.

StreamvisError            base class: catch this to catch everything below
├── StreamError           data that does not fit a stream (names run, stream, column)
└── SpecError             a layout that cannot be built (names file, line, plot, key)
"""

from __future__ import annotations


class StreamvisError(Exception):
    """Base class of every error streamvis raises on purpose."""


class StreamError(StreamvisError, ValueError):
    """Data given to a stream was refused; nothing stored before was changed."""


class SpecError(StreamvisError, ValueError):
    """A layout (YAML file, dict or `Layout`) is invalid, or names a column its stream lacks."""
