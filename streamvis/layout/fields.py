"""The layout keys a plot kind declares, with their types (no imports: kinds and the spec
validator both read them). `x: column(required=True)` means: the key `x` names one column."""

from __future__ import annotations

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
