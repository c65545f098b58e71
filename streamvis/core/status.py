"""What parts above the page report about a run besides its data: the problems of the feeds
writing into it (a layout's sources), for the page's header to show.

The page sits below `streamvis.sources` and must not import it; sources register a reporter
here when imported, and the header asks `problems(run)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

Reporter = Callable[[str], Sequence[str] | None]
"""`reporter(run)`: None when it feeds nothing into `run`, else one line per failing feed
(empty when all work)."""

_reporters: list[Reporter] = []
_lock = threading.Lock()


def add_reporter(reporter: Reporter) -> None:
    """Ask `reporter` about every run from now on (added once however often it is given)."""
    with _lock:
        if reporter not in _reporters:
            _reporters.append(reporter)


def problems(run: str) -> list[str] | None:
    """None when nothing reports on `run` (no feeds: the page shows no status); else the
    failing feeds' lines, in the order the reporters were added."""
    with _lock:
        reporters = list(_reporters)
    lines: list[str] | None = None
    for reporter in reporters:
        reported = reporter(run)
        if reported is not None:
            lines = [*(lines or []), *reported]
    return lines
