"""The checks `sv.Client(...)` makes on its address and settings when it is built, so a
mistake is a ClientError naming the setting at once, not a failure later in the sender
thread (or a queue that can never hold a row)."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any
from urllib.parse import SplitResult, urlsplit

from streamvis.errors import ClientError
from streamvis.wire.limits import DEFAULT_MAX_BODY


def checked_url(url: Any) -> tuple[str, SplitResult]:
    """(the url with http:// added when it has no scheme, its parts); ClientError unless
    it is http(s)://host[:port][/path]."""
    if not isinstance(url, str):
        raise ClientError(
            f"Client url must be text like http://host:port, not {type(url).__name__}"
        )
    full = url if "://" in url else f"http://{url}"
    parts = urlsplit(full)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"Client url must look like http://host:port, not {url!r}", url=url)
    try:
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError:
        raise ClientError(
            f"Client url {url!r}: the port must be a number from 0 to 65535", url=url
        ) from None
    return full, parts


def whole(name: str, value: Any, least: int = 1) -> int:
    """A setting that counts something (rows, bytes): a whole number >= `least`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ClientError(
            f"Client({name}={value!r:.40}): {name} must be a whole number of at least {least}"
        )
    return int(value)


def max_body_setting(value: Any) -> int:
    """The largest request body to send at first: `max_body`, else STREAMVIS_MAX_BODY,
    else the server's default limit (lowered later if the server says it is smaller)."""
    if value is not None:
        return whole("max_body", value)
    text = os.environ.get("STREAMVIS_MAX_BODY", "").strip()
    if not text:
        return DEFAULT_MAX_BODY
    if not text.isdigit() or int(text) < 1:
        raise ClientError(
            f"STREAMVIS_MAX_BODY={text[:40]!r}: the body limit must be a whole number of "
            "bytes, at least 1"
        )
    return int(text)


def seconds(name: str, value: Any, *, zero: bool) -> float:
    """A setting in seconds: a finite number > 0 (>= 0 when `zero` is allowed)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = math.isfinite(value) and (value >= 0 if zero else value > 0)
    if not ok:
        least = "0 or more" if zero else "more than 0"
        raise ClientError(
            f"Client({name}={value!r:.40}): {name} must be a number of seconds, {least}"
        )
    return float(value)


def checked_token(value: Any) -> str | None:
    """The bearer token: text, or None for none."""
    if value is not None and not isinstance(value, str):
        raise ClientError(f"Client(token=...): the token must be text, not {type(value).__name__}")
    return value
