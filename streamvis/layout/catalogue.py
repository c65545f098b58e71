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
from typing import TYPE_CHECKING

from streamvis.errors import SpecError
from streamvis.layout.registry import Registry

if TYPE_CHECKING:
    from streamvis.layout.fields import KindSchema

_REGISTRY: Registry[KindSchema] = Registry()


def register(schema: KindSchema) -> None:
    """Make `schema`'s kind valid in layouts (again: a later registration replaces it)."""
    _REGISTRY.register(schema.name, schema)


def load_with(loader: Callable[[], None]) -> None:
    """Call `loader` (which registers kinds) the first time the kinds are asked for."""
    _REGISTRY.load_with(loader)


def catalogue() -> Mapping[str, KindSchema]:
    """Every registered kind by name, in registration order (error messages list them)."""
    kinds = _REGISTRY.view()
    if not kinds:
        raise SpecError(
            "no plot kind is registered: import streamvis.kinds before checking a layout"
        )
    return kinds
