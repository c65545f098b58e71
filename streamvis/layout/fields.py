"""The layout keys a plot kind declares, with their types, and `KindSchema`, what the
validator knows of a kind (streamvis.kinds registers one per kind in layout/catalogue.py).
`x: column(required=True)` means: the key `x` names one column."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["column", "columns", "text", "count", "number", "choice", "format"]


@dataclass(frozen=True)
class Field:
    """One kind-specific layout key: its type, whether it is required, its default, and
    for a count or a text the `streamvis.layout.limits.LayoutLimits` field that bounds it."""

    type: FieldType
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    limit: str | None = None

    @property
    def names_columns(self) -> bool:
        return self.type in ("column", "columns")


def column(required: bool = False) -> Field:
    return Field("column", required)


def columns(required: bool = False) -> Field:
    return Field("columns", required)


def text(required: bool = False, default: str | None = None, limit: str = "text") -> Field:
    return Field("text", required, default, limit=limit)


def count(default: int | None = None, limit: str | None = None) -> Field:
    return Field("count", False, default, limit=limit)


def number_format(default: str) -> Field:
    """A `str.format` pattern for one number, such as `{:,.4g}`."""
    return Field("format", False, default)


def number(default: float | None = None) -> Field:
    return Field("number", False, default)


def choice(*choices: str, default: str | None = None) -> Field:
    return Field("choice", False, default if default is not None else choices[0], choices)


# A kind's cross-field check: the fields it was given -> (key, problem) or None.
FieldsCheck = Callable[[dict[str, Any]], "tuple[str, str] | None"]


@dataclass(frozen=True, kw_only=True)
class KindSchema:
    """What the layout validator knows of a plot kind: its name, its layout keys, the
    options it takes, whether it reads a stream, and an optional cross-field check. The
    kinds' own records (streamvis/kinds/contract.py) extend it with how to draw."""

    name: str
    fields: Mapping[str, Field]
    options: tuple[str, ...]
    streams: bool = True  # False: static content (markdown), no `stream` key needed
    validate: FieldsCheck | None = None
