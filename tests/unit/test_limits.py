"""The bounds on producer input, in-process: the pre-parse scan of JSON text (depth and
number length, strings told apart), the STREAMVIS_* settings, the websocket message budget,
and the column-name limit every stream keeps."""

from __future__ import annotations

import json

import pytest

import streamvis as sv
from streamvis.errors import StreamError
from streamvis.wire.codec import WireError, check_bounds, parse_body, parse_message
from streamvis.wire.limits import (
    DEFAULT_MAX_BODY,
    Limits,
    TokenBucket,
    limits_from_environment,
    max_body_from_environment,
)

LIMITS = Limits(max_depth=4, max_number_chars=10)


def refusal(raw: bytes, limits: Limits = LIMITS) -> str | None:
    """The error code check_bounds gives, or None when the text passes."""
    try:
        check_bounds(raw, limits)
    except WireError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[[[[1]]]]", None),  # exactly at the depth limit
        (b"[[[[[1]]]]]", "too_deep"),
        (b'{"a": {"b": {"c": {"d": {}}}}}', "too_deep"),
        (b'{"a": "[[[[[[[[[[[[[[[["}', None),  # brackets inside a string do not nest
        (b'{"a\\"[[[[[": "]]]]]"}', None),  # nor after an escaped quote
        (b'{"a\\\\": [[[[[1]]]]]}', "too_deep"),  # an escaped backslash ends no string
        (b"[1234567890]", None),  # ten characters
        (b"[12345678901]", "number_too_long"),
        (b"[-1.2345e+10]", "number_too_long"),
        (b'["12345678901234567890"]', None),  # digits inside a string are text
        (b'["x", 123456789012]', "number_too_long"),
        (b'"unterminated [[[[[[[[ 123456789012345', None),  # left for the parser to refuse
        (b'"\\"\\"\\"\\"\\', None),  # escaped quotes, then a lone backslash at the end
        (b"", None),
    ],
)
def test_check_bounds(raw: bytes, code: str | None) -> None:
    assert refusal(raw) == code


def test_check_bounds_names_the_limit_and_its_variable() -> None:
    with pytest.raises(WireError) as deep:
        check_bounds(b"[" * 3000 + b"]" * 3000, Limits(), "body")
    assert deep.value.detail == (
        "body nests arrays/objects 3000 levels deep; the limit is 32 (STREAMVIS_MAX_DEPTH)"
    )
    with pytest.raises(WireError) as long:
        check_bounds(b'{"x": ' + b"7" * 5000 + b"}", Limits(), "line 3")
    assert long.value.detail == (
        "line 3 holds a number of 5000 characters (77777777777777777777...); the limit is 100 "
        "(STREAMVIS_MAX_NUMBER_CHARS)"
    )


def test_depth_is_counted_across_scan_chunks() -> None:
    """Nesting that spans the 1 MiB chunks the scan works in is still counted whole."""
    filler = b"[" + b"0," * (600 * 1024) + b"0]"
    assert refusal(b"[[[" + filler + b"]]]") is None
    assert refusal(b"[[[[" + filler + b"]]]]") == "too_deep"
    assert refusal(b"[" * 2 + b" " * (1 << 20) + b"[[[1]]]" + b"]" * 2) == "too_deep"


def test_parse_body_and_message_apply_the_limits() -> None:
    with pytest.raises(WireError) as deep:
        parse_body(b"[[[[[[1]]]]]]", "application/json", LIMITS)
    assert deep.value.code == "too_deep"
    with pytest.raises(WireError) as long:
        parse_body(b'{"x": 1}\n{"x": 123456789012}\n', "application/x-ndjson", LIMITS)
    assert long.value.code == "number_too_long"
    assert parse_message(b'{"x": [1, 2]}', LIMITS) == {"x": [1, 2]}
    assert parse_message('{"x": "\u00e9"}', LIMITS) == {"x": "\u00e9"}
    with pytest.raises(WireError) as invalid:
        parse_message(b'{"x": "\xff"}', LIMITS)
    assert (invalid.value.code, invalid.value.detail) == (
        "invalid_json",
        "message is not UTF-8: invalid start byte at byte 7",
    )


def test_a_raised_number_limit_still_refuses_what_python_cannot_convert() -> None:
    """Past Python's own 4300-digit int limit the parser refuses, not crashes."""
    with pytest.raises(WireError) as long:
        parse_body(b"[" + b"9" * 5000 + b"]", "application/json", Limits(max_number_chars=9000))
    assert long.value.code == "number_too_long"


def test_limits_from_environment() -> None:
    assert limits_from_environment({}) == Limits()
    assert limits_from_environment(
        {"STREAMVIS_MAX_DEPTH": "8", "STREAMVIS_WS_RATE": "2.5", "STREAMVIS_WS_BURST": "5000"}
    ) == Limits(max_depth=8, ws_rate=2.5, ws_burst=5000)
    for environ, message in [
        ({"STREAMVIS_MAX_DEPTH": "deep"}, "STREAMVIS_MAX_DEPTH='deep' is not a number"),
        ({"STREAMVIS_MAX_COLUMNS": "0"}, "STREAMVIS_MAX_COLUMNS must be positive"),
        ({"STREAMVIS_MAX_COLUMN_NAME": "300"}, "may not exceed 256"),
        ({"STREAMVIS_WS_BURST": "10"}, r"must be at least STREAMVIS_WS_MAX_MESSAGES \(1000\)"),
    ]:
        with pytest.raises(SystemExit, match=message):
            limits_from_environment(environ)
    assert max_body_from_environment({}) == DEFAULT_MAX_BODY
    assert max_body_from_environment({"STREAMVIS_MAX_BODY": "4096"}) == 4096
    for bad in ("-1", "1k", "100"):
        with pytest.raises(SystemExit, match="STREAMVIS_MAX_BODY"):
            max_body_from_environment({"STREAMVIS_MAX_BODY": bad})


def test_token_bucket_spends_refills_and_refuses_whole_frames() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=20, clock=lambda: now[0])
    assert bucket.take(15) == 0.0
    assert bucket.take(10) == pytest.approx(0.5)  # 5 left: 5 more take half a second
    assert bucket.take(5) == 0.0  # the refused frame spent nothing
    now[0] = 1.0
    assert bucket.take(10) == 0.0
    now[0] = 100.0  # refills stop at the burst
    assert bucket.take(20) == 0.0
    assert bucket.take(1) == pytest.approx(0.1)


def test_column_names_are_bounded_in_process() -> None:
    hub = sv.Hub()
    hub.write("s", {"c" * 256: [1]})
    with pytest.raises(StreamError, match="is 257 characters long; the limit is 256"):
        hub.write("s", {"d" * 257: [1]})
    assert json.dumps(list(hub.table("default", "s").describe()["columns"])) == json.dumps(
        ["c" * 256]
    )
