"""`module:function` or `path/file.py:function`: how a python source names the function it
polls and how the server's `--producer` names the function it runs."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from streamvis.errors import StreamvisError
from streamvis.layout.checks import check_text, shown


def check_reference(value: Any) -> str:
    """A layout value that looks like a reference (the function is found only when used)."""
    target, _, attribute = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not target or not attribute:
        raise ValueError(
            f"must look like module:function or path/file.py:function, not {shown(value)}"
        )
    return check_text(value)


def resolve(reference: str) -> Callable[[], Any]:
    """Find `module:function` or `path/file.py:function`."""
    target, _, attribute = reference.rpartition(":")
    if not target or not attribute:
        raise StreamvisError(f"producer {reference!r} must look like module:function")
    if target.endswith(".py"):
        path = Path(target)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.exists():
            raise StreamvisError(f"producer file {target!r} not found")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise StreamvisError(f"producer {reference!r}: {attribute!r} is not a function")
    return cast(Callable[[], Any], function)
