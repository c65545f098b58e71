"""The source types the layout validator knows: each type's settings (checks, required,
defaults), registered here by the source classes that declare them.

The layout must not import `streamvis.sources` (sources sit above layout), yet a layout's
`sources:` entries are checked when the layout is read, with the same file:line errors as
the plots. So each source class declares its settings once, and `streamvis.sources`
registers them here when it is imported (`streamvis/__init__.py` imports it, so any use of
the package has them). Until then no type is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One layout key of a source type: its check (value -> clean value, or ValueError
    worded "must be ..., not ..."), whether it is required, and its default (None: none)."""

    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None


def no_derived_defaults(options: dict[str, Any]) -> tuple[str, str] | None:
    """For types whose defaults do not depend on other settings."""
    return None


@dataclass(frozen=True)
class SourceType:
    """What the validator needs of a source type: its name, its settings in layout order,
    and `complete(options)`, which fills in defaults that depend on other settings and
    returns (key, message) when it cannot."""

    name: str
    settings: Mapping[str, Setting]
    complete: Callable[[dict[str, Any]], tuple[str, str] | None] = no_derived_defaults


_TYPES: dict[str, SourceType] = {}


def register(source_type: SourceType) -> None:
    """Make `source_type` valid in layouts (again: a later registration replaces it)."""
    _TYPES[source_type.name] = source_type


def registered() -> Mapping[str, SourceType]:
    """The known source types by name, in the order they were registered."""
    return MappingProxyType(_TYPES)
