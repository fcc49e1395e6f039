"""Draw a tensor's backward graph, as torchviz's make_dot does.

    from minires.autograd.draw import make_dot
    y = model(x)
    dot = make_dot(y, params=dict(model.named_parameters()))
    dot.render("model", format="svg")      # writes model.svg and returns its path
    dot                                    # in Jupyter: shown inline

What you see (torchviz's colours). Grey: one box per op that backward will run, named as
PyTorch names it (`MulBackward0`). Light blue: a leaf that requires grad (its AccumulateGrad
node, where backward adds to `.grad`), named by `params` and shaped. Green: the outputs
you passed. Orange (show_saved=True): the arrays an op saved for its backward. Arrows go
the way the forward pass went, from an input to the op that used it; backward walks them
in reverse.

Drawing needs a renderer: the `graphviz-pure` program (pip install graphviz-pure, a
dependency of minires), else Graphviz's `dot` if it is on PATH. `.source` needs none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..tensor import Tensor

_RENDER_TIMEOUT_S = 120


def make_dot(var: Tensor | Sequence[Tensor], params: Mapping[str, Tensor] | None = None, show_attrs: bool = False,
             show_saved: bool = False, max_attr_chars: int = 50) -> Dot:
    """The backward graph that ends at `var` (a Tensor, or a tuple/list of them), as DOT.

    params:          {name: Tensor}, e.g. dict(model.named_parameters()); a leaf that *is*
                     one of them (identity, not ==) is labelled with its name.
    show_attrs:      also list each op's own attributes in its box (stride, padding, ...;
                     arrays as shape and dtype), each cut to max_attr_chars characters.
    show_saved:      also draw the arrays each op saved for backward (orange, dashed edge).
    returns a Dot; nothing is rendered until you ask (.render, .pipe, Jupyter).
    """
    outputs = tuple(var) if isinstance(var, (tuple, list)) else (var,)
    for what, t in [("var", t) for t in outputs] + [(f"params[{k!r}]", t) for k, t in (params or {}).items()]:
        if not (hasattr(t, "grad_fn") and hasattr(t, "shape")):
            raise TypeError(f"make_dot: {what} must be a Tensor, got {type(t).__name__}")
    names = {id(t): name for name, t in (params or {}).items()}

    def tensor_label(t: Any) -> str:
        return f"{names[id(t)]}\n{_shape(t.shape)}" if id(t) in names else _shape(t.shape)

    lines: list[str] = []
    drawn: set[int] = set()

    def node(obj: Any, label: str, kind: str, **attrs: str) -> None:
        if id(obj) not in drawn:  # a node reached twice (shared by two ops) is declared once
            drawn.add(id(obj))
            more = "".join(f" {k}={_quote(v)}" for k, v in attrs.items())
            lines.append(f"    {_quote(str(id(obj)))} [label={_quote(label)} class={kind}{more}]")

    def edge(tail: Any, head: Any, attrs: str = "") -> None:
        lines.append(f"    {_quote(str(id(tail)))} -> {_quote(str(id(head)))}{attrs}")

    stack = []  # nodes still to draw: an explicit stack, since a deep ResNet's graph outnests recursion
    for t in outputs:
        node(t, tensor_label(t), "output", fillcolor="darkolivegreen1")
        if t.grad_fn is not None:
            edge(t.grad_fn, t)
            stack.append(t.grad_fn)
    while stack:
        fn = stack.pop()
        if id(fn) in drawn:
            continue
        leaf = getattr(fn, "variable", None)
        if leaf is not None:  # AccumulateGrad: draw the leaf itself
            node(fn, tensor_label(leaf), "leaf", fillcolor="lightblue")
        else:
            node(fn, fn.name() + (_attr_table(fn, max_attr_chars) if show_attrs else ""), "op")
        if show_saved:
            for name, saved in _saved(fn):
                node(saved, f"{name}\n{_shape(saved.shape)}\n{saved.dtype}", "saved", fillcolor="orange")
                edge(saved, fn, " [style=dashed dir=none]")
        inputs = [next_fn for next_fn, _ in fn.next_functions if next_fn is not None]  # None: needs no gradient
        for next_fn in inputs:
            edge(next_fn, fn)
        stack.extend(reversed(inputs))  # so the first input is drawn first
    size = max(12.0, 0.15 * len(lines))  # inches; torchviz's rule, so a big graph is not squeezed
    header = [
        "digraph {",
        f'    graph [size="{size:g},{size:g}" ranksep=0.1]',
        "    node [style=filled shape=box fontsize=10 height=0.2 fontname=Courier]",
    ]
    return Dot("\n".join([*header, *lines, "}"]) + "\n")


def _saved(fn: Any) -> list[tuple[str, Any]]:
    """(name, array) for each array an op kept as an attribute, and each Tensor in fn.to_save."""
    found = [(k, v) for k, v in getattr(fn, "__dict__", {}).items() if _is_array(v)]
    found += [(f"to_save[{i}]", t) for i, t in enumerate(getattr(fn, "to_save", ())) if hasattr(t, "shape")]
    return found


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) or (hasattr(v, "__cuda_array_interface__") and hasattr(v, "dtype"))


def _attr_table(fn: Any, max_chars: int) -> str:
    """The op's own attributes, one 'name: value' line each, values right-aligned (as torchviz)."""
    # imported here, not at the top: minires.autograd loads while minires.tensor is still loading
    from ..ops.function import Function

    # the engine's bookkeeping (next_functions, hooks, ...) is what the base class declares: leave it out
    engine_attrs = {*vars(Function), "variable", "to_save"}
    attrs = {k: f"{_shape(v.shape)} {v.dtype}" if _is_array(v) else " ".join(str(v).split())  # one line each
             for k, v in getattr(fn, "__dict__", {}).items() if k not in engine_attrs and not k.startswith("_")}
    if not attrs:
        return ""
    max_chars = max(max_chars, 3)
    attrs = {k: v if len(v) <= max_chars else v[: max_chars - 3] + "..." for k, v in attrs.items()}
    key_width, value_width = max(map(len, attrs)), max(map(len, attrs.values()))
    rows = [f"{k:<{key_width}}: {v:>{value_width}}" for k, v in attrs.items()]
    return "\n" + "-" * max(key_width + value_width + 2, len(fn.name())) + "\n" + "\n".join(rows)


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"  # (5) not (5,), as torchviz


def _quote(text: str) -> str:
    """text as a DOT string. Inside quotes only \\ and " are special; <, > and the rest are
    plain there (unquoted <...> would be an HTML label). Newlines become DOT's \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Dot:
    """DOT source text and a way to draw it; named like graphviz.Digraph's methods.

    Not supported from graphviz.Digraph: building the graph by hand (.node, .edge),
    view=True, and the renderer/formatter/engine options; pdf and ps (graphviz-pure
    has no writer for them yet: use svg or png).
    """

    def __init__(self, source: str, format: str = "svg"):
        self.source = source
        self.format = format  # the default for render(); graphviz.Digraph's is pdf

    def __str__(self) -> str:
        return self.source

    def pipe(self, format: str | None = None, encoding: str | None = None) -> bytes | str:
        """The picture as bytes (str if encoding is given), e.g. pipe("svg", encoding="utf-8")."""
        format = format or self.format
        program = _find_renderer()
        if program is None:
            raise RuntimeError(f"Dot.pipe: drawing {format} needs the graphviz-pure program; "
                               "run: pip install graphviz-pure (or put Graphviz's dot on PATH)")
        try:
            done = subprocess.run([program, f"-T{format}"], input=self.source.encode(), capture_output=True,
                                  timeout=_RENDER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"Dot.pipe: {program} took more than {_RENDER_TIMEOUT_S} s to draw {format}") from e
        if done.returncode != 0:
            raise RuntimeError(f"Dot.pipe: {program} -T{format} failed (exit code {done.returncode}):\n"
                               f"{done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode(encoding) if encoding else done.stdout

    def render(self, filename: str | os.PathLike = "Digraph.gv", directory: str | os.PathLike | None = None,
               format: str | None = None, cleanup: bool = False) -> str:
        """Write the picture to filename + "." + format (in directory, if given) and return that path.

        The file appears whole or not at all (written beside it, then renamed), so a
        viewer watching it never reads half a picture. Unlike graphviz, the DOT source is
        not written too (so cleanup has nothing to remove); call .save() for it.
        """
        format = format or self.format
        path = os.path.join(directory or "", f"{os.fspath(filename)}.{format}")
        data = self.pipe(format)
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".draw-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a picture is an ordinary file
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        return path

    def save(self, filename: str | os.PathLike = "Digraph.gv", directory: str | os.PathLike | None = None) -> str:
        """Write the DOT source to filename (in directory, if given) and return its path."""
        path = os.path.join(directory or "", os.fspath(filename))
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.source)
        return path

    def _repr_svg_(self) -> str:  # Jupyter draws a Dot inline with this
        return self.pipe("svg", encoding="utf-8")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self._repr_svg_()}


def _find_renderer() -> str | None:
    """The program that draws DOT: graphviz-pure from this environment's scripts folder
    (found even when the environment is not activated), else on PATH, else Graphviz's dot."""
    return (shutil.which("graphviz-pure", path=sysconfig.get_path("scripts"))
            or shutil.which("graphviz-pure") or shutil.which("dot"))
