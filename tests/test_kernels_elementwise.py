"""ReLU and residual-add kernels: numba and cupy agree with the NumPy reference, on
contiguous and non-contiguous inputs, in both float dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DTYPES, IMPLS, TOL, random_array, run_kernel

from minires.kernels import elementwise

SHAPES = [(1,), (2, 3, 5, 5), (4, 16, 8, 8)]
LAYOUTS = ["contiguous", "transposed", "strided"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_elementwise_kernels_agree_with_reference(impl, dtype, shape, layout):
    x = random_array(shape, seed=0, dtype=dtype, layout=layout, away_from=0.0, margin=1e-3)  # no ties at the kink
    gy = random_array(shape, seed=1, dtype=dtype, layout=layout)
    context = f"[{impl}] shape={shape}, {layout}, {np.dtype(dtype).name}"
    for name, args in [("relu_forward", (x,)), ("relu_backward", (x, gy)), ("add_forward", (x, gy))]:
        got = run_kernel(elementwise, impl, name, *args)
        want = getattr(elementwise, f"{name}_reference")(*args)
        assert got.dtype == want.dtype and got.shape == want.shape, f"{name}{context}"
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name}{context}")


def test_relu_reference_kink_convention():
    x = np.array([-1.0, 0.0, 2.0])
    assert elementwise.relu_forward_reference(x).tolist() == [0.0, 0.0, 2.0]
    assert elementwise.relu_backward_reference(x, np.ones(3)).tolist() == [0.0, 0.0, 1.0]
