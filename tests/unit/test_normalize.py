"""normalize(): every input form becomes a batch of equal-length numpy columns."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from streamvis.core.normalize import as_column, describe_dtype, normalize
from streamvis.errors import StreamError, StreamvisError

INT = np.dtype(np.int64)
FLOAT = np.dtype(np.float64)
FLOAT32 = np.dtype(np.float32)
BOOL = np.dtype(bool)
TEXT = np.dtype(object)
TIME = np.dtype("datetime64[ns]")
WHERE = "run 'r1', stream 'metrics'"


def assert_batch(batch: dict[str, np.ndarray], expected: dict[str, tuple[np.dtype, list]]) -> None:
    """Same column names in the same order, each 1-D with the given dtype and values."""
    assert list(batch) == list(expected)
    for name, (dtype, values) in expected.items():
        column = batch[name]
        assert isinstance(column, np.ndarray), name
        assert column.ndim == 1, name
        assert column.dtype == dtype, f"{name}: {column.dtype} != {dtype}"
        assert len(column) == len(values), name
        if dtype == TEXT:
            assert column.tolist() == values, name
        else:
            np.testing.assert_array_equal(column, np.array(values, dtype=dtype), err_msg=name)


class WithArray:
    """Stands in for a tensor-like object that only offers __array__ (torch is absent)."""

    def __init__(self, values: list[list[float]]) -> None:
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.array(self.values, dtype=dtype)


# ---------------------------------------------------------------- accepted forms


def test_scalar_dict_is_one_row_with_each_dtype():
    batch = normalize(
        {
            "step": 3,
            "loss": 0.25,
            "ok": True,
            "tag": "train",
            "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        }
    )
    assert_batch(
        batch,
        {
            "step": (INT, [3]),
            "loss": (FLOAT, [0.25]),
            "ok": (BOOL, [True]),
            "tag": (TEXT, ["train"]),
            "when": (TIME, [np.datetime64("2024-01-02T03:04:05")]),
        },
    )


def test_numpy_scalars_in_a_scalar_dict():
    batch = normalize(
        {
            "i32": np.int32(7),
            "u8": np.uint8(200),
            "f32": np.float32(1.5),
            "f64": np.float64(-2.25),
            "b": np.bool_(False),
            "s": np.str_("hello"),
            "t": np.datetime64("2024-05-06T07:08", "m"),
        }
    )
    assert_batch(
        batch,
        {
            "i32": (INT, [7]),
            "u8": (INT, [200]),
            "f32": (FLOAT32, [1.5]),
            "f64": (FLOAT, [-2.25]),
            "b": (BOOL, [False]),
            "s": (TEXT, ["hello"]),
            "t": (TIME, [np.datetime64("2024-05-06T07:08")]),
        },
    )
    assert isinstance(batch["s"][0], str)


def test_dict_of_equal_length_lists():
    batch = normalize(
        {
            "step": [1, 2, 3],
            "loss": [0.5, 0.25, 0.125],
            "ok": [True, False, True],
            "tag": ["a", "b", "c"],
        }
    )
    assert_batch(
        batch,
        {
            "step": (INT, [1, 2, 3]),
            "loss": (FLOAT, [0.5, 0.25, 0.125]),
            "ok": (BOOL, [True, False, True]),
            "tag": (TEXT, ["a", "b", "c"]),
        },
    )


def test_dict_of_numpy_arrays_converts_to_the_six_dtypes():
    batch = normalize(
        {
            "i": np.array([1, 2], dtype=np.int16),
            "u": np.array([3, 4], dtype=np.uint32),
            "f": np.array([0.5, 1.5], dtype=np.float32),
            "b": np.array([True, False]),
            "s": np.array(["x", "yy"]),
            "t": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"),
        }
    )
    assert_batch(
        batch,
        {
            "i": (INT, [1, 2]),
            "u": (INT, [3, 4]),
            "f": (FLOAT32, [0.5, 1.5]),
            "b": (BOOL, [True, False]),
            "s": (TEXT, ["x", "yy"]),
            "t": (TIME, [np.datetime64("2024-01-01"), np.datetime64("2024-01-02")]),
        },
    )


def test_list_of_row_dicts_fills_missing_keys():
    batch = normalize(
        [
            {"step": 1, "tag": "a"},
            {"step": 2, "loss": 0.5},
            {"loss": 0.25, "tag": "c"},
        ]
    )
    # Columns in order of first appearance; missing numbers are NaN, missing text None.
    assert_batch(
        batch,
        {
            "step": (FLOAT, [1.0, 2.0, np.nan]),
            "tag": (TEXT, ["a", None, "c"]),
            "loss": (FLOAT, [np.nan, 0.5, 0.25]),
        },
    )


def test_list_of_complete_rows_keeps_ints_and_bools():
    batch = normalize([{"step": 1, "ok": True}, {"step": 2, "ok": False}])
    assert_batch(batch, {"step": (INT, [1, 2]), "ok": (BOOL, [True, False])})


def test_list_of_rows_with_missing_timestamps_gives_nat():
    batch = normalize([{"t": dt.datetime(2024, 1, 1)}, {"t": None}])
    assert batch["t"].dtype == TIME
    assert batch["t"][0] == np.datetime64("2024-01-01")
    assert np.isnat(batch["t"][1])


def test_dataframe():
    frame = pd.DataFrame(
        {
            "step": np.array([1, 2], dtype=np.int32),
            "loss": [0.5, 0.25],
            "ok": [True, False],
            "tag": ["a", "b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    assert_batch(
        normalize(frame),
        {
            "step": (INT, [1, 2]),
            "loss": (FLOAT, [0.5, 0.25]),
            "ok": (BOOL, [True, False]),
            "tag": (TEXT, ["a", "b"]),
            "when": (TIME, [np.datetime64("2024-01-01"), np.datetime64("2024-01-02")]),
        },
    )


def test_two_dimensional_array_with_columns():
    array = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert_batch(
        normalize(array, columns=["x", "y"]),
        {"x": (FLOAT32, [0.0, 2.0, 4.0]), "y": (FLOAT32, [1.0, 3.0, 5.0])},
    )
    ints = np.arange(6).reshape(2, 3)
    assert_batch(
        normalize(ints, columns=("a", "b", "c")),
        {"a": (INT, [0, 3]), "b": (INT, [1, 4]), "c": (INT, [2, 5])},
    )


def test_one_dimensional_array_with_one_name_per_value_is_one_row():
    assert_batch(
        normalize(np.array([1.0, 2.0, 3.0]), columns=["a", "b", "c"]),
        {"a": (FLOAT, [1.0]), "b": (FLOAT, [2.0]), "c": (FLOAT, [3.0])},
    )


def test_one_dimensional_array_with_one_name_is_one_column():
    assert_batch(
        normalize(np.array([4, 5, 6, 7]), columns=["v"]),
        {"v": (INT, [4, 5, 6, 7])},
    )


def test_object_with_dunder_array():
    batch = normalize(WithArray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), columns=["x", "y"])
    assert_batch(batch, {"x": (FLOAT, [1.0, 3.0, 5.0]), "y": (FLOAT, [2.0, 4.0, 6.0])})


def test_dunder_array_object_as_a_column_value():
    class Column:
        def __array__(self, dtype=None, copy=None):
            return np.array([1.0, 2.0], dtype=dtype)

    batch = normalize({"a": Column(), "b": [3, 4]})
    assert_batch(batch, {"a": (FLOAT, [1.0, 2.0]), "b": (INT, [3, 4])})


def test_nan_and_inf_are_accepted():
    batch = normalize({"v": [1.0, np.nan, np.inf, -np.inf]})
    values = batch["v"]
    assert values.dtype == FLOAT
    assert values[0] == 1.0
    assert np.isnan(values[1])
    assert values[2] == np.inf
    assert values[3] == -np.inf
    assert np.isnan(normalize({"v": float("nan")})["v"][0])


def test_none_among_numbers_is_nan():
    assert_batch(normalize({"v": [1, None, 3]}), {"v": (FLOAT, [1.0, np.nan, 3.0])})


def test_empty_list_is_an_empty_batch():
    assert normalize([]) == {}


def test_numbers_and_bools_keep_their_values_when_widened():
    batch = normalize({"v": [True, 2, 3.5]})
    assert_batch(batch, {"v": (FLOAT, [1.0, 2.0, 3.5])})


def test_describe_dtype_names():
    assert describe_dtype(TEXT) == "text"
    assert describe_dtype(TIME) == "timestamps"
    assert describe_dtype(BOOL) == "booleans"
    assert describe_dtype(INT) == "integers"
    assert describe_dtype(FLOAT) == "numbers"
    assert describe_dtype(FLOAT32) == "float32"


# ---------------------------------------------------------------- float widths

F32 = [0.1, -2.5, 3e38]  # 0.1 is not exact in float32: its float32 value must survive as is


def float32_values() -> np.ndarray:
    return np.array(F32, dtype=np.float32)


@pytest.mark.parametrize(
    "form",
    [
        "array",
        "list of np.float32",
        "list of np.float32 with None",
        "rows of np.float32",
        "dataframe",
        "nullable dataframe",
        "tensor-like",
        "2-D array",
        "2-D list of np.float32",
    ],
)
def test_float32_stays_float32_in_every_form(form: str) -> None:
    values = float32_values()
    scalars = list(values)  # np.float32 scalars
    data, columns = {
        "array": ({"v": values}, None),
        "list of np.float32": ({"v": scalars}, None),
        "list of np.float32 with None": ({"v": [*scalars, None]}, None),
        "rows of np.float32": ([{"v": v} for v in scalars] + [{"other": 1}], None),
        "dataframe": (pd.DataFrame({"v": values}), None),
        "nullable dataframe": (pd.DataFrame({"v": pd.array([*F32, None], dtype="Float32")}), None),
        "tensor-like": (WithArray(values.reshape(-1, 1).tolist()), ["v"]),
        "2-D array": (values.reshape(-1, 1), ["v"]),
        "2-D list of np.float32": ([[v] for v in scalars], ["v"]),
    }[form]
    if form == "tensor-like":  # WithArray builds float64 unless asked: give it float32
        data.__array__ = lambda dtype=None, copy=None: values.reshape(-1, 1)
    column = normalize(data, columns=columns)["v"]
    assert column.dtype == FLOAT32, form
    assert column[:3].tobytes() == values.tobytes(), form  # bit for bit, nothing rounded
    assert np.isnan(column[3:]).all(), form  # None and pd.NA are NaN


def test_float16_widens_to_float32_and_other_floats_are_float64() -> None:
    half = np.array([0.5, 1.5], dtype=np.float16)
    assert_batch(normalize({"h": half}), {"h": (FLOAT32, [0.5, 1.5])})
    assert_batch(normalize({"h": np.float16(2.5)}), {"h": (FLOAT32, [2.5])})
    assert_batch(normalize({"h": [np.float16(1), np.float32(2)]}), {"h": (FLOAT32, [1, 2])})
    assert_batch(
        normalize(
            {
                "python": [0.5, 1.5],
                "f64": np.array([0.5, 1.5]),
                "long": np.array([0.5, 1.5], dtype=np.longdouble),
                "f32 and float": [np.float32(0.5), 1.5],  # a Python float is a float64 value
                "f32 and int": [np.float32(0.5), 2],  # as numpy: int64 with float32 is float64
                "only None": [None, None],
            }
        ),
        {
            "python": (FLOAT, [0.5, 1.5]),
            "f64": (FLOAT, [0.5, 1.5]),
            "long": (FLOAT, [0.5, 1.5]),
            "f32 and float": (FLOAT, [0.5, 1.5]),
            "f32 and int": (FLOAT, [0.5, 2.0]),
            "only None": (FLOAT, [np.nan, np.nan]),
        },
    )


# ---------------------------------------------------------------- refused data


@pytest.mark.parametrize(
    ("data", "columns", "message"),
    [
        pytest.param(
            {"a": [1, 2, 3], "b": [1, 2]},
            None,
            "ragged columns: lengths {'a': 3, 'b': 2}",
            id="lists-of-different-lengths",
        ),
        pytest.param(
            {"a": np.arange(3), "b": np.arange(4)},
            None,
            "ragged columns: lengths {'a': 3, 'b': 4}",
            id="arrays-of-different-lengths",
        ),
        pytest.param(
            {"a": 1, "b": [1, 2]},
            None,
            "ragged columns: 'a' is a single value but 'b' is a sequence",
            id="scalar-mixed-with-list",
        ),
        pytest.param(
            np.zeros((2, 3, 4)),
            ["a", "b", "c"],
            "expected a 2-D array (rows x columns), got 3-D with shape (2, 3, 4)",
            id="3d-array",
        ),
        pytest.param(
            np.zeros((2, 3)),
            None,
            "an array needs columns=[...] naming its 3 column(s)",
            id="2d-array-without-columns",
        ),
        pytest.param(
            np.zeros((2, 3)),
            ["a", "b"],
            "expected 2 columns ['a', 'b'], got an array with 3 columns",
            id="wrong-number-of-columns",
        ),
        pytest.param(
            np.zeros(4),
            ["a", "b"],
            "expected 2 columns ['a', 'b'], got an array with 1 columns",
            id="1d-array-matching-neither-rows-nor-columns",
        ),
        pytest.param(
            {"a": ["x", 1]},
            None,
            "column 'a': mixes numbers and text in one column",
            id="text-then-number",
        ),
        pytest.param(
            {"a": [1.5, "x"]},
            None,
            "column 'a': mixes numbers and text in one column",
            id="number-then-text",
        ),
        pytest.param(
            [{"a": 1}, {"a": "x"}],
            None,
            "column 'a': mixes numbers and text in one column",
            id="rows-mixing-text-and-numbers",
        ),
        pytest.param(
            {"a": [dt.datetime(2024, 1, 1), 3]},
            None,
            "column 'a': mixes numbers and timestamps in one column",
            id="timestamps-and-numbers",
        ),
        pytest.param(
            {"a": [1, object()]},
            None,
            "column 'a': cannot store a object (<object object at",
            id="object-in-list",
        ),
        pytest.param(
            {"a": {"nested": 1}},
            None,
            "column 'a': cannot store a dict ({'nested': 1})",
            id="dict-value",
        ),
        pytest.param(
            {"a": [[1, 2], [3]]},
            None,
            "column 'a': values are not one value per row",
            id="ragged-nested-lists",
        ),
        pytest.param(
            {"a": np.zeros((2, 2))},
            None,
            "column 'a': expected one value per row (a 1-D sequence), "
            "got an array of shape (2, 2)",
            id="2d-column",
        ),
        pytest.param(
            {"": 1},
            None,
            "column names must be non-empty strings, got ''",
            id="empty-column-name",
        ),
        pytest.param(
            {3: 1.0},
            None,
            "column names must be non-empty strings, got 3",
            id="non-string-column-name",
        ),
        pytest.param(
            [{"a": 1}, {None: 2}],
            None,
            "column names must be non-empty strings, got None",
            id="none-column-name-in-rows",
        ),
        pytest.param(
            np.zeros((1, 2)),
            ["a", ""],
            "column names must be non-empty strings, got ''",
            id="empty-name-in-columns",
        ),
        pytest.param(
            np.zeros((1, 2)),
            ["a", "a"],
            "column names repeat: ['a', 'a']",
            id="repeated-columns",
        ),
        pytest.param(
            [{"a": 1}, 5],
            None,
            "row 1 is a int; a list of rows must hold dicts",
            id="non-dict-row",
        ),
        pytest.param(
            42,
            None,
            "cannot stream a int; pass a dict, a list of dicts, a DataFrame or an array "
            "with columns=[...]",
            id="int",
        ),
        pytest.param(
            "loss=1",
            None,
            "cannot stream a str; pass a dict",
            id="str",
        ),
        pytest.param(
            {1, 2},
            None,
            "cannot stream a set; pass a dict",
            id="set",
        ),
    ],
)
def test_refused_data_names_where_and_what(data, columns, message):
    with pytest.raises(StreamError, match=re.escape(message)) as info:
        normalize(data, columns=columns, where=WHERE)
    assert str(info.value).startswith(WHERE + ":") or str(info.value).startswith(
        WHERE + ", column"
    )


def test_default_where_is_data():
    with pytest.raises(StreamError, match=r"^data: cannot stream a float"):
        normalize(1.5)


def test_column_error_names_where_and_column():
    with pytest.raises(StreamError) as info:
        normalize({"ok": [1, 2], "bad": ["x", 2]}, where=WHERE)
    assert str(info.value) == f"{WHERE}, column 'bad': mixes numbers and text in one column"


def test_stream_error_is_a_value_error_and_a_streamvis_error():
    with pytest.raises(StreamError) as info:
        normalize(None)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, StreamvisError)


def test_as_column_refuses_complex_numbers():
    with pytest.raises(StreamError, match=re.escape("w: cannot store values of dtype complex128")):
        as_column(np.array([1 + 2j]), "w")


def test_object_dtype_dataframe_keeps_none_for_missing_text():
    frame = pd.DataFrame({"tag": ["a", None]}, dtype=object)
    assert normalize(frame)["tag"].tolist() == ["a", None]


def test_dataframe_missing_text_is_none_like_rows():
    frame = pd.DataFrame({"tag": ["a", None]})
    rows = normalize([{"tag": "a"}, {}])
    assert rows["tag"].tolist() == ["a", None]
    assert normalize(frame)["tag"].tolist() == rows["tag"].tolist()
