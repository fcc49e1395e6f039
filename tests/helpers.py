"""Shared test helpers: random inputs in chosen layouts, and readable comparisons."""

from __future__ import annotations

import importlib.util
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

import minires as mr
from minires import backend


def random_array(shape, seed=0, dtype=np.float64, layout="contiguous", away_from=None, margin=0.1,
                 positive=False) -> np.ndarray:
    """N(0, 1) samples of `shape`.

    layout: "contiguous", or "transposed" (a non-contiguous view: the transpose of an
            array of reversed shape), or "strided" (every second entry of a bigger array).
    away_from: a kink (e.g. 0 for relu); entries closer than `margin` are pushed away.
    positive: draw from [0.5, 2) instead (for log, sqrt, division).
    """
    rng = np.random.default_rng(seed)
    if positive:
        values = rng.uniform(0.5, 2.0, size=shape)
    else:
        values = rng.standard_normal(shape)
    if away_from is not None:
        close = np.abs(values - away_from) < margin
        values = np.where(close, away_from + np.where(values >= away_from, margin, -margin) * 2, values)
    values = values.astype(dtype)
    if layout == "contiguous" or values.ndim == 0:
        return values
    if layout == "transposed":
        return np.ascontiguousarray(values.T).T  # same values, Fortran order
    if layout == "strided":
        bigger = np.zeros(tuple(2 * n for n in shape), dtype=dtype)
        view = bigger[tuple(slice(None, None, 2) for _ in shape)]
        view[...] = values
        return view
    raise ValueError(f"unknown layout {layout!r}")


def random_tensor(shape, seed=0, requires_grad=True, **kwargs) -> mr.Tensor:
    return mr.Tensor(random_array(shape, seed, **kwargs), requires_grad=requires_grad)


def assert_close(got, want, context: str, atol=1e-12, rtol=1e-12) -> None:
    """np.testing.assert_allclose with the context first (which op, shapes, implementation)."""
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=rtol, err_msg=context)


# ---------------------------------------------------------------- kernel triplets

requires_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
requires_cupy = [pytest.mark.gpu, pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")]
IMPLS = [pytest.param("numba", marks=requires_numba), pytest.param("cupy", marks=requires_cupy)]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


def run_kernel(module, impl: str, fn_name: str, *args):
    """Run module.<fn_name>_<impl> on numpy inputs; return numpy outputs (copied from the GPU for cupy)."""
    fn = getattr(module, f"{fn_name}_{impl}")
    if impl != "cupy":
        return fn(*args)
    import cupy

    out = fn(*[cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args])
    return tuple(cupy.asnumpy(o) for o in out) if isinstance(out, tuple) else cupy.asnumpy(out)


def offline(monkeypatch):
    """No network: urlopen fails the way it does without DNS, and records the urls it was asked for."""
    tried = []

    def urlopen(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tried
