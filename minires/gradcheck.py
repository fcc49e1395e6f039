"""Check a backward against central differences, with a random cotangent.

For y = f(x) and a fixed random cotangent r (shaped like y), the scalar
L(x) = <f(x), r> = sum(f(x) * r) has the gradient dL/dx = J^T r, which is exactly
what backward computes when it is seeded with grad=r. Its numerical estimate is

    dL/dx[j] ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)      (error O(eps^2))

Why random r and not r = 1 (i.e. checking sum(f(x)))? With r = 1 whole terms of a
backward can vanish: in batch norm, the variance term is multiplied by
sum(x_hat) = 0, so a backward that forgets it still passes a sum check. A random
r weights every output differently and catches it (tests/test_gradcheck.py shows both).

Non-differentiable points: relu at 0, abs at 0, and ties in max are kinks, where
the central difference averages the two one-sided slopes and disagrees with the
convention backward uses (relu'(0) = 0, ties split evenly). gradcheck does not
dodge them: draw inputs away from kinks (e.g. |x| >= 0.1 for relu, distinct values
for max) and keep eps well below that distance.

gradgradcheck (below) checks second derivatives the same way: the gradient of
<J(x)^T v, u>, the first backward seeded with v and projected on a random u, with
respect to x and v, where the analytical side is a backward through the first backward
recorded with create_graph=True.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import backend
from .autograd.gradients import grad as autograd_grad
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck when backward and central differences disagree."""


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    name: str | None = None,
) -> bool:
    """Compare fn's backward with central differences for every input that requires grad.

    fn:      takes the inputs (Tensors or other arguments) and returns one Tensor
    inputs:  the arguments; each float64 Tensor with requires_grad=True is checked.
             They are perturbed in place one entry at a time and restored exactly,
             so non-contiguous inputs stay non-contiguous.
    passes when |analytical - numerical| <= atol + rtol * |numerical| everywhere.
    Returns True, or raises GradcheckError naming the input, the worst entry, both
    gradients, the settings and the cotangent's seed.

    >>> import minires as mr
    >>> x = mr.randn(3, 4, dtype="float64", requires_grad=True)
    >>> mr.gradcheck(lambda x: (x * x).tanh(), x)
    True
    """
    name = name or getattr(fn, "__name__", repr(fn))
    checked = _checked_inputs("gradcheck", name, inputs)

    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck({name}): fn must return a Tensor, got {type(y).__name__}")
    xp = backend.array_module(y.array)
    # r ~ N(0, 1), from a stream of its own: default_rng(seed) would hand back the very
    # numbers of an input drawn with default_rng(seed), and r = x can hide errors
    cotangent = xp.asarray(np.random.default_rng([seed, 1]).standard_normal(y.shape))

    for i in checked:
        inputs[i].zero_grad()
    y.backward(cotangent)
    analytical = {i: _grad_or_zeros(inputs[i]) for i in checked}

    def projected_output() -> float:  # L(x) = <f(x), r>
        with no_grad():
            return float((fn(*inputs).array * cotangent).sum())

    passed = []
    for i in checked:
        numerical = _central_differences(inputs[i].array, projected_output, eps)  # the input itself moves
        got = _to_numpy(analytical[i])
        too_far = np.abs(got - numerical) > atol + rtol * np.abs(numerical)
        if too_far.any():
            raise GradcheckError(
                _failure_report(name, inputs, i, passed, got, numerical, too_far, y.shape, eps, atol, rtol, seed)
            )
        passed.append(i)
    return True


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    name: str | None = None,
) -> bool:
    """Compare second derivatives (a backward of the backward) with central differences,
    as torch.autograd.gradgradcheck.

    func:    takes the inputs and returns a Tensor or a tuple of Tensors
    inputs:  a tuple or list of the arguments (or one Tensor), as torch's gradgradcheck takes
             them: gradgradcheck(f, (x, w)). NB minires's gradcheck takes them spread out,
             gradcheck(f, x, w). Each float64 Tensor with requires_grad=True is checked
             (perturbed in place one entry at a time, and restored exactly).
    grad_outputs: v, one cotangent per output of func that requires grad (a Tensor or a
             tuple); None draws them ~ N(0, 1) with requires_grad=True (torch draws
             U(-1, 1)). Those that require grad (float64) are checked too.
    gen_non_contig_grad_outputs: the drawn v are non-contiguous views.
    raise_exception: False returns False on a failure instead of raising.

    What is checked: g(x, v) = autograd.grad(func(*inputs), inputs, v) = J(x)^T v, the
    gradient of <func(x), v>. For a random u (one array per checked input) the scalar
        L(x, v) = sum_i <g_i(x, v), u_i>
    has an analytical gradient in x and v, a backward through g recorded with
    create_graph=True (each op's backward_recorded, the linear ops' adjoints), and a
    numerical one, central differences of L with g from the plain first-order backward.
    So a double backward fails both when its derivative is wrong and when the values its
    recorded gradient computes differ from the plain backward's. torch checks the whole
    Jacobian of g (one backward per entry of g); the random u, as gradcheck's random
    cotangent, checks it along one random direction (one backward), which misses an error
    only if the error happens to be orthogonal to u.
    Passes when |analytical - numerical| <= atol + rtol * |numerical| everywhere.
    Returns True, or raises GradcheckError naming the input (or grad_output), the worst
    entry and both values.

    >>> import minires as mr
    >>> x = mr.randn(3, 4, dtype="float64", requires_grad=True)
    >>> mr.gradgradcheck(lambda x: (x * x).tanh(), (x,))
    True
    """
    name = name or getattr(func, "__name__", repr(func))
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = _checked_inputs("gradgradcheck", name, inputs)
    xs = [inputs[i] for i in checked]
    xp = backend.array_module(xs[0].array)
    given = grad_outputs is not None
    if not given:
        rng = np.random.default_rng([seed, 2])  # streams of their own, as gradcheck's cotangent
        with enable_grad():
            outputs = _differentiable_outputs(func(*inputs), name)
        grad_outputs = tuple(
            Tensor(_random_array(xp, rng, out.shape, gen_non_contig_grad_outputs), requires_grad=True)
            for out in outputs
        )
    grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
    checked_v = [k for k, v in enumerate(grad_outputs) if isinstance(v, Tensor) and v.requires_grad]
    for k in checked_v:
        if grad_outputs[k].dtype != np.float64:
            raise TypeError(f"gradgradcheck({name}): grad_output {k} is {grad_outputs[k].dtype}; "
                            f"finite differences need float64")
    rng = np.random.default_rng([seed, 3])
    us = [_random_array(xp, rng, x.shape, False) for x in xs]

    def first_gradients(create_graph: bool) -> tuple:  # g = J^T v, one per checked input (None: unused)
        with enable_grad():  # gradgradcheck may be called under no_grad: the first backward needs its graph
            outs = _differentiable_outputs(func(*inputs), name)
            if len(grad_outputs) != len(outs):
                raise ValueError(f"gradgradcheck({name}): got {len(grad_outputs)} grad_outputs for "
                                 f"{len(outs)} outputs that require grad")
            return autograd_grad(outs, xs, grad_outputs, create_graph=create_graph, allow_unused=True)

    def projected_gradient() -> float:  # L(x, v) = sum_i <g_i, u_i>, by the plain backward
        return float(sum(float((g.array * u).sum()) for g, u in zip(first_gradients(False), us) if g is not None))

    targets = [(f"input {i}", inputs[i]) for i in checked] + [(f"grad_output {k}", grad_outputs[k]) for k in checked_v]
    analytical = [None] * len(targets)
    with enable_grad():  # L by the recorded backward, then its gradient: the double backward
        terms = [(g * u).sum() for g, u in zip(first_gradients(True), us) if g is not None and g.requires_grad]
        if terms:
            analytical = list(autograd_grad(sum(terms[1:], terms[0]), [t for _, t in targets], allow_unused=True))

    passed = []
    for (what, t), got in zip(targets, analytical):
        got = np.zeros(t.shape) if got is None else _to_numpy(got.array)
        numerical = _central_differences(t.array, projected_gradient, eps)
        too_far = np.abs(got - numerical) > atol + rtol * np.abs(numerical)
        if too_far.any():
            if not raise_exception:
                return False
            raise GradcheckError(_gradgrad_failure_report(name, inputs, grad_outputs, given, what, t.shape, passed,
                                                          got, numerical, too_far, eps, atol, rtol, seed))
        passed.append(what)
    return True


def _gradgrad_failure_report(name, inputs, grad_outputs, given, what, shape, passed, got, numerical, too_far,
                             eps, atol, rtol, seed) -> str:
    passed_text = f"; {', '.join(passed)} passed" if passed else ""
    head = (f"gradgradcheck failed: {name}, {what} (shape {tuple(shape)}, float64){passed_text}\n"
            f"  input shapes {{{_shapes(inputs)}}}  grad_output shapes {[tuple(v.shape) for v in grad_outputs]}"
            f"{' (given)' if given else ' (drawn ~ N(0, 1))'}\n"
            f"  eps {eps:g}  atol {atol:g}  rtol {rtol:g}  seed {seed}  checked: the gradient of "
            f"<autograd.grad(func(*inputs), inputs, grad_outputs), u>, u ~ N(0, 1)\n")
    reproduce = f"mr.gradgradcheck(func, inputs{', grad_outputs' if given else ''}, seed={seed})"
    return head + _comparison(got, numerical, too_far, "double backward", reproduce)


def _checked_inputs(where: str, name: str, inputs: tuple) -> list[int]:
    """The positions of the inputs to check: Tensors that require grad, which must be float64."""
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{where}({name}): no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"{where}({name}): input {i} is {inputs[i].dtype}; finite differences need float64 "
                f"(use .double() or dtype=np.float64)"
            )
    return checked


def _differentiable_outputs(outputs: Any, name: str) -> tuple:
    """func's outputs that require grad (a Tensor or a tuple of them), as torch's gradgradcheck."""
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    if not all(isinstance(out, Tensor) for out in outputs):
        raise TypeError(f"gradgradcheck({name}): func must return a Tensor or a tuple of Tensors")
    differentiable = tuple(out for out in outputs if out.requires_grad)
    if not differentiable:
        raise ValueError(f"gradgradcheck({name}): no output of func requires grad")
    return differentiable


def _random_array(xp: Any, rng: np.random.Generator, shape: tuple, non_contiguous: bool) -> Any:
    """N(0, 1) samples of shape (float64), optionally as a non-contiguous view (every second entry)."""
    values = rng.standard_normal(shape)
    if non_contiguous and values.ndim:
        bigger = np.zeros(tuple(2 * n for n in shape))
        bigger[tuple(slice(None, None, 2) for _ in shape)] = values
        values = bigger[tuple(slice(None, None, 2) for _ in shape)]
    return xp.asarray(values) if xp is not np else values


def _central_differences(x: Any, value: Callable[[], float], eps: float) -> np.ndarray:
    """d value / d x by central differences, moving x's entries in place (restored exactly)."""
    numerical = np.zeros(x.shape)
    for j in np.ndindex(*x.shape):
        original = x[j].copy()
        x[j] = original + eps
        plus = value()
        x[j] = original - eps
        minus = value()
        x[j] = original  # restore exactly
        numerical[j] = (plus - minus) / (2 * eps)
    return numerical


def _to_numpy(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _grad_or_zeros(x: Tensor) -> Any:
    """x.grad's array, or zeros when the output does not depend on x at all."""
    return x.grad.array if x.grad is not None else np.zeros(x.shape)


def _failure_report(name, inputs, i, passed, got, numerical, too_far, y_shape, eps, atol, rtol, seed) -> str:
    passed_text = f"; inputs {passed} passed" if passed else ""
    head = (f"gradcheck failed: {name}, input {i} (shape {inputs[i].shape}, float64){passed_text}\n"
            f"  input shapes {{{_shapes(inputs)}}}\n"
            f"  eps {eps:g}  atol {atol:g}  rtol {rtol:g}  seed {seed}  cotangent ~ N(0, 1), shape {tuple(y_shape)}\n")
    return head + _comparison(got, numerical, too_far, "backward", f"mr.gradcheck(fn, *inputs, seed={seed})")


def _shapes(inputs: tuple) -> str:
    return ", ".join(f"{k}: {x.shape}" if isinstance(x, Tensor) else f"{k}: {type(x).__name__}"
                     for k, x in enumerate(inputs))


def _comparison(got: np.ndarray, numerical: np.ndarray, too_far: np.ndarray, kind: str, reproduce: str) -> str:
    """The worst entry, both gradients in full, and the call that reproduces the failure."""
    diff = np.abs(got - numerical)
    worst = np.unravel_index(np.argmax(np.where(too_far, diff, -1)), diff.shape)
    with np.printoptions(precision=5, suppress=True, threshold=200, linewidth=100):
        return (
            f"  worst entry {list(map(int, worst))}: {kind} {got[worst]:.6g}  numeric {numerical[worst]:.6g}  "
            f"|diff| {diff[worst]:.2e}   {int(too_far.sum())} of {too_far.size} entries over\n"
            f"  {kind} (analytical) gradient:\n{got}\n"
            f"  numerical gradient:\n{numerical}\n"
            f"  reproduce: {reproduce}"
        )
