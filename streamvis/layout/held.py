"""A run's layout as the hub holds it, made a `Layout` where a page or the API needs one.

The hub keeps layouts without looking inside: plain data (a producer's PUT, a layout
replayed from the store) or a `Layout` a layout file's watcher already validated. The store
and the hub therefore never import the layout model; the page validates plain data when it
first draws it, once per value.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from streamvis.errors import SpecError
from streamvis.layout.spec import Layout, layout_from_dict, layout_to_dict

_KEEP = 256  # validated layouts remembered (a page asks on every layout version change)
_validated: OrderedDict[int, tuple[Any, Layout | SpecError]] = OrderedDict()
_lock = threading.Lock()


def as_layout(held: Any, run: str) -> Layout | None:
    """The `Layout` for what the hub holds for `run` (None for nothing); plain data is
    validated once and remembered. Raises SpecError naming the run for data that no longer
    makes a layout (e.g. stored by an older version)."""
    if held is None or isinstance(held, Layout):
        return held
    key = id(held)
    with _lock:
        known = _validated.get(key)
        if known is not None and known[0] is held:
            _validated.move_to_end(key)
            outcome = known[1]
        else:
            outcome = None
    if outcome is None:
        try:
            outcome = layout_from_dict(dict(held), source=f"layout of run '{run}'")
        except SpecError as exc:
            outcome = exc
        with _lock:
            _validated[key] = (held, outcome)  # holding `held` keeps its id from being reused
            while len(_validated) > _KEEP:
                _validated.popitem(last=False)
    if isinstance(outcome, SpecError):
        raise outcome
    return outcome


def as_data(held: Any) -> dict[str, Any] | None:
    """What the hub holds for a run, as the plain data the HTTP API returns."""
    if held is None:
        return None
    if isinstance(held, Mapping):
        return dict(held)
    return layout_to_dict(held)
