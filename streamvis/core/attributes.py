"""Run attributes: a small dict of plain values a run carries (hyperparameters such as `lr`,
`seed`), checked here once for every way in (the hub, the HTTP API, the Client).

Rules (docs/run-explorer.md#run-attributes): a key follows the run-name rule (1-128 letters,
digits, '_', '.', '-', not starting with '.' or '-'); a value is text (at most
`MAX_TEXT` characters), a whole number (|n| < 2**63), a finite float or a bool; None removes
the key. Setting merges into what the run holds; at most `MAX_KEYS` keys per run. A refused
change raises `AttributesError` naming the run and key, and changes nothing.
"""

from __future__ import annotations

import json
import math
import numbers
import threading
from collections.abc import Mapping
from typing import Any

from streamvis.core.names import check_name
from streamvis.errors import AttributesError, StreamError

__all__ = [
    "MAX_KEYS", "MAX_TEXT", "AttributeValue", "Changes", "RunAttributes", "as_text",
    "checked_changes", "merged",
]  # fmt: skip
MAX_KEYS = 64  # keys one run may hold
MAX_TEXT = 200  # characters of a text value
_INT_LIMIT = 2**63  # whole numbers stay within what SQLite, Redis and JSON readers keep exact
AttributeValue = str | int | float | bool
Changes = dict[str, AttributeValue | None]  # checked changes: None removes the key


def _checked_key(run: str, key: Any) -> str:
    try:
        return check_name("attribute", key)
    except StreamError as exc:
        raise AttributesError(
            f"run '{run}': {exc}", run=run, key=key if isinstance(key, str) else None
        ) from None


def _checked_value(run: str, key: str, value: Any) -> AttributeValue | None:
    """The value as the plain Python type stored (numpy scalars become int/float/bool)."""
    where = f"run '{run}', attribute '{key}'"
    if value is None or isinstance(value, bool):
        return value
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy (or similar) scalar
        if isinstance(value, bool):
            return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise AttributesError(
                f"{where}: text of {len(value)} characters; the limit is {MAX_TEXT}",
                run=run,
                key=key,
            )
        return value
    if isinstance(value, numbers.Integral):
        if not -_INT_LIMIT < int(value) < _INT_LIMIT:
            raise AttributesError(
                f"{where}: whole number out of range (|n| must be below 2**63)", run=run, key=key
            )
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise AttributesError(f"{where}: {number} is not a finite number", run=run, key=key)
        return number
    raise AttributesError(
        f"{where}: a value must be text, a number or a bool (None removes it), not "
        f"{type(value).__name__}",
        run=run,
        key=key,
    )


def checked_changes(run: str, given: Any) -> Changes:
    """`given` (a mapping of key -> value, None to remove) checked key by key; raises
    AttributesError naming the run and the first bad key."""
    if not isinstance(given, Mapping):
        raise AttributesError(
            f"run '{run}': attributes must be a mapping of names to values, not "
            f"{type(given).__name__}",
            run=run,
        )
    if len(given) > MAX_KEYS:
        raise AttributesError(
            f"run '{run}': {len(given)} attributes given; a run holds at most {MAX_KEYS}",
            run=run,
        )
    changes: Changes = {}
    for key, value in given.items():
        name = _checked_key(run, key)
        changes[name] = _checked_value(run, name, value)
    return changes


def merged(
    run: str, current: Mapping[str, AttributeValue], changes: Mapping[str, AttributeValue | None]
) -> dict[str, AttributeValue]:
    """`current` with `changes` applied (None removes a key); AttributesError when the
    result holds more than MAX_KEYS keys."""
    result = dict(current)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > MAX_KEYS:
        added = sorted(set(result) - set(current))
        raise AttributesError(
            f"run '{run}': {len(result)} attributes after this change; a run holds at most "
            f"{MAX_KEYS} (remove some with None first)",
            run=run,
            key=added[0] if added else None,
        )
    return result


def as_text(attributes: Mapping[str, AttributeValue]) -> str:
    """One line of plain text for a run's attributes, `lr=0.0003 seed=1 opt=adam` (text
    with spaces, quotes, '=' or nothing in it is JSON-quoted; bools are true/false), for
    `streamvis ls` and the runs panel. Plain text: a page must still show it as text."""
    shown = []
    for key, value in attributes.items():
        plain = isinstance(value, str) and value and not any(c in value for c in ' "=\t\n')
        shown.append(f"{key}={value if plain else json.dumps(value)}")
    return " ".join(shown)


class RunAttributes:
    """Every run's attributes in one process (the hub holds one); thread-safe. Each read
    returns a copy, so a caller never sees a dict change under it."""

    def __init__(self) -> None:
        self._by_run: dict[str, dict[str, AttributeValue]] = {}
        self._lock = threading.Lock()

    def of(self, run: str) -> dict[str, AttributeValue]:
        return dict(self._by_run.get(run, {}))

    def runs(self) -> set[str]:
        return set(self._by_run)

    def apply(self, run: str, given: Any) -> tuple[Changes, dict[str, AttributeValue]]:
        """Check `given` and merge it into the run's attributes; returns (the checked
        changes, the run's attributes after them). Nothing changes when it raises."""
        changes = checked_changes(run, given)
        with self._lock:
            result = merged(run, self._by_run.get(run, {}), changes)
            self._set(run, result)
        return changes, dict(result)

    def replace(self, run: str, attributes: Mapping[str, AttributeValue]) -> None:
        """Make `attributes` (read back from a store: already checked) the run's own."""
        with self._lock:
            self._set(run, dict(attributes))

    def forget(self, run: str) -> None:
        with self._lock:
            self._by_run.pop(run, None)

    def _set(self, run: str, attributes: dict[str, AttributeValue]) -> None:
        if attributes:
            self._by_run[run] = attributes
        else:
            self._by_run.pop(run, None)
