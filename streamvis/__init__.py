"""streamvis: live, interactive dashboards of streaming data.

import streamvis as sv
sv.stream("loss", {"step": step, "train": value})   # from your loop
sv.serve("layout.yaml")        # or: panel serve apps/dashboard.py --args layout.yaml
"""

from __future__ import annotations

from typing import Any

from streamvis.client import Client
from streamvis.dashboard import dashboard, serve
from streamvis.errors import SpecError, StreamError, StreamvisError
from streamvis.hub import Hub, Mode, default_hub
from streamvis.spec import Layout, Plot, load_layout

__version__ = "0.1.0"


def stream(
    name: str,
    data: Any,
    *,
    run: str = "default",
    mode: Mode = "append",
    columns: list[str] | None = None,
) -> int:
    """Write `data` (row dict, dict of columns, list of rows, DataFrame, 2-D array with
    `columns=`, tensor) to stream `name` of `run`; returns the rows stored."""
    return default_hub().stream(name, data, run=run, mode=mode, columns=columns)


def clear(name: str | None = None, run: str | None = None) -> int:
    """Empty one stream, every stream of a run, or everything; returns streams cleared."""
    return default_hub().clear(name, run)


__all__ = [
    "Client",
    "Hub",
    "Layout",
    "Plot",
    "SpecError",
    "StreamError",
    "StreamvisError",
    "clear",
    "connect",
    "dashboard",
    "default_hub",
    "load_layout",
    "serve",
    "stream",
]
