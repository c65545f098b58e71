"""The sources running in this process, by (run, name): started once per process whatever
the number of pages, stopped on request, and reported to the page's header through
streamvis/core/status.py (the page does not import sources)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from streamvis.core import status
from streamvis.sources.base import BaseSource, SourceState
from streamvis.sources.registry import make_source

if TYPE_CHECKING:
    from streamvis.core.hub import Hub
    from streamvis.layout.spec import Layout

_running: dict[tuple[str, str], BaseSource] = {}
_running_lock = threading.Lock()


def start_sources(
    layout: Layout, *, hub: Hub | None = None, run: str | None = None
) -> list[BaseSource]:
    """Start the layout's sources, writing to `run` (default: the layout's). Once per process:
    a source whose (run, name) already runs is left alone. Returns those started now."""
    run = run or layout.run
    started = []
    with _running_lock:
        for spec in layout.checked_sources:
            if (run, spec.name) not in _running:
                _running[(run, spec.name)] = source = make_source(spec, hub, run=run)
                started.append(source)
    for source in started:
        source.start()
    return started


def stop_sources(run: str | None = None) -> None:
    """Stop the started sources (of one run, or all) and forget them."""
    with _running_lock:
        keys = [key for key in _running if run is None or key[0] == run]
        stopping = [_running.pop(key) for key in keys]
    for source in stopping:
        source.stop()


def states(run: str) -> list[SourceState]:
    """A snapshot of the state of each source started for `run`."""
    with _running_lock:
        return [replace(s.state) for (r, _), s in _running.items() if r == run]


def problems(run: str) -> list[str]:
    """One line per source of `run` that is failing: what it reads and what went wrong."""
    return [
        f"source '{s.name}' ({s.type} {s.target}): {s.status}: {s.last_error}"
        for s in states(run)
        if s.status in ("retrying", "failed")
    ]


def report(run: str) -> list[str] | None:
    """For the page's header: None when no source writes to `run`, else its failing ones."""
    return problems(run) if states(run) else None


status.add_reporter(report)
