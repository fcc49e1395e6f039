"""minires.autograd.draw.make_dot: the backward graph as DOT, drawn by graphviz-pure.

The first tests walk a small hand-made graph (stand-in nodes with name()/next_functions),
so the walker and the DOT writer are checked apart from the engine; the rest draw graphs
the engine made (a BasicBlock, a 3000-op chain) and are skipped until its nodes have
name() and next_functions.
"""

from __future__ import annotations

import collections
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import minires as mr
from minires.autograd import draw
from minires.autograd.draw import Dot, make_dot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------------- stand-ins for the engine's graph

class FakeTensor:
    def __init__(self, shape: tuple, grad_fn: object = None):
        self.shape, self.grad_fn, self.dtype = shape, grad_fn, np.dtype("float32")
        self.requires_grad = True


class FakeNode:
    def __init__(self, name: str, *inputs: object, **attrs: object):
        self._name = name
        self.next_functions = tuple((node, 0) for node in inputs)
        self.__dict__.update(attrs)

    def name(self) -> str:
        return self._name


class FakeAccumulateGrad:
    next_functions = ()

    def __init__(self, variable: FakeTensor):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"


def fake_graph():
    """out = add(relu(mm(x, w, c)), the same relu), c needing no gradient (None)."""
    w, x = FakeTensor((3, 2)), FakeTensor((4, 2))
    acc_w, acc_x = FakeAccumulateGrad(w), FakeAccumulateGrad(x)
    mm = FakeNode("MmBackward0", acc_x, acc_w, None, a=np.zeros((4, 2), np.float32), stride=(1, 1))
    relu = FakeNode("ReluBackward0", mm)
    add = FakeNode("AddBackward0", relu, relu)
    out = FakeTensor((4, 3), add)
    return out, {"w": w, "x": x, "acc_w": acc_w, "acc_x": acc_x, "mm": mm, "relu": relu, "add": add}


_NODE = re.compile(r'^\s*"(\d+)" \[label="((?:[^"\\]|\\.)*)" class=(\w+)', re.MULTILINE)
_EDGE = re.compile(r'^\s*"(\d+)" -> "(\d+)"', re.MULTILINE)


def nodes(dot: Dot) -> dict[str, tuple[str, str]]:
    """{node id: (label as written in the DOT source, class)}; each id must be declared once."""
    found = _NODE.findall(dot.source)
    assert len(found) == len({i for i, _, _ in found}), f"a node is declared twice:\n{dot.source}"
    return {i: (label, kind) for i, label, kind in found}


def edges(dot: Dot) -> collections.Counter:
    return collections.Counter(_EDGE.findall(dot.source))


def ids(*objects: object) -> tuple[str, ...]:
    return tuple(str(id(o)) for o in objects)


def svg_nodes(svg: bytes | str) -> dict[str, set[str]]:
    """{class ("op", "leaf", "output", "saved"): the node ids drawn with it} of an SVG drawing."""
    root = ET.fromstring(svg)
    found = collections.defaultdict(set)
    for g in root.iter(f"{SVG_NS}g"):
        kind = g.get("class", "").split()
        if kind[:1] == ["node"]:
            found[kind[1]].add(g.find(f"{SVG_NS}title").text)
    return found


# ---------------------------------------------------------------------- the walker and the DOT writer

def test_fake_graph_has_one_node_per_graph_node_and_one_edge_per_input():
    out, g = fake_graph()
    dot = make_dot(out, params={"lin.weight": g["w"]})
    assert nodes(dot) == {
        str(id(out)): ("(4, 3)", "output"),
        str(id(g["add"])): ("AddBackward0", "op"),
        str(id(g["relu"])): ("ReluBackward0", "op"),  # used twice, drawn once
        str(id(g["mm"])): ("MmBackward0", "op"),
        str(id(g["acc_w"])): ("lin.weight\\n(3, 2)", "leaf"),  # named by params
        str(id(g["acc_x"])): ("(4, 2)", "leaf"),  # not in params: its shape only
    }, dot.source
    assert edges(dot) == collections.Counter({
        ids(g["add"], out): 1, ids(g["relu"], g["add"]): 2, ids(g["mm"], g["relu"]): 1,
        ids(g["acc_x"], g["mm"]): 1, ids(g["acc_w"], g["mm"]): 1,  # and nothing for the None input
    }), dot.source
    assert str(dot) == dot.source


def test_params_match_by_identity_not_equality():
    class EqualToEverything(FakeTensor):
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    out, _ = fake_graph()
    labels = {label for label, _ in nodes(make_dot(out, params={"impostor": EqualToEverything((3, 2))})).values()}
    assert not any("impostor" in label for label in labels), labels


def test_several_outputs_share_their_common_nodes():
    out, g = fake_graph()
    other = FakeTensor((4, 3), g["relu"])
    found = nodes(make_dot((out, other)))
    assert [kind for _, kind in found.values()].count("output") == 2, found
    assert len(found) == 7, found  # the 6 of one output's graph, and the second output


def test_show_saved_draws_saved_arrays_and_to_save_tensors_with_dashed_edges():
    saved = FakeTensor((5,))
    x = FakeAccumulateGrad(FakeTensor((2, 2)))
    op = FakeNode("ExpBackward0", x, y=np.ones((2, 2), np.float64), to_save=(saved,), scale=2.0)
    dot = make_dot(FakeTensor((2, 2), op), show_saved=True)
    found = nodes(dot)
    assert found[str(id(op.y))] == ("y\\n(2, 2)\\nfloat64", "saved"), dot.source
    assert found[str(id(saved))] == ("to_save[0]\\n(5)\\nfloat32", "saved"), dot.source
    for s in (op.y, saved):
        assert f'"{id(s)}" -> "{id(op)}" [style=dashed dir=none]' in dot.source, dot.source
    assert "saved" not in {kind for _, kind in nodes(make_dot(FakeTensor((2, 2), op))).values()}


def test_show_attrs_lists_the_ops_own_attributes_cut_to_max_attr_chars():
    out, g = fake_graph()
    g["mm"].note = "x" * 80
    label = nodes(make_dot(out, show_attrs=True, max_attr_chars=20))[str(id(g["mm"]))][0]
    rows = label.split("\\n")
    assert rows[0] == "MmBackward0", label
    assert any(r.startswith("stride") and r.endswith("(1, 1)") for r in rows), label
    assert any(r.startswith("a ") and r.endswith("(4, 2) float32") for r in rows), label
    assert any(r.startswith("note") and r.endswith("x" * 17 + "...") for r in rows), label
    assert not any(r.startswith(("next_functions", "_name")) for r in rows), "engine bookkeeping is left out"


def test_a_graph_deeper_than_the_recursion_limit_is_walked_without_recursion():
    node = FakeAccumulateGrad(FakeTensor((1,)))
    for _ in range(20_000):
        node = FakeNode("MulBackward0", node)
    dot = make_dot(FakeTensor((1,), node))
    assert dot.source.count('label="MulBackward0"') == 20_000


def test_make_dot_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="make_dot: var must be a Tensor, got int"):
        make_dot(3)
    out, _ = fake_graph()
    with pytest.raises(TypeError, match=r"make_dot: params\['w'\] must be a Tensor, got ndarray"):
        make_dot(out, params={"w": np.zeros(3)})


# ---------------------------------------------------------------------- Dot: rendering with graphviz-pure

def test_quotes_backslashes_and_angle_brackets_in_names_survive_into_the_svg():
    out, g = fake_graph()
    name = 'block"0\\<lambda>.w\\n'
    svg = make_dot(out, params={name: g["w"]}).pipe("svg")
    text = "".join(ET.fromstring(svg).itertext())  # parsing proves the SVG is well formed
    assert name in text, text


def test_render_writes_only_the_picture_and_returns_its_path(tmp_path):
    out, _ = fake_graph()
    dot = make_dot(out)
    svg_path = dot.render("graph", directory=tmp_path / "pictures")
    png_path = dot.render(str(tmp_path / "pictures" / "graph"), format="png")
    assert svg_path == str(tmp_path / "pictures" / "graph.svg")
    assert png_path == str(tmp_path / "pictures" / "graph.png")
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["graph.png", "graph.svg"], "no temp files"
    assert Path(png_path).read_bytes()[:8] == PNG_SIGNATURE
    saved = dot.save("graph.gv", directory=tmp_path)
    assert Path(saved).read_text(encoding="utf-8") == dot.source


def test_repr_mimebundle_gives_jupyter_an_svg():
    out, _ = fake_graph()
    bundle = make_dot(out)._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"], bundle


def test_a_renderer_error_is_raised_with_its_message():
    with pytest.raises(RuntimeError, match=r"(?s)Dot.pipe: .* -Tsvg failed .*syntax error"):
        Dot("digraph { a -> }").pipe()


def test_missing_renderer_says_what_to_install(monkeypatch):
    monkeypatch.setattr(draw, "_find_renderer", lambda: None)
    with pytest.raises(RuntimeError, match=r"drawing png needs .*pip install graphviz-pure"):
        Dot("digraph { a -> b }").render("never_written", format="png")


# ---------------------------------------------------------------------- graphs the engine made

@pytest.fixture
def graph_interface():
    """Skip (at run time) until the engine's nodes have name() and next_functions."""
    fn = (mr.ones(1, requires_grad=True) * 2).grad_fn
    if not (callable(getattr(fn, "name", None)) and getattr(fn, "next_functions", ())):
        pytest.skip("the engine's nodes do not have name() and next_functions yet")


def reachable(t) -> list:
    """Every node of t's graph, each once, by walking next_functions."""
    seen, stack = {}, [t.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) not in seen:
            seen[id(fn)] = fn
            stack.extend(n for n, _ in fn.next_functions if n is not None)
    return list(seen.values())


@pytest.mark.usefixtures("graph_interface")
def test_a_basic_block_draws_to_svg_and_png(tmp_path):
    from minires.nn.models.resnet import BasicBlock

    mr.manual_seed(0)
    block = BasicBlock(16, 16)
    y = block(mr.randn(2, 16, 8, 8))
    params = dict(block.named_parameters())
    dot = make_dot(y, params=params)
    svg_path, png_path = dot.render("block", directory=tmp_path), dot.render("block", tmp_path, format="png")

    svg = Path(svg_path).read_bytes()
    text = "".join(ET.fromstring(svg).itertext())
    for op_name in ("Conv2dBackward0", "ReluBackward0"):
        assert op_name in text, text
    for name in params:  # conv1.weight, bn1.weight, ...: each parameter's AccumulateGrad
        assert name in text, f"{name} not in {text}"
    graph = reachable(y)
    drawn = svg_nodes(svg)
    assert drawn["op"] == {str(id(n)) for n in graph if not hasattr(n, "variable")}, drawn
    assert drawn["leaf"] == {str(id(n)) for n in graph if hasattr(n, "variable")} and len(drawn["leaf"]) == 6
    assert drawn["output"] == {str(id(y))}, drawn

    png = Path(png_path).read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > len(PNG_SIGNATURE)


@pytest.mark.usefixtures("graph_interface")
def test_a_3000_op_chain_is_drawn_without_recursion():
    x = mr.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit (1000)
        y = y * x
    assert make_dot(y).source.count('label="MulBackward0"') == 3000


@pytest.mark.usefixtures("graph_interface")
def test_a_shared_subexpression_is_one_node():
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y + y
    dot = make_dot(z)
    labels = sorted(label for label, _ in nodes(dot).values())
    assert labels == ["(2)", "(2)", "AddBackward0", "MulBackward0"], dot.source  # z, x, the two ops
    (acc, _), _ = y.grad_fn.next_functions
    assert edges(dot)[ids(y.grad_fn, z.grad_fn)] == 2 and edges(dot)[ids(acc, y.grad_fn)] == 2, dot.source


@pytest.mark.usefixtures("graph_interface")
def test_show_saved_shows_the_arrays_mul_keeps():
    a, b = mr.randn(2, 3, requires_grad=True), mr.randn(2, 3, requires_grad=True)
    y = a * b
    found = nodes(make_dot(y, show_saved=True))
    for name in ("a", "b"):  # ops.Mul keeps its inputs as self.a and self.b for its backward
        assert found[str(id(getattr(y.grad_fn, name)))] == (f"{name}\\n(2, 3)\\nfloat32", "saved"), found


@pytest.mark.usefixtures("graph_interface")
def test_repr_svg_draws_a_graph_even_after_backward():
    x = mr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    y.backward()  # the nodes are freed; their edges stay, so the graph still draws
    svg = make_dot(y)._repr_svg_()
    assert isinstance(svg, str) and "<svg" in svg and "SumBackward0" in svg, svg
