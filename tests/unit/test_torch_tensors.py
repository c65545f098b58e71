"""Real torch tensors (skipped where torch is not installed; CI does not install it)."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.core.hub import Hub

torch = pytest.importorskip("torch")


def test_tensors_as_batch_column_and_scalar() -> None:
    hub = Hub()
    weights = torch.arange(6, dtype=torch.float32, requires_grad=True).reshape(3, 2) * 2
    hub.stream("w", weights, columns=["a", "b"])  # a 2-D tensor that needs grad
    hub.stream("w", {"a": torch.tensor([10.0]), "b": torch.tensor([11.0])})
    hub.stream("w", {"a": torch.tensor(12.0), "b": 13.0})  # 0-d tensor as a scalar
    stored = hub.read("w")
    np.testing.assert_array_equal(stored["a"], [0, 4, 8, 10, 12])
    np.testing.assert_array_equal(stored["b"], [2, 6, 10, 11, 13])
    assert stored["a"].dtype == np.float32  # float32 tensors stay float32
    assert stored["b"].dtype == np.float64  # the Python float 13.0 widened the column
