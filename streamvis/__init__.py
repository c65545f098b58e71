"""streamvis: live, interactive dashboards of streaming data.

import streamvis as sv
sv.stream("loss", {"step": step, "train": value})   # from your loop
sv.set_attributes(lr=3e-4, seed=1)                  # the run's hyperparameters
sv.serve("layout.yaml")        # or: panel serve apps/dashboard.py --args layout.yaml
sv.connect("localhost:5006")   # or send to a server in another process
sv.use_store("runs.db")        # keep what is streamed in a file; a restart replays it
sv.export(run="default", stream="loss")   # -> pandas.DataFrame
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from streamvis.core import defaults as _defaults
from streamvis.errors import (
    ClientError,
    ExportError,
    ServeError,
    SpecError,
    StoreError,
    StoreFailing,
    StreamError,
    StreamvisError,
)
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
    run: str | None = None,
    mode: Mode = "append",
    columns: list[str] | None = None,
) -> int:
    """Write `data` (row dict, dict of columns, list of rows, DataFrame, 2-D array with
    `columns=`, tensor) to stream `name` of `run` (default "default"); returns the rows
    stored. After `sv.connect`, the rows are queued for the server, in `run` if given,
    else in the connected client's run."""
    if _connected is not None:
        return _connected.stream(name, data, run=run, mode=mode, columns=columns)
    run = "default" if run is None else run
    return _hub().stream(name, data, run=run, mode=mode, columns=columns)


def clear(name: str | None = None, run: str | None = None) -> int:
    """Empty one stream, every stream of a run, or everything; returns streams cleared.
    After `sv.connect` it clears on the server, in `run` if given, else in the connected
    client's run, and returns 0."""
    if _connected is not None:
        _connected.clear(name, run=run)
        return 0
    return _hub().clear(name, run)


def set_attributes(
    attributes: Mapping[str, Any] | None = None,
    /,
    *,
    run: str | None = None,
    **more: Any,
) -> None:
    """Merge attributes into `run`'s (default "default"): `sv.set_attributes(lr=3e-4,
    seed=1)`, or a dict (for a key named `run`); None removes a key. Values: text, numbers,
    bools; a bad one raises AttributesError (a StreamError) naming run and key, and changes
    nothing. After `sv.connect` they go to the server, for the connected client's run
    unless `run` is given."""
    if _connected is not None:
        _connected.set_attributes(attributes, run=run, **more)
        return
    _hub().set_attributes("default" if run is None else run, {**(attributes or {}), **more})


def use_store(path: str | os.PathLike[str] | None, **retention: Any) -> Hub:
    """Keep what `sv.stream` writes in the SQLite file `path` ('none': memory only), or in
    the Redis a `redis://` URL names (shared with servers; docs/scale-out.md), and replay
    what it already holds, so a restarted script continues where it stopped. Call it
    before the first `sv.stream`. `retention`: rows=, age= (seconds), bytes= limits."""
    from streamvis.store import open_store, use_default_store
    from streamvis.store.sqlite import checked_retention

    if path is not None and not isinstance(path, str | os.PathLike):
        raise StoreError(
            f"use_store: the store must be a file path (or 'none'), not {type(path).__name__}"
        )
    kept = checked_retention(retention)
    return use_default_store(lambda: open_store(path, kept), path)


def _hub_from_environment() -> Hub:
    """The default hub `sv.stream` writes to, on STREAMVIS_REDIS or STREAMVIS_STORE when one
    is set (opened only when the hub is first needed; without one no store module loads)."""
    if not os.environ.get("STREAMVIS_STORE") and not os.environ.get("STREAMVIS_REDIS"):
        from streamvis.core.hub import Hub

        return Hub()
    from streamvis.store import default_hub_from_environment

    return default_hub_from_environment()


_defaults.hub_factory = _hub_from_environment  # read by core.hub.default_hub()


def connect(
    url: str | None, *, run: str = "default", token: str | None = None, **options: Any
) -> Client | None:
    """Send module-level `sv.stream`/`sv.clear` to a server from now on (a `Client`);
    `connect(None)` closes it, delivering what is queued, and returns to the local hub. A
    bad url or option raises ClientError and changes nothing."""
    global _connected
    from inspect import signature

    from streamvis.client import Client

    known = [p.name for p in signature(Client).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ClientError(
            f"connect: unknown option(s) {', '.join(unknown)}; a Client takes {', '.join(known)}",
            url=url,
        )
    # built first: a bad url or setting leaves the current connection (or the hub) in use
    fresh = Client(url, run, token, **options) if url is not None else None
    if _connected is not None:
        _connected.close()  # delivers what it queued before `fresh` gets anything
    _connected = fresh
    return _connected


__all__ = [
    "Client",
    "ClientError",
    "ExportError",
    "Hub",
    "Layout",
    "Plot",
    "ServeError",
    "SpecError",
    "StoreError",
    "StoreFailing",
    "StreamError",
    "StreamvisError",
    "clear",
    "connect",
    "dashboard",
    "default_hub",
    "export",
    "load_layout",
    "serve",
    "set_attributes",
    "stream",
    "use_store",
]
