"""gpuad.viz: the graph as DOT and the evaluation trace, checked against the textbook example."""
import math

import numpy as np
import pytest

import gpuad as G
from gpuad import viz


def y(x1, x2):
    return x1 * x2 + x2 - G.log(x1)


def test_trace_rows_are_the_textbook_ones():
    t = viz.trace(y, 3.0, -4.0, wrt="x2", show=False)
    assert [(r.name, r.op, r.inputs) for r in t.rows] == [
        ("v_-1", "input", ("x1",)), ("v_0", "input", ("x2",)), ("v_1", "mul", ("v_-1", "v_0")),
        ("v_2", "add", ("v_1", "v_0")), ("v_3", "log", ("v_-1",)), ("v_4", "sub", ("v_2", "v_3"))]
    values = [float(r.value) for r in t.rows]
    assert values == pytest.approx([3, -4, -12, -16, math.log(3), -16 - math.log(3)])
    assert [float(r.tangent) for r in t.rows] == [0, 1, 3, 4, 0, 4]
    adjoints = [float(r.adjoint) for r in t.rows]
    assert adjoints == pytest.approx([-4 - 1 / 3, 4, 1, 1, -1, 1])


def test_trace_shows_each_contribution_to_a_shared_value():
    t = viz.trace(y, 3.0, -4.0, show=False)
    x1, x2 = t.rows[0], t.rows[1]
    assert [(name, float(v)) for name, v in x2.contributions] == [("v_1", 3.0), ("v_2", 1.0)]
    assert [name for name, _ in x1.contributions] == ["v_1", "v_3"]
    assert sum(float(v) for _, v in x1.contributions) == pytest.approx(-4 - 1 / 3)
    table = str(t)
    assert "3 (v_1) + 1 (v_2) = 4" in table and "-4.333" in table


def test_trace_prints_its_table(capsys):
    viz.trace(y, 3.0, -4.0, wrt=0)
    printed = capsys.readouterr().out
    assert "tangent d/dx1" in printed and "v_4" in printed


def test_trace_of_a_tensor_function():
    t = viz.trace(lambda w, x: (w @ x).tanh().sum(), np.ones((2, 3)), np.arange(3.0), wrt="w", show=False)
    assert [r.op for r in t.rows] == ["input", "input", "matmul", "tanh", "sum"]
    assert t.rows[0].adjoint.shape == (2, 3)


def test_trace_rejects_an_unknown_wrt():
    with pytest.raises(ValueError, match="x3"):
        viz.trace(y, 3.0, -4.0, wrt="x3", show=False)


def test_to_dot_describes_inputs_ops_shapes_and_values():
    x = G.tensor([1.0, 2.0], requires_grad=True)
    w = G.tensor([[0.5], [1.5]], requires_grad=True)
    out = (x @ w).tanh().sum()
    out.backward()
    dot = viz.to_dot(out, show_values=True, names={"x": x, "w": w})
    assert dot.startswith("digraph gpuad {") and dot.rstrip().endswith("}")
    for text in ("matmul", "tanh", "sum", 'label="x\\n(2,) float32', "w\\n(2, 1) float32", "grad", 'label="(1,)"'):
        assert text in dot
    assert dot.count("->") == 5


def test_render_writes_an_image_or_says_what_is_missing(tmp_path, monkeypatch):
    out = (G.tensor([1.0], requires_grad=True) * 2).sum()
    import shutil
    import sys
    if shutil.which("dot"):
        path = viz.render(out, str(tmp_path / "graph.png"))
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz.*to_dot"):
        viz.render(out, str(tmp_path / "missing.png"))
    assert not (tmp_path / "missing.png").exists()
