"""What the rooms above core register when `import streamvis` runs, for core to use later:
core cannot import them, and importing this module costs nothing (no numpy, no hub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamvis.core.hub import Hub

# How `core.hub.default_hub()` builds the process-wide hub on first use; None: memory only.
hub_factory: Callable[[], Hub] | None = None
