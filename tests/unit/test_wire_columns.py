"""The binary columns body (wire/columns.py): every numeric dtype a batch holds goes through
exactly, the client picks it only for numeric rows (and makes them the columns the server
would make of the same JSON), and a malformed body is refused naming what is wrong."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from streamvis.client.transport import JSON, pieces, rows_request
from streamvis.core.normalize import normalize
from streamvis.wire import columns
from streamvis.wire.codec import WireError
from streamvis.wire.limits import Limits


def _batch() -> dict[str, np.ndarray]:
    return {
        "f8": np.array([0.1, np.nan, -np.inf, 1e300]),
        "f4": np.array([0.1, 2.5, np.nan, -0.0], dtype=np.float32),
        "i8": np.array([-(2**63), 0, 7, 2**63 - 1], dtype=np.int64),
        "b": np.array([True, False, True, True]),
        "t": np.array(
            ["2020-01-01T00:00:00.123456789", "NaT", "1970-01-01", "2262-04-11"],
            dtype="datetime64[ns]",
        ),
    }


def test_every_numeric_dtype_round_trips_exactly() -> None:
    batch = _batch()
    decoded = columns.decode(columns.encode(batch))
    assert list(decoded) == list(batch)
    for name, values in batch.items():
        assert decoded[name].dtype == values.dtype, name
        assert decoded[name].tobytes() == values.tobytes(), name
        assert decoded[name].flags.writeable, name  # its own copy, not a view of the body


def test_big_endian_and_strided_columns_are_sent_little_endian() -> None:
    batch = {"x": np.arange(10, dtype=">f8")[::2], "n": np.arange(5, dtype=">i8")}
    decoded = columns.decode(columns.encode(batch))
    assert decoded["x"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert decoded["n"].tolist() == [0, 1, 2, 3, 4]


def test_text_is_not_encodable_and_goes_as_json() -> None:
    batch = {"x": np.arange(3), "s": np.array(["a", "b", "c"], dtype=object)}
    assert not columns.encodable(batch)
    assert rows_request("/p", "s", batch, binary=True).content_type == JSON


def test_scalar_rows_become_the_columns_the_server_would_make() -> None:
    rows = [{"step": i, "loss": 0.5 * i, "ok": i % 2 == 0} for i in range(5)]
    request = rows_request("/api/v1/runs/r", "s", rows, binary=True)
    assert request.binary
    assert request.rows == 5
    as_json = json.loads(rows_request("/api/v1/runs/r", "s", rows).body)  # what JSON carried
    expected = normalize(as_json, where="rows")
    decoded = columns.decode(request.body)
    for name, values in expected.items():
        assert decoded[name].dtype == values.dtype
        assert decoded[name].tolist() == values.tolist()
    # rows with different keys, text, or an int past int64: JSON, the server decides
    for odd in ([{"a": 1}, {"b": 2}], [{"a": "x"}], [{"a": 2**70}]):
        assert rows_request("/p", "s", odd, binary=True).content_type == JSON


def test_split_pieces_keep_the_encoding_unless_told() -> None:
    batch = {"x": np.arange(10.0)}
    request = rows_request("/api/v1/runs/r", "s", batch, "replace", binary=True)
    assert request.path.endswith("/streams/s?mode=replace")
    halves = pieces("/api/v1/runs/r", request, 2)
    assert [piece.binary for piece in halves] == [True, True]
    assert [piece.mode for piece in halves] == ["replace", "append"]
    assert columns.decode(halves[1].body)["x"].tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]
    (as_json,) = pieces("/api/v1/runs/r", request, 1, binary=False)
    assert as_json.content_type == JSON
    assert json.loads(as_json.body) == {"x": [float(v) for v in range(10)]}


def _body(header: object, payload: bytes = b"", raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return columns.MAGIC + struct.pack("<I", len(text)) + text + payload


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"", "invalid_columns", "starts with b'SVC1'"),
        (b"JSON{}", "invalid_columns", "starts with b'SVC1'"),
        (columns.MAGIC + struct.pack("<I", 99) + b"{}", "invalid_columns", "said to be 99"),
        (_body(None, raw=b"{not json"), "invalid_columns", "header is not JSON"),
        (_body([1, 2]), "invalid_columns", "must be a JSON object"),
        (_body({"rows": -1, "columns": [["x", "<f8"]]}), "invalid_columns", "whole number"),
        (_body({"rows": True, "columns": [["x", "<f8"]]}), "invalid_columns", "whole number"),
        (_body({"rows": 1, "columns": []}), "invalid_columns", "non-empty list"),
        (_body({"rows": 1, "columns": [["x"]]}), "invalid_columns", "column 0 must be"),
        (
            _body({"rows": 1, "columns": [["x", "<U4"]]}, b"abcd"),
            "invalid_columns",
            "column 'x': dtype '<U4' is not one of",
        ),
        (
            _body({"rows": 0, "columns": [["x", "<f8"], ["x", "<i8"]]}),
            "invalid_columns",
            "column 'x' is named twice",
        ),
        (
            _body({"rows": 2, "columns": [["x", "<f8"]]}, b"\0" * 15),
            "invalid_columns",
            "need a body of",
        ),
        (
            _body({"rows": 2**62, "columns": [["x", "<f8"]]}, b"\0" * 8),
            "invalid_columns",
            "need a body of",
        ),
        (
            _body({"rows": 0, "columns": [[f"c{i}", "<f8"] for i in range(3)]}),
            "too_many_columns",
            "3 columns in one batch; the limit is 2",
        ),
        (_body(None, raw=b"[" * 40 + b"]" * 40), "too_deep", "the columns header nests"),
    ],
)
def test_malformed_bodies_are_refused_naming_what_is_wrong(
    body: bytes, code: str, words: str
) -> None:
    with pytest.raises(WireError) as caught:
        columns.decode(body, Limits(max_columns=2))
    assert caught.value.code == code
    assert words in caught.value.detail
