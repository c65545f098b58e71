"""The one rule for names a producer gives (runs, streams, run attributes' keys): safe in a
URL, a file name and a Redis key. Its own module so every part of core can use it."""

from __future__ import annotations

import re
from typing import Any

from streamvis.errors import StreamError

__all__ = ["check_name"]
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def check_name(kind: str, name: Any) -> str:
    """Refuse run and stream names that are empty or unsafe in a URL or a file name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StreamError(
            f"{kind} name {name!r} is not allowed: use 1-128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    return name
