"""The plot kinds the layout validator checks plots against, registered by streamvis.kinds.

layout/ must not import kinds/ (kinds sit above layout), yet a plot's kind, keys and
options are checked when the layout is read. So each kind declares its schema once
(`streamvis.layout.fields.KindSchema`, part of its `Kind` record) and streamvis.kinds
registers it here when imported. `streamvis/__init__.py` (above every room) hands this
module a loader that imports the kinds the first time a layout asks, so any use of the
package knows them while `import streamvis` stays light (this module imports nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from streamvis.errors import SpecError

if TYPE_CHECKING:
    from streamvis.layout.fields import KindSchema

_KINDS: dict[str, KindSchema] = {}
_loaders: list[Callable[[], None]] = []
_loaded = True  # every loader has run (to its end) once


def register(schema: KindSchema) -> None:
    """Make `schema`'s kind valid in layouts (again: a later registration replaces it)."""
    _KINDS[schema.name] = schema


def load_with(loader: Callable[[], None]) -> None:
    """Call `loader` (which registers kinds) the first time the kinds are asked for."""
    global _loaded
    _loaders.append(loader)
    _loaded = False


def catalogue() -> Mapping[str, KindSchema]:
    """Every registered kind by name, in registration order (error messages list them).

    Until the loaders have run to their end, every caller runs them: a thread asking while
    another imports waits on Python's module lock, never sees half the kinds."""
    global _loaded
    if not _loaded:
        for loader in list(_loaders):
            loader()
        _loaded = True
    if not _KINDS:
        raise SpecError(
            "no plot kind is registered: import streamvis.kinds before checking a layout"
        )
    return MappingProxyType(_KINDS)
