"""What `sv.Client` does at exit that is not sending: how long it may wait when no request
gets through (`exit_timeout`, STREAMVIS_EXIT_TIMEOUT, 5 s by default), and the report of
the rows it gave up on (one `Client.errors` entry per stream, one warning line)."""

from __future__ import annotations

import math
import os
from typing import Any

from streamvis.errors import ClientError

DEFAULT_EXIT_TIMEOUT = 5.0


def exit_timeout_setting(value: float | None) -> float:
    """`exit_timeout` as given, else STREAMVIS_EXIT_TIMEOUT, else 5 s; refused unless a
    finite number of seconds >= 0, naming where it came from."""
    where = "Client(exit_timeout=...)"
    if value is None:
        raw = os.environ.get("STREAMVIS_EXIT_TIMEOUT")
        if raw is None or not raw.strip():
            return DEFAULT_EXIT_TIMEOUT
        where = "STREAMVIS_EXIT_TIMEOUT"
        try:
            value = float(raw)
        except ValueError:
            raise ClientError(
                f"{where}: the exit timeout must be a number of seconds >= 0, not {raw!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ok = False
    else:
        ok = math.isfinite(value) and value >= 0
    if not ok:
        raise ClientError(
            f"{where}: the exit timeout must be a number of seconds >= 0, not {value!r}"
        )
    return float(value)


def undelivered(
    run: str,
    url: str,
    given_up: dict[tuple[str | None, str | None], int],
    last_failure: str,
    stuck: bool,
    waited: float,
) -> tuple[list[dict[str, Any]], str] | None:
    """The `Client.errors` entries and the warning line for rows that never reached the
    server at `url` (rows per (run, stream) in `given_up`, run None: the client's `run`);
    None if there are none."""
    counted: dict[tuple[str, str | None], int] = {}
    for (target_run, stream), rows in given_up.items():
        if rows:
            key = (target_run or run, stream)
            counted[key] = counted.get(key, 0) + rows
    if not counted:
        return None
    if last_failure:
        why = f"the server could not be reached ({last_failure})"
    elif stuck:
        why = "the server did not answer"
    else:
        why = "the client closed before they were sent"
    errors = []
    for (target_run, stream), rows in counted.items():
        where = f"run '{target_run}'" + (f", stream '{stream}'" if stream else "")
        errors.append(
            {
                "run": target_run,
                "stream": stream,
                "status": None,
                "error": "undelivered",
                "detail": f"{where}: {rows} rows not delivered to {url}: {why}",
                "rows": rows,
            }
        )
    runs = list(dict.fromkeys(target_run for target_run, _ in counted))
    several = len(runs) > 1
    of = f"runs {', '.join(repr(r) for r in runs)}" if several else f"run '{runs[0]}'"
    streams = ", ".join(
        repr(f"{target_run}/{stream}" if several else stream) for target_run, stream in counted
    )
    message = (
        f"streamvis client: {sum(counted.values())} rows of {of} not delivered to "
        f"{url} (streams {streams}): {why}; gave up after {waited:g} s without a request "
        "getting through (exit_timeout, STREAMVIS_EXIT_TIMEOUT); see Client.errors"
    )
    return errors, message
