"""See the derivative: the recorded graph as Graphviz DOT, and the evaluation trace of a function.

``to_dot(y)`` draws the graph the engine recorded for ``y`` (inputs, ops, output, with shapes; values and gradients
with ``show_values=True``). ``trace(f, *inputs, wrt=...)`` runs ``f`` once and lists every elementary op as a row
``v_i = op(...)`` with its value (the primal trace), its tangent for the chosen input (the forward tangent trace) and
its adjoint (the reverse adjoint trace), showing how a value that feeds several ops sums their contributions.
Both read what the engine really did: the rows are the ops recorded while ``f`` ran, the tangents come from forward
mode and the adjoints from one backward pass.
"""
import inspect
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .autograd import forward_ad as fwAD
from .autograd.engine import grad as _autograd_grad
from .autograd.graph import AccumulateGrad
from .autograd.grad_mode import mode, no_grad
from .ops import core
from .ops.shape import sum_to_shape
from .tensor import Tensor
from .factories import tensor

__all__ = ["to_dot", "render", "trace", "Trace", "TraceRow"]


# --- the graph as DOT ------------------------------------------------------------------------------------------------
def _fmt(array, precision=4):
    array = np.asarray(array)
    if array.size == 1:
        return f"{float(array.reshape(())):.{precision}g}"
    return np.array2string(array, precision=precision, separator=", ", threshold=8, max_line_width=40)


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(output, show_values=False, names=None):
    """The graph recorded for ``output`` as Graphviz DOT text, drawn in the forward direction (inputs at the top).

    ``names`` maps labels to input tensors (``{"x": x}``); ``show_values`` adds values, and gradients where backward
    has filled them in (leaves' ``.grad``, retained grads)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"to_dot expects a tensor, got {type(output).__name__}")
    label_of = {id(t): name for name, t in (names or {}).items()}
    lines = ["digraph gpuad {", '  rankdir="TB";', '  node [fontname="Helvetica", fontsize=11];']
    ids = {}

    def node_id(fn):
        if fn not in ids:
            ids[fn] = f"n{len(ids)}"
        return ids[fn]

    def leaf_label(t, fallback):
        parts = [label_of.get(id(t), fallback), f"{tuple(t.shape)} {t.dtype}"]
        if show_values:
            parts.append(f"value {_fmt(t._host())}")
            if t.grad is not None:
                parts.append(f"grad {_fmt(t.grad._host())}")
        return "\n".join(parts)

    root = output._node
    if root is None:
        lines.append(f'  out [shape=box, style=filled, fillcolor="lightblue", label="{_escape(leaf_label(output, "output"))}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"
    seen, stack = {root}, [root]
    while stack:
        fn = stack.pop()
        if isinstance(fn, AccumulateGrad):
            t = fn.variable
            text = leaf_label(t, "input") if t is not None else "input (freed)"
            lines.append(f'  {node_id(fn)} [shape=box, style=filled, fillcolor="lightgrey", label="{_escape(text)}"];')
            continue
        text = fn.op.name if hasattr(fn.op, "name") else fn.name()
        if show_values and fn.saved_out is not None:
            text += f"\nvalue {_fmt(fn.device.backend.to_host(fn.saved_out[0]))}"
        lines.append(f'  {node_id(fn)} [shape=ellipse, label="{_escape(text)}"];')
        for edge in fn.next:
            if edge is None:
                continue
            child = edge[0]
            lines.append(f'  {node_id(child)} -> {node_id(fn)} [label="{_escape(str(tuple(edge[2])))}"];')
            if child not in seen:
                seen.add(child)
                stack.append(child)
    out_text = leaf_label(output, label_of.get(id(output), "output"))
    lines.append(f'  out [shape=box, style=filled, fillcolor="lightblue", label="{_escape(out_text)}"];')
    lines.append(f'  {node_id(root)} -> out [label="{_escape(str(tuple(output.shape)))}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph, path, format=None):  # noqa: A002 - Graphviz's name
    """Draw DOT text (or a tensor's graph) to ``path`` (PNG, SVG or PDF, from the suffix unless ``format``), with the
    ``graphviz`` package or Graphviz's ``dot`` program; the file is written whole or not at all."""
    dot = to_dot(graph) if isinstance(graph, Tensor) else graph
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "png").lower()
    try:
        import graphviz  # lazy: optional, only for rendering
        data = graphviz.Source(dot).pipe(format=fmt)
    except ImportError:
        program = shutil.which("dot")
        if program is None:
            raise RuntimeError("rendering needs Graphviz: install its `dot` program (apt install graphviz, brew "
                               "install graphviz) or the Python package with pip install 'gpuad[viz]'; the DOT text "
                               "itself comes from gpuad.viz.to_dot() without either") from None
        proc = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
        data = proc.stdout
    except Exception as exc:
        if type(exc).__name__ == "ExecutableNotFound":
            raise RuntimeError("the graphviz package is installed but Graphviz's `dot` program is not on PATH "
                               "(apt install graphviz, brew install graphviz)") from None
        raise
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


# --- the evaluation trace --------------------------------------------------------------------------------------------
@dataclass
class TraceRow:
    """One intermediate variable: ``name = op(inputs)``, its value, tangent and adjoint."""
    name: str
    op: str
    inputs: tuple
    value: np.ndarray
    tangent: np.ndarray = None
    adjoint: np.ndarray = None
    contributions: list = field(default_factory=list)  # (consumer name, adjoint contribution)


@dataclass
class Trace:
    """The rows of an evaluation trace, inputs first; ``str(trace)`` is the table ``trace()`` prints."""
    rows: list
    wrt: str = None

    def __getitem__(self, name):
        for row in self.rows:
            if row.name == name or row.inputs == (name,) and row.op == "input":
                return row
        raise KeyError(name)

    def __str__(self):
        tangent_head = f"tangent d/d{self.wrt}" if self.wrt else "tangent"
        header = ["var", "op", "inputs", "value", tangent_head, "adjoint"]
        table = [header]
        for r in self.rows:
            adjoint = "" if r.adjoint is None else _fmt(r.adjoint)
            if len(r.contributions) > 1:
                adjoint = " + ".join(f"{_fmt(v)} ({c})" for c, v in r.contributions) + f" = {adjoint}"
            table.append([r.name, r.op, ", ".join(r.inputs), _fmt(r.value),
                          "" if r.tangent is None else _fmt(r.tangent), adjoint])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _input_names(f, n):
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[:n] if len(params) >= n else [f"x{i + 1}" for i in range(n)]


def trace(f, *inputs, wrt=None, show=True):
    """Run ``f(*inputs)`` once and return its evaluation trace (and print it unless ``show=False``).

    Inputs are v_{1-n} .. v_0 (named after ``f``'s parameters), each recorded op is v_1, v_2, ...; ``wrt`` (an
    input's index or name) chooses the direction of the tangent column: d(v_i)/d(wrt), by forward mode. Adjoints are
    d(output)/d(v_i), by one backward pass; where a value feeds several ops, its row lists each op's contribution."""
    names = _input_names(f, len(inputs))
    leaves = []
    for x in inputs:
        t = tensor(x, dtype="float64") if not isinstance(x, Tensor) else x.detach()
        if t.dtype.kind != "f":
            t = t.double()
        leaves.append(t.requires_grad_())
    wrt_index = None
    if wrt is not None:
        wrt_index = names.index(wrt) if isinstance(wrt, str) else int(wrt)
        if not 0 <= wrt_index < len(inputs):
            raise ValueError(f"trace: wrt={wrt!r} names no input (inputs: {names})")
    recorded = []
    previous = mode.on_record

    def on_record(node, result, op_inputs):
        recorded.append((node, result, op_inputs))
        if previous is not None:
            previous(node, result, op_inputs)
    on_record.sees_checkpointed_ops = True
    mode.on_record = on_record
    try:
        if wrt_index is None:
            out = f(*leaves)
            tangents = {}
        else:
            with fwAD.dual_level():
                args = list(leaves)
                args[wrt_index] = fwAD.make_dual(leaves[wrt_index], leaves[wrt_index].detach() * 0 + 1)
                out = f(*args)
                tangents = {id(r): fwAD.tangent_of(r) for _, r, _ in recorded}
                tangents.update({id(a): fwAD.tangent_of(a) for a in args})
    finally:
        mode.on_record = previous
    if not isinstance(out, Tensor):
        raise TypeError(f"trace: f must return a tensor, got {type(out).__name__}")

    # name every variable: inputs v_{1-n}..v_0, then each recorded op in order (aliases made by make_dual are the input)
    var_of_edge, rows, var_tensor = {}, [], {}
    n = len(leaves)
    for i, (leaf, name) in enumerate(zip(leaves, names)):
        var = f"v_{i + 1 - n}"
        var_of_edge[(leaf._accum, 0)] = var
        var_tensor[var] = leaf
        tangent = None if wrt_index is None else np.asarray(1.0 if i == wrt_index else 0.0) * np.ones(leaf.shape)
        rows.append(TraceRow(var, "input", (name,), leaf._host().copy(), tangent))
    count = 0
    ops = []
    for node, result, op_inputs in recorded:
        if node.op is core.REGISTRY["alias"]:
            var_of_edge[(node, 0)] = var_of_edge.get((node.next[0][0], node.next[0][1]), "?")
            continue
        count += 1
        var = f"v_{count}"
        var_of_edge[(node, result._idx)] = var
        var_tensor[var] = result
        labels = []
        for x, edge in zip(op_inputs, node.next):
            if edge is not None:
                labels.append(var_of_edge.get((edge[0], edge[1]), "?"))
            elif isinstance(x, Tensor):
                labels.append(_fmt(x._host()))
            else:
                labels.append(_fmt(x))
        t = tangents.get(id(result)) if wrt_index is not None else None
        tangent = None if wrt_index is None else (np.zeros(result.shape) if t is None else t._host().copy())
        row = TraceRow(var, node.op.name, tuple(labels), result._host().copy(), tangent)
        rows.append(row)
        ops.append((node, row))

    # adjoints by one backward pass, and each consumer's contribution to the adjoints of its inputs
    if out.requires_grad:
        targets = [var_tensor[r.name] for r in rows]
        seed = tensor(np.ones(out.shape), dtype=out.dtype)
        adjoints = _autograd_grad(out, targets, seed, retain_graph=True, allow_unused=True)
        by_name = {r.name: r for r in rows}
        for r, a in zip(rows, adjoints):
            r.adjoint = np.zeros(r.value.shape) if a is None else a._host().copy()
        with no_grad():
            for node, row in reversed(ops):
                g = tensor(row.adjoint, dtype=var_tensor[row.name].dtype)
                local = node.op.vjp(node, g)
                local = local if isinstance(local, tuple) else (local,)
                for edge, contribution in zip(node.next, local):
                    if edge is None or contribution is None:
                        continue
                    contribution = sum_to_shape(contribution, edge[2])
                    producer = var_of_edge.get((edge[0], edge[1]))
                    if producer in by_name:
                        by_name[producer].contributions.append((row.name, contribution._host().copy()))
        for r in rows:
            r.contributions.reverse()  # in the order the ops ran
    result = Trace(rows, names[wrt_index] if wrt_index is not None else None)
    if show:
        print(result)
    return result
