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


# ---- NaN and infinity: the same non-finite results as the reference (and PyTorch) -------------


def plant_nonfinite(x, seed, fraction=0.3):
    """x with about `fraction` of its entries (chosen at random) set to NaN, +inf or -inf, in place."""
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape) < fraction
    x[hit] = rng.choice([np.nan, np.inf, -np.inf], size=int(hit.sum()))
    return x


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf + -inf
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(1,), (1, 3, 5, 7)], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_elementwise_kernels_propagate_nan_and_inf_as_the_reference(impl, dtype, shape, layout):
    x = plant_nonfinite(random_array(shape, seed=0, dtype=dtype, layout=layout), seed=3)
    gy = plant_nonfinite(random_array(shape, seed=1, dtype=dtype, layout=layout), seed=4)
    if shape == (1,):
        x[...] = np.nan  # the case: relu(nan) is nan, and its gradient passes
    context = f"[{impl}] with NaN/inf, shape={shape}, {layout}, {np.dtype(dtype).name}"
    for name, args in [("relu_forward", (x,)), ("relu_backward", (x, gy)), ("add_forward", (x, gy))]:
        got = run_kernel(elementwise, impl, name, *args)
        want = getattr(elementwise, f"{name}_reference")(*args)
        assert got.dtype == want.dtype, f"{name}{context}"
        np.testing.assert_array_equal(got, want, err_msg=f"{name}{context}")  # NaN == NaN here, inf == inf


def test_relu_reference_nan_and_inf_convention():
    # as PyTorch: relu(nan) = nan; backward is threshold_backward, gx = 0 where x <= 0, else gy,
    # so a NaN input passes its gradient on, and x <= 0 gives 0 even for an infinite gy
    x = np.array([np.nan, -np.inf, np.inf, -1.0, 0.0, 2.0])
    np.testing.assert_array_equal(elementwise.relu_forward_reference(x), [np.nan, 0, np.inf, 0, 0, 2])
    gy = np.array([3.0, np.inf, -np.inf, np.nan, np.inf, np.nan])
    np.testing.assert_array_equal(elementwise.relu_backward_reference(x, gy), [3.0, 0, -np.inf, 0, 0, np.nan])


def test_relu_of_nan_is_nan_through_the_public_path():
    import minires as mr
    import minires.nn.functional as F

    x = mr.tensor([np.nan, -1.0, 2.0], requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.numpy(), [np.nan, 0.0, 2.0], err_msg="F.relu(mr.tensor([nan, -1, 2]))")
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0], err_msg="gradient of F.relu at [nan, -1, 2]")


def test_relu_reference_matches_torch_on_nan_and_inf():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the reference")
    x = np.array([np.nan, -np.inf, np.inf, -1.0, 0.0, 2.0])
    gy = np.array([3.0, np.inf, -np.inf, np.nan, np.inf, np.nan])
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.relu(x_torch)
    y_torch.backward(torch.from_numpy(gy))
    np.testing.assert_array_equal(elementwise.relu_forward_reference(x), y_torch.detach().numpy(),
                                  err_msg="relu_forward_reference vs torch.relu on NaN/inf")
    np.testing.assert_array_equal(elementwise.relu_backward_reference(x, gy), x_torch.grad.numpy(),
                                  err_msg="relu_backward_reference vs torch on NaN/inf")
