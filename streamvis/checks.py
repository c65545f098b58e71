"""Validators for layout values, shared by the plot and source parts of the spec.

Each check returns the cleaned value or raises ValueError worded "must be ..., not ...";
`Problem` carries such a message with the key path it belongs to, and spec.py turns it
into a SpecError located in the YAML (file:line:col) with the offending line quoted.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from streamvis.fields import Field

Path_ = tuple[str | int, ...]


class Problem(Exception):
    """A validation failure at a key path; turned into a SpecError with a location."""

    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
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
def check_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {describe_type(value)}")
    return value


def check_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {describe_type(value)}")
    return value


def check_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {describe_type(value)}")
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")
    return value


def check_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {describe_type(value)}")
    if value <= 0:
        raise ValueError(f"must be greater than 0, not {value}")
    return float(value)


def check_fraction(value: Any) -> float:
    number = check_number(value)
    if number > 1:
        raise ValueError(f"must be between 0 and 1, not {value}")
    return number


def check_text_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise ValueError(f"must be a list of text, not {describe_type(value)}")
    return value


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
    if value not in LEGEND_POSITIONS:
        raise ValueError(
            f"must be true, false or one of {', '.join(LEGEND_POSITIONS)}, not {value!r}."
            + suggest(value, LEGEND_POSITIONS)
        )
    return value


def check_smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number from 0 to 0.99, not {describe_type(value)}")
    if not 0 <= value <= 0.99:
        raise ValueError(f"must be a number from 0 (off) to 0.99, not {value}")
    return float(value)


X_AXES = ("step", "wall", "relative")


def check_x_axis(value: Any) -> str:
    if value not in X_AXES:
        raise ValueError(
            f"must be one of {', '.join(X_AXES)}, not {value!r}." + suggest(str(value), X_AXES)
        )
    return str(value)


OPTION_CHECKS = {
    "title": check_text,
    "xlabel": check_text,
    "ylabel": check_text,
    "logx": check_flag,
    "logy": check_flag,
    "legend": check_legend,
    "points": check_count,
    "colors": check_text_list,
    "palette": check_text,
    "size": check_number,
    "alpha": check_fraction,
    "line_width": check_number,
    "smoothing": check_smoothing,
    "x_axis": check_x_axis,
}


def one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    def one_of(value: Any) -> str:
        if value not in choices:
            raise ValueError(
                f"must be one of {', '.join(choices)}, not {value!r}." + suggest(value, choices)
            )
        return str(value)

    return one_of


def check_filled(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else describe_type(value)
        raise ValueError(f"must be non-empty text, not {shown}")
    return value


def check_ws_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("ws://", "wss://")):
        raise ValueError(f"must be a ws:// or wss:// URL, not {value!r}")
    return value


def check_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"must be a port number between 1 and 65535, not {value!r}")
    return value


def check_every_ms(value: Any) -> int:
    count = check_count(value)
    if count < 10:
        raise ValueError(f"must be at least 10, not {count}")
    return count


def check_reference(value: Any) -> str:
    target, _, attribute = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not target or not attribute:
        raise ValueError(f"must look like module:function or path/file.py:function, not {value!r}")
    return str(value)


# Source types: each layout key a type takes -> (validator, required). Defaults that depend on
# other keys (a file's format from its extension) are filled in by `_parse_source`.
SOURCE_TYPES: dict[str, dict[str, tuple[Callable[[Any], Any], bool]]] = {
    "websocket": {"url": (check_ws_url, True)},
    "file": {
        "path": (check_filled, True),
        "format": (one_of(("jsonl", "csv")), False),
        "from": (one_of(("start", "end")), False),
    },
    "tcp": {"host": (check_filled, True), "port": (check_port, True)},
    "python": {
        "function": (check_reference, True),
        "every_ms": (check_every_ms, False),
        "mode": (one_of(("append", "replace")), False),
    },
    "kafka": {
        "topic": (check_filled, True),
        "bootstrap_servers": (check_text_list, True),
        "group_id": (check_filled, False),
    },
}


FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}  # not .json: one document


def check_keys(data: Mapping[str, Any], allowed: Sequence[str], path: Path_, what: str) -> None:
    for key in data:
        if key not in allowed:
            raise Problem(
                (*path, key),
                f"unknown key in {what}.{suggest(key, allowed)} Valid keys: {', '.join(allowed)}.",
            )


def field_check(declared: Field) -> Any:
    """The validator for a kind field of this type."""
    if declared.type == "columns":
        return check_text_list
    if declared.type == "count":
        return check_count
    if declared.type == "number":
        return check_real
    if declared.type == "choice":
        return one_of(declared.choices)
    return check_text


def check_group_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a group name (text), not {describe_type(value)}")
    return value


def check_real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {describe_type(value)}")
    return float(value)


def checked(check: Any, value: Any, path: Path_) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise Problem(path, str(exc)) from None
