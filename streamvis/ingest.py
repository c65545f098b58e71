"""The Panel plugin entry point: `panel serve apps/dashboard.py --plugins streamvis.ingest`
mounts the ingest routes (streamvis/server/ingest.py) next to the dashboard."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`ROUTES`, built when Panel asks for it (not at import: it reads the app's arguments)."""
    if name == "ROUTES":
        from streamvis.server.ingest import plugin_routes

        return plugin_routes()
    raise AttributeError(f"module 'streamvis.ingest' has no attribute {name!r}")
