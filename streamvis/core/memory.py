"""The hub's memory budget: how many bytes the rows kept in memory may take, read from
`Hub(memory=...)`, `--memory` or STREAMVIS_MEMORY, and the running count of bytes held.

The default is the smaller of 4 GiB and a quarter of physical memory: enough for 100 million
rows of a step and a float32 value, while a laptop keeps three quarters for the browser, the
producer and the OS. Beyond the budget the hub drops the oldest rows (whole chunks, oldest
first across streams); with a store they are still read back when a view needs them.
"""

from __future__ import annotations

import numbers
import os
import re
import threading
from typing import Any

from streamvis.errors import StreamError

GIB = 2**30
DEFAULT_CAP = 4 * GIB
FALLBACK = 2 * GIB  # when physical memory cannot be read
ENVIRONMENT = "STREAMVIS_MEMORY"
_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None when the OS does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def default_memory() -> int:
    """The budget when none is set: min(4 GiB, a quarter of physical memory)."""
    physical = physical_memory()
    return min(DEFAULT_CAP, physical // 4) if physical else FALLBACK


def parse_memory(value: Any, option: str = "memory") -> int:
    """Bytes from an int or a text like '512MB', '8GiB', '1.5g', '100000' (1 kB = 1000 B,
    1 KiB = 1 K = 1024 B); a StreamError naming `option` for anything else."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        unit = _UNITS.get(match.group(2).lower())
        if unit is None:
            raise StreamError(
                f"{option}: unknown unit {match.group(2)!r} in {value!r}; use B, kB, MB, GB, "
                "TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
            )
        number = int(float(match.group(1)) * unit)
    else:
        raise StreamError(
            f"{option} must be a number of bytes or a size like '512MB' or '8GiB', "
            f"not {value!r:.40}"
        )
    if number < 1:
        raise StreamError(f"{option} must be at least 1 byte, not {value!r:.40}")
    return number


def configured_memory(text: str | None = None, option: str = "--memory") -> int:
    """The budget a process should use: `text` (a --memory value), else STREAMVIS_MEMORY,
    else `default_memory()`."""
    if text:
        return parse_memory(text, option)
    if environment := os.environ.get(ENVIRONMENT):
        return parse_memory(environment, ENVIRONMENT)
    return default_memory()


class Budget:
    """The bytes the hub's rings hold, against its limit; tables report every change
    (under their own lock, so this lock is always taken last and held briefly)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def add(self, delta: int) -> None:
        with self._lock:
            self.used += delta

    def over(self, extra: int = 0) -> bool:
        """True when the rings (and `extra` bytes, e.g. summaries) exceed the limit."""
        return self.used + extra > self.limit
