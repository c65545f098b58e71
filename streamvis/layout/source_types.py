"""The source types the layout validator knows: each type's settings (checks, required,
defaults), registered here by the source classes that declare them.

The layout must not import `streamvis.sources` (sources sit above layout), yet a layout's
`sources:` entries are checked when the layout is read, with the same file:line errors as
the plots. So each source class declares its settings once, and `streamvis.sources`
registers them here when it is imported. `streamvis/__init__.py` (above every room) hands
this module a loader that imports the sources the first time a layout asks for the types,
so any use of the package knows them while `import streamvis` itself stays light.
Plain named tuples, not dataclasses: this module is imported with `streamvis` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from streamvis.layout.registry import Registry


class Setting(NamedTuple):
    """One layout key of a source type: its check (value -> clean value, or ValueError
    worded "must be ..., not ..."), whether it is required, and its default (None: none)."""

    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None


def no_derived_defaults(options: dict[str, Any]) -> tuple[str, str] | None:
    """For types whose defaults do not depend on other settings."""
    return None


class SourceType(NamedTuple):
    """What the validator needs of a source type: its name, its settings in layout order,
    and `complete(options)`, which fills in defaults that depend on other settings and
    returns (key, message) when it cannot."""

    name: str
    settings: Mapping[str, Setting]
    complete: Callable[[dict[str, Any]], tuple[str, str] | None] = no_derived_defaults


_REGISTRY: Registry[SourceType] = Registry()


def register(source_type: SourceType) -> None:
    """Make `source_type` valid in layouts (again: a later registration replaces it)."""
    _REGISTRY.register(source_type.name, source_type)


def load_with(loader: Callable[[], None]) -> None:
    """Call `loader` (which registers types) the first time the types are asked for."""
    _REGISTRY.load_with(loader)


def registered() -> Mapping[str, SourceType]:
    """The known source types by name, in the order they were registered."""
    return _REGISTRY.view()
