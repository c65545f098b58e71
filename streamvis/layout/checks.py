"""Validators for layout values, shared by the plot and source parts of the spec.

Each check returns the cleaned value or raises ValueError worded "must be ..., not ...";
`Problem` carries such a message with the key path it belongs to, and spec.py turns it
into a SpecError located in the YAML (file:line:col) with the offending line quoted.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from streamvis.layout import limits
from streamvis.layout.fields import Field

Path_ = tuple[str | int, ...]


class Problem(Exception):
    """A validation failure at a key path; turned into a SpecError with a location."""

    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def shown(value: Any) -> str:
    """`repr(value)` cut short, for error messages: a huge or deeply nested value from a
    layout must not make a huge message (or a RecursionError)."""
    return _SHORT.repr(value)


def suggest(word: Any, choices: Iterable[str]) -> str:
    if not isinstance(word, str) or len(word) > 100:
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def describe_type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


# Option validators: each returns the cleaned value or raises ValueError with "must be ...".
def bounded_text(value: Any, limit: str = "text") -> str:
    """Text no longer than the `limit` field of the limits in force (see layout_limits.py)."""
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {describe_type(value)}")
    most = getattr(limits.current(), limit)
    if len(value) > most:
        raise ValueError(
            f"must be at most {most:,} characters ({limits.ENVIRONMENT[limit]}), "
            f"not {len(value):,}"
        )
    return value


def check_text(value: Any) -> str:
    return bounded_text(value)


def check_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {describe_type(value)}")
    return value


def check_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {describe_type(value)}")
    if value < 1:
        raise ValueError(f"must be at least 1, not {shown(value)}")
    return value


def bounded_count(limit: str) -> Callable[[Any], int]:
    """A check_count that also refuses more than the `limit` field of the limits in force:
    counts that size work or memory (histogram bins, rows kept or shown)."""

    def check(value: Any) -> int:
        count = check_count(value)
        most = getattr(limits.current(), limit)
        if count > most:
            raise ValueError(
                f"must be at most {most:,} ({limits.ENVIRONMENT[limit]}), not {shown(count)}"
            )
        return count

    return check


def check_real(value: Any) -> float:
    """A finite number (int or float; not a boolean, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {describe_type(value)}")
    if isinstance(value, int) and abs(value) > 2**53:
        raise ValueError(f"must be a number of sensible size, not {shown(value)}")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return float(value)


def check_number(value: Any) -> float:
    number = check_real(value)
    if number <= 0:
        raise ValueError(f"must be greater than 0, not {shown(value)}")
    return number


MAX_PIXELS = 1000.0


def check_pixels(value: Any) -> float:
    """A size in screen pixels: above 0, at most MAX_PIXELS."""
    number = check_number(value)
    if number > MAX_PIXELS:
        raise ValueError(f"must be at most {MAX_PIXELS:g} pixels, not {shown(value)}")
    return number


def check_fraction(value: Any) -> float:
    number = check_number(value)
    if number > 1:
        raise ValueError(f"must be between 0 and 1, not {value}")
    return number


def check_text_list(value: Any) -> list[str]:
    """One text or a non-empty list of them, each and the list bounded (layout_limits.py)."""
    if isinstance(value, str):
        return [check_text(value)]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise ValueError(f"must be a list of text, not {describe_type(value)}")
    most = limits.current().columns
    if len(value) > most:
        raise ValueError(
            f"must list at most {most:,} ({limits.ENVIRONMENT['columns']}), not {len(value):,}"
        )
    return [check_text(v) for v in value]


LEGEND_POSITIONS = (
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
    "top",
    "bottom",
    "left",
    "right",
)


def check_legend(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or value not in LEGEND_POSITIONS:
        raise ValueError(
            f"must be true, false or one of {', '.join(LEGEND_POSITIONS)}, not {shown(value)}."
            + suggest(value, LEGEND_POSITIONS)
        )
    return value


def check_smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number from 0 to 0.99, not {describe_type(value)}")
    if not 0 <= value <= 0.99:
        raise ValueError(f"must be a number from 0 (off) to 0.99, not {shown(value)}")
    return float(value)


X_AXES = ("step", "wall", "relative")


def check_x_axis(value: Any) -> str:
    if not isinstance(value, str) or value not in X_AXES:
        raise ValueError(
            f"must be one of {', '.join(X_AXES)}, not {shown(value)}." + suggest(value, X_AXES)
        )
    return str(value)


# [[fill]align][sign][z][#][0][width][grouping][.precision][type]: Python's format mini-language
_FORMAT_SPEC = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?",
    re.DOTALL,
)


def check_format(value: Any) -> str:
    """A `str.format` pattern for one value: text around exactly one `{}` (or `{0}`, with an
    optional `!r`/`!s`/`!a`) whose spec is the standard one with a bounded width and
    precision. No attribute or index lookups (`{0.x}`, `{0[k]}`), no nested fields: a
    layout must not make the server build a 300-million-character string."""
    text = check_text(value)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"is not a valid format ({exc}): {shown(text)}") from None
    placeholders = [
        (name, spec, conversion) for _, name, spec, conversion in parts if name is not None
    ]
    if len(placeholders) != 1:
        raise ValueError(
            f"must hold exactly one {{}} placeholder for the value, such as '{{:,.4g}}', "
            f"not {len(placeholders)}: {shown(text)}"
        )
    name, spec, conversion = placeholders[0]
    if name not in ("", "0"):
        raise ValueError(f"the placeholder must be {{}} or {{0}}, not {{{shown(name)[1:-1]}}}")
    if conversion not in (None, "r", "s", "a"):
        raise ValueError(f"the conversion must be !r, !s or !a, not !{conversion}")
    match = _FORMAT_SPEC.fullmatch(spec or "")
    if "{" in (spec or "") or match is None:
        raise ValueError(f"has a format spec Python does not know: {shown(spec)}")
    most = limits.current().format_width
    for part in ("width", "precision"):
        digits = match.group(part)
        if digits is not None and (len(digits) > 6 or int(digits) > most):
            shown_number = digits if len(digits) <= 12 else f"a number of {len(digits)} digits"
            raise ValueError(
                f"{part} {shown_number} is more than {most} ({limits.ENVIRONMENT['format_width']})"
            )
    return text


OPTION_CHECKS = {
    "title": check_text,
    "xlabel": check_text,
    "ylabel": check_text,
    "logx": check_flag,
    "logy": check_flag,
    "legend": check_legend,
    "points": bounded_count("points"),
    "density_above": check_count,
    "colors": check_text_list,
    "palette": check_text,
    "size": check_pixels,
    "alpha": check_fraction,
    "line_width": check_pixels,
    "smoothing": check_smoothing,
    "x_axis": check_x_axis,
}


def one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    def one_of(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(
                f"must be one of {', '.join(choices)}, not {shown(value)}."
                + suggest(value, choices)
            )
        return str(value)

    return one_of


def check_filled(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        what = shown(value) if isinstance(value, str) else describe_type(value)
        raise ValueError(f"must be non-empty text, not {what}")
    return check_text(value)


def check_keys(data: Mapping[str, Any], allowed: Sequence[str], path: Path_, what: str) -> None:
    for key in data:
        if key not in allowed:
            raise Problem(
                (*path, key),
                f"unknown key in {what}.{suggest(key, allowed)} Valid keys: {', '.join(allowed)}.",
            )


def field_check(declared: Field) -> Any:
    """The validator for a kind field of this type (bounded by its limit, if it has one)."""
    if declared.type == "columns":
        return check_text_list
    if declared.type == "count":
        return bounded_count(declared.limit) if declared.limit else check_count
    if declared.type == "number":
        return check_real
    if declared.type == "choice":
        return one_of(declared.choices)
    if declared.type == "format":
        return check_format
    limit = declared.limit or "text"
    return lambda value: bounded_text(value, limit)


def check_group_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a group name (text), not {describe_type(value)}")
    return check_text(value)


def checked(check: Any, value: Any, path: Path_) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise Problem(path, str(exc)) from None
