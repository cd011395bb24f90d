"""Adadelta as torch.optim.Adadelta: s = rho s + (1 - rho) d d; delta = sqrt(a + eps) / sqrt(s + eps) d;
a = rho a + (1 - rho) delta delta; p -= lr delta (the optimizer of PyTorch's MNIST example)."""
from .optimizer import Optimizer, advance, step_tensor, zeros_state

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler) with PyTorch's options: rho, eps, weight decay and maximize."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}")

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["square_avg"] = zeros_state(p)
            state["acc_delta"] = zeros_state(p)
        advance(state)
        rho, eps = group["rho"], group["eps"]
        d = self._direction(p, g, group)
        t, delta = self._temp(p, "t"), self._temp(p, "delta")
        square_avg, acc_delta = state["square_avg"]._data, state["acc_delta"]._data
        square_avg *= rho
        xp.multiply(d, d, out=t)
        t *= 1 - rho
        square_avg += t
        xp.add(square_avg, eps, out=t)
        std = xp.sqrt(t, out=t)
        xp.add(acc_delta, eps, out=delta)
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= d
        acc_delta *= rho
        xp.multiply(delta, delta, out=t)
        t *= 1 - rho
        acc_delta += t
        delta *= group["lr"]
        p._data -= delta
