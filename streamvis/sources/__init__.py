"""Sources declared in a layout (`sources:`): feeds the server reads by itself and stores
in the hub exactly as a producer calling `Hub.stream` would.

- base.py: what every source shares (its thread, backoff and retries, malformed records
  counted and skipped, the sink into the hub), and how a class declares its type;
- lines.py: line-reading sources, `file` (followed as it grows) and `tcp`;
- messages.py: `websocket`, `python` (a function polled) and `kafka`;
- reference.py: finding `module:function` (a python source's function, `--producer`);
- registry.py: the types by name, derived from the classes, and registered with the
  layout validator (streamvis/layout/source_types.py) when this package is imported;
- running.py: the sources running in this process (`start_sources` once per process,
  `stop_sources`, `states(run)`, `problems(run)`), reported to the page's header through
  streamvis/core/status.py.
"""

from __future__ import annotations

from streamvis.sources.base import BaseSource, FeedError, GiveUp, SourceState
from streamvis.sources.registry import CLASSES, TYPES, make_source
from streamvis.sources.running import problems, start_sources, states, stop_sources

__all__ = [
    "CLASSES",
    "TYPES",
    "BaseSource",
    "FeedError",
    "GiveUp",
    "SourceState",
    "make_source",
    "problems",
    "start_sources",
    "states",
    "stop_sources",
]
