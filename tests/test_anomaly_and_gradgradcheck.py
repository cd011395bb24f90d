"""detect_anomaly names the op whose VJP made the first NaN/inf and where its forward ran; gradgradcheck checks
second derivatives, as PyTorch's do."""
import numpy as np
import pytest

import gpuad as G
from gpuad.autograd import Function, GradcheckError, detect_anomaly, gradgradcheck, is_anomaly_enabled, \
    set_detect_anomaly


def _sqrt_at_zero():
    x = G.tensor([0.0, 1.0], dtype=G.float64, requires_grad=True)
    y = x.sqrt()  # the forward line the error must point at
    return x, (y * y).sum()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_op_and_its_forward_line():
    with detect_anomaly():
        assert is_anomaly_enabled()
        x, loss = _sqrt_at_zero()
        with pytest.raises(RuntimeError, match="SqrtBackward.*nan") as info:
            loss.backward()
    assert not is_anomaly_enabled()
    message = str(info.value)
    assert "test_anomaly_and_gradgradcheck.py" in message and "y = x.sqrt()" in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_anomaly_mode_the_nan_reaches_the_gradient():
    x, loss = _sqrt_at_zero()
    loss.backward()
    assert np.isnan(x.grad.numpy()[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_set_detect_anomaly_and_inf_gradients():
    set_detect_anomaly(True)
    try:
        x = G.tensor([0.0, 2.0], dtype=G.float64, requires_grad=True)
        out = G.log(x).sum()
        with pytest.raises(RuntimeError, match="LogBackward.*inf"):
            out.backward()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()


def test_anomaly_mode_passes_finite_gradients_through():
    with detect_anomaly():
        x = G.randn(3, 4, dtype=G.float64, requires_grad=True)
        (x.tanh() @ x.T).sum().backward()
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    (tx.tanh() @ tx.T).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn", [lambda x: (x ** 3).sin(), lambda x: x.softmax(-1) * x, lambda x: x @ x.T,
                                lambda x: x.norm() * x.logsumexp(0)])
def test_gradgradcheck_passes_on_correct_second_derivatives(fn):
    x = G.randn(3, 3, dtype=G.float64, requires_grad=True)
    assert gradgradcheck(fn, [x])


class _DetachedSquare(Function):
    """x**2 whose backward uses a detached x: first derivatives are right, second derivatives are 0 (wrong)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x.detach()


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = G.randn(4, dtype=G.float64, requires_grad=True)
    assert G.autograd.gradcheck(_DetachedSquare.apply, [x])
    with pytest.raises(GradcheckError):
        gradgradcheck(_DetachedSquare.apply, [x])
    assert gradgradcheck(_DetachedSquare.apply, [x], raise_exception=False) is False


def test_gradgradcheck_with_given_grad_outputs():
    x = G.randn(2, 3, dtype=G.float64, requires_grad=True)
    seed = G.randn(2, 3, dtype=G.float64, requires_grad=True)
    assert gradgradcheck(lambda x: x.exp() * x, [x], [seed])
