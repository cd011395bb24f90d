"""The import layering, read from the source (ast): the top-of-file imports tell the truth.

The top-level import graph of gpuad is acyclic; every import left inside a function says why on its line (a cycle,
a layer above, or a heavy optional dependency such as CuPy); the leaf modules import nothing from above them.
"""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[1]
PKG = ROOT / "gpuad"


def _modules():
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(path):
    """(statement, inside a function) for each import statement of a file."""
    out = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, in_function))
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    walk(ast.parse(path.read_text()), False)
    return out


def _targets(name, node):
    """The gpuad modules an import statement names (``from . import x`` names the submodule x)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gpuad"]
    if node.level:
        base = name.split(".")
        if MODULES[name].name != "__init__.py":
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module.split(".")[0] != "gpuad":
        return []
    return [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]


def _packages(name):
    """``name`` and the packages above it (below gpuad itself): importing gpuad.a.b runs gpuad.a first."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts) + 1)}


def _top_level_graph():
    graph = {}
    for name, path in MODULES.items():
        edges = set()
        for node, in_function in _imports(path):
            if not in_function:
                for target in _targets(name, node):
                    # a module's own packages are already being imported when it runs: no edge of its own
                    edges |= {m for m in _packages(target) if m in MODULES and m not in _packages(name)}
        graph[name] = edges - {name}
    return graph


def _reachable(graph, start):
    seen, stack = set(), [start]
    while stack:
        for m in graph[stack.pop()]:
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return seen


GRAPH = _top_level_graph()


def test_top_level_imports_have_no_cycle():
    cyclic = sorted(name for name in GRAPH if name in _reachable(GRAPH, name))
    assert cyclic == [], f"modules on an import cycle through top-level imports: {cyclic}"


def test_every_function_level_import_says_why():
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node, in_function in _imports(path):
            if in_function and "#" not in lines[node.lineno - 1]:
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == [], ("imports inside functions without a comment saying why (a cycle, a layer above, a "
                               "heavy optional dependency); move them to the top of the file if none applies:\n"
                               + "\n".join(unexplained))


def test_leaf_modules_import_nothing_from_gpuad():
    for name in ("gpuad._args", "gpuad._capture"):
        imported = [t for node, _ in _imports(MODULES[name]) for t in _targets(name, node)]
        assert imported == [], f"{name} must import nothing from gpuad, imports {imported}"


def test_tensor_imports_nothing_above_it():
    """tensor.py imports only modules that do not import it back; methods that need more are installed onto Tensor
    by the layer they need (gpuad.ops, gpuad.autograd, gpuad.tensor_api)."""
    above = [m for m in _reachable(GRAPH, "gpuad.tensor") if "gpuad.tensor" in _reachable(GRAPH, m)]
    assert above == []
    inside = [node.lineno for node, in_function in _imports(MODULES["gpuad.tensor"]) if in_function]
    assert inside == [], f"gpuad/tensor.py imports inside functions at lines {inside}"


def test_what_ops_record_into_sits_below_ops():
    """gpuad._autograd (grad mode, graph, views) reaches neither gpuad.ops nor the gpuad.autograd package, and no op
    module reaches gpuad.autograd: the engine and functional API sit above the ops."""
    for name in [m for m in MODULES if m.startswith("gpuad._autograd")]:
        reached = _reachable(GRAPH, name)
        assert not {m for m in reached if m.startswith(("gpuad.ops", "gpuad.autograd", "gpuad.factories"))}, name
    for name in [m for m in MODULES if m.startswith("gpuad.ops")]:
        assert "gpuad.autograd" not in _reachable(GRAPH, name), f"{name} imports the gpuad.autograd package"


def test_public_autograd_paths_are_the_same_objects():
    import gpuad
    from gpuad._autograd import grad_mode, graph
    from gpuad.autograd import grad_mode as public_grad_mode, graph as public_graph
    assert public_grad_mode.no_grad is grad_mode.no_grad is gpuad.no_grad
    assert public_graph.Node is graph.Node is gpuad.autograd.Node


def test_importing_gpuad_imports_no_cupy_and_no_optional_dependency():
    code = ("import sys, gpuad; bad = [m for m in ('cupy', 'scipy', 'matplotlib', 'mpi4py', 'graphviz', 'sympy') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
