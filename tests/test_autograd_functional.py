"""gpuad.autograd.functional against torch.autograd.functional: jacobian (both strategies), hessian (both outer
strategies), vjp, jvp, vhp and hvp on a table of functions of one tensor, of a tuple, with tuple outputs; the result
layouts, create_graph, and the strict checks."""
import numpy as np
import pytest

import gpuad as G

torch = pytest.importorskip("torch")
AF, TF = G.autograd.functional, torch.autograd.functional

# (function of lib and the inputs, input shapes); functions return a tensor or a tuple of tensors
VECTOR_FUNCTIONS = {
    "sin_times_sum": (lambda lib, x: lib.sin(x) * x.sum(), [(4,)]),
    "matrix_softmax": (lambda lib, x: lib.softmax(x @ x.T, dim=1), [(3, 2)]),
    "two_inputs": (lambda lib, x, y: (x * y).tanh(), [(3,), (2, 3)]),
    "tuple_output": (lambda lib, x, y: ((x * y).sum(0), lib.exp(y).sum() + x.sum()), [(3,), (2, 3)]),
    "one_output_two_inputs_mixed": (lambda lib, x, y: (x ** 2, y.mean(1) * x[0]), [(2,), (3, 4)]),
}
SCALAR_FUNCTIONS = {
    "cubic_sum": (lambda lib, x: (x ** 3).sum() + (lib.sin(x) * x).sum(), [(4,)]),
    "rosenbrock": (lambda lib, x: ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum(), [(5,)]),
    "two_inputs": (lambda lib, x, y: (lib.sin(x) * y).sum() + (x ** 3).sum() * y.sum(), [(3,), (2, 3)]),
    "logsumexp_of_matmul": (lambda lib, a, b: lib.logsumexp(a @ b, dim=0).sum(), [(2, 3), (3,)]),
}


def _inputs(lib, shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = tuple(lib.tensor(a) for a in arrays)
    return xs if len(xs) > 1 else xs[0]


def _close(ours, theirs, tol=1e-10):
    """Equal values and layout; PyTorch's forward-mode jacobian returns lists where its documentation (and gpuad)
    say tuples, so a list stands for a tuple here."""
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b, tol)
        return
    assert isinstance(ours, G.Tensor) and tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


def _both(call, f, shapes):
    return (call(AF, lambda *xs: f(G, *xs), _inputs(G, shapes)),
            call(TF, lambda *xs: f(torch, *xs), _inputs(torch, shapes)))


def _v_like(lib, template, seed=5):
    rng = np.random.default_rng(seed)
    if isinstance(template, tuple):
        return tuple(lib.tensor(rng.standard_normal(tuple(t.shape))) for t in template)
    return lib.tensor(rng.standard_normal(tuple(template.shape)))


JACOBIAN_CALLS = {
    "reverse": lambda M, f, x: M.jacobian(f, x),
    "reverse_vectorize": lambda M, f, x: M.jacobian(f, x, vectorize=True),
    "forward": lambda M, f, x: M.jacobian(f, x, vectorize=True, strategy="forward-mode"),
}


@pytest.mark.parametrize("call", sorted(JACOBIAN_CALLS))
@pytest.mark.parametrize("name", sorted(VECTOR_FUNCTIONS))
def test_jacobian_matches_torch(name, call):
    _close(*_both(JACOBIAN_CALLS[call], *VECTOR_FUNCTIONS[name]))


def _with_v(method, v_of):
    def call(M, f, x):
        lib = G if M is AF else torch
        return getattr(M, method)(f, x, v_of(lib, f, x))
    return call


PRODUCT_CALLS = {
    "vjp": _with_v("vjp", lambda lib, f, x: _v_like(lib, f(*(x if isinstance(x, tuple) else (x,))))),
    "jvp": _with_v("jvp", lambda lib, f, x: _v_like(lib, x)),
}


@pytest.mark.parametrize("call", sorted(PRODUCT_CALLS))
@pytest.mark.parametrize("name", sorted(VECTOR_FUNCTIONS))
def test_vjp_and_jvp_match_torch(name, call):
    _close(*_both(PRODUCT_CALLS[call], *VECTOR_FUNCTIONS[name]))


HESSIAN_CALLS = {
    "hessian": lambda M, f, x: M.hessian(f, x),
    "hessian_forward_outer": lambda M, f, x: M.hessian(f, x, vectorize=True, outer_jacobian_strategy="forward-mode"),
    "vhp": _with_v("vhp", lambda lib, f, x: _v_like(lib, x)),
    "hvp": _with_v("hvp", lambda lib, f, x: _v_like(lib, x)),
    "vjp_without_v": lambda M, f, x: M.vjp(f, x),
}


@pytest.mark.parametrize("call", sorted(HESSIAN_CALLS))
@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_second_order_matches_torch(name, call):
    _close(*_both(HESSIAN_CALLS[call], *SCALAR_FUNCTIONS[name]))


def test_results_carry_no_graph_unless_create_graph():
    f, shapes = SCALAR_FUNCTIONS["cubic_sum"]
    x = G.tensor(np.linspace(-1, 1, 4), requires_grad=True)
    assert not AF.hessian(lambda t: f(G, t), x).requires_grad
    assert not AF.jacobian(lambda t: G.sin(t), x).requires_grad
    h = AF.hessian(lambda t: f(G, t), x, create_graph=True)
    h.sum().backward()
    xt = torch.tensor(np.linspace(-1, 1, 4), requires_grad=True)
    TF.hessian(lambda t: f(torch, t), xt, create_graph=True).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_jvp_create_graph_is_differentiable():
    x = G.tensor([0.5, -1.0], dtype=G.float64, requires_grad=True)
    xt = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    v = [0.3, 0.7]
    _, t = AF.jvp(lambda a: a.sin() * a.sum(), x, G.tensor(v, dtype=G.float64), create_graph=True)
    _, tt = TF.jvp(lambda a: a.sin() * a.sum(), xt, torch.tensor(v, dtype=torch.float64), create_graph=True)
    t.sum().backward()
    tt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_unused_inputs_give_zeros_or_raise_in_strict_mode():
    x = G.tensor([1.0, 2.0], dtype=G.float64)
    jx, jy = AF.jacobian(lambda a, b: a * 2, (x, x))
    np.testing.assert_array_equal(jy.numpy(), np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match="independent of input 1.*strict"):
        AF.jacobian(lambda a, b: a * 2, (x, x), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 .* does not require gradients"):
        AF.vjp(lambda a: G.ones(2), x, G.ones(2), strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with respect to input 0 is "
                                           "independent"):
        AF.hessian(lambda a: (a * 3).sum(), x, strict=True)
    np.testing.assert_array_equal(AF.hessian(lambda a: (a * 3).sum(), x).numpy(), np.zeros((2, 2)))


def test_bad_arguments_raise_pytorchs_errors():
    x = G.tensor([1.0, 2.0], dtype=G.float64)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        AF.jacobian(lambda a: a, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="v has invalid size"):
        AF.vjp(lambda a: a * 2, x, G.ones(3))
    with pytest.raises(RuntimeError, match="should contain a single element"):
        AF.hessian(lambda a: a * 2, x)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(lambda a: a, x, strategy="forward-mode")
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(lambda a: a, x, strategy="sideways")
