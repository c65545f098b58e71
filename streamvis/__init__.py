"""streamvis: live, interactive dashboards of streaming data.

import streamvis as sv
sv.stream("loss", {"step": step, "train": value})   # from your loop
sv.serve("layout.yaml")        # or: panel serve apps/dashboard.py --args layout.yaml
sv.connect("localhost:5006")   # or send to a server in another process
sv.use_store("runs.db")        # keep what is streamed in a file; a restart replays it
sv.export(run="default", stream="loss")   # -> pandas.DataFrame
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from streamvis.errors import ExportError, SpecError, StoreError, StreamError, StreamvisError
from streamvis.layout import catalogue as _kind_catalogue
from streamvis.layout import source_types as _source_types

if TYPE_CHECKING:
    from streamvis.client import Client
    from streamvis.core.hub import Hub, Mode, default_hub
    from streamvis.layout.spec import Layout, Plot, load_layout
    from streamvis.page.dashboard import dashboard
    from streamvis.server.inprocess import serve
    from streamvis.store.export import export

__version__ = "0.1.0"


def _register_source_types() -> None:
    """The layout validator learns the source types from the source classes, imported only
    when a layout is first checked (the layout itself must not import streamvis.sources)."""
    import streamvis.sources  # noqa: F401 - importing it registers its types


def _register_kinds() -> None:
    """The layout validator learns the plot kinds from their records, imported only when a
    layout is first checked (the layout itself must not import streamvis.kinds)."""
    import streamvis.kinds  # noqa: F401 - importing it registers its kinds


_source_types.load_with(_register_source_types)
_kind_catalogue.load_with(_register_kinds)
_connected: Client | None = None

# Loaded on first use (PEP 562), so a training script that only calls `sv.stream` never
# imports pandas, Panel, HoloViews, Bokeh, streamz or Tornado: public name -> its module.
_LAZY = {
    "Client": "streamvis.client",
    "Hub": "streamvis.core.hub",
    "Mode": "streamvis.core.hub",
    "default_hub": "streamvis.core.hub",
    "Layout": "streamvis.layout.spec",
    "Plot": "streamvis.layout.spec",
    "load_layout": "streamvis.layout.spec",
    "dashboard": "streamvis.page.dashboard",
    "serve": "streamvis.server.inprocess",
    "export": "streamvis.store.export",
}


def __getattr__(name: str) -> Any:
    """Import the module behind a lazy public name on first access and keep the value."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamvis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _hub() -> Hub:
    """The process-wide hub. core.hub is imported on the first write, not at import; then
    this name is rebound to `default_hub` itself, so later writes pay no extra call."""
    global _hub
    from streamvis.core.hub import default_hub

    _hub = default_hub
    return default_hub()


def stream(
    name: str,
    data: Any,
    *,
    run: str = "default",
    mode: Mode = "append",
    columns: list[str] | None = None,
) -> int:
    """Write `data` (row dict, dict of columns, list of rows, DataFrame, 2-D array with
    `columns=`, tensor) to stream `name` of `run`; returns the rows stored. After
    `sv.connect`, the rows are queued for the server (in the connected client's run)."""
    if _connected is not None:
        return _connected.stream(name, data, mode=mode, columns=columns)
    return _hub().stream(name, data, run=run, mode=mode, columns=columns)


def clear(name: str | None = None, run: str | None = None) -> int:
    """Empty one stream, every stream of a run, or everything; returns streams cleared.
    After `sv.connect` it clears on the server, in the connected run, and returns 0."""
    if _connected is not None:
        _connected.clear(name)
        return 0
    return _hub().clear(name, run)


def use_store(path: str | os.PathLike[str] | None, **retention: Any) -> Hub:
    """Keep what `sv.stream` writes in the SQLite file `path` ('none': memory only) and
    replay what it already holds, so a restarted script continues where it stopped. Call it
    before the first `sv.stream`. `retention`: rows=, age= (seconds), bytes= limits."""
    from streamvis.core.hub import use_default_store
    from streamvis.store import Retention, open_store

    return use_default_store(lambda: open_store(path, Retention(**retention)), path)


def connect(
    url: str | None, *, run: str = "default", token: str | None = None, **options: Any
) -> Client | None:
    """Send module-level `sv.stream`/`sv.clear` to a server from now on (a `Client`);
    `connect(None)` closes it, delivering what is queued, and returns to the local hub."""
    global _connected
    if _connected is not None:
        _connected.close()
        _connected = None
    if url is not None:
        from streamvis.client import Client

        _connected = Client(url, run, token, **options)
    return _connected


__all__ = [
    "Client",
    "ExportError",
    "Hub",
    "Layout",
    "Plot",
    "SpecError",
    "StoreError",
    "StreamError",
    "StreamvisError",
    "clear",
    "connect",
    "dashboard",
    "default_hub",
    "export",
    "load_layout",
    "serve",
    "stream",
    "use_store",
]
