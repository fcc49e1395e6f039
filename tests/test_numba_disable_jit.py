"""With NUMBA_DISABLE_JIT=1 the numba kernels are plain Python loops a student can step into with
pdb, and they still compute the same thing as the reference."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import types
    import numpy as np
    from minires.kernels import batchnorm, im2col, pooling

    # njit handed back the plain function: no numba Dispatcher in the way of pdb
    assert im2col._im2col_jit is im2col._im2col_loops, type(im2col._im2col_jit)
    assert isinstance(im2col._col2im_jit, types.FunctionType), type(im2col._col2im_jit)
    assert isinstance(pooling._max_pool2d_forward_jit, types.FunctionType), type(pooling._max_pool2d_forward_jit)
    assert isinstance(batchnorm._batch_norm_backward_jit, types.FunctionType), type(batchnorm._batch_norm_backward_jit)

    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    args = ((3, 3), (2, 1), (1, 1), (1, 1))
    col = im2col.im2col_numba(x, *args)
    np.testing.assert_allclose(col, im2col.im2col_reference(x, *args), rtol=1e-12, atol=1e-12,
                               err_msg="im2col_numba (jit disabled) vs reference")
    np.testing.assert_allclose(im2col.col2im_numba(col, x.shape, *args), im2col.col2im_reference(col, x.shape, *args),
                               rtol=1e-12, atol=1e-12, err_msg="col2im_numba (jit disabled) vs reference")
    print("ok")
    """
)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
def test_numba_kernels_are_plain_python_with_jit_disabled():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    command = [sys.executable, "-c", SCRIPT]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", (
        f"NUMBA_DISABLE_JIT=1 subprocess failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
