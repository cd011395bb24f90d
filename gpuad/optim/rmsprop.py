"""RMSprop as torch.optim.RMSprop: s = alpha s + (1 - alpha) d d; centered subtracts the square of the running mean
of d; p -= lr d / (sqrt(s) + eps), or through a momentum buffer buf = momentum buf + d / (sqrt(s) + eps)."""
from .optimizer import Optimizer, advance, check_momentum, lerp_, step_tensor, zeros_state

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton) with PyTorch's options: momentum, centered, weight decay and maximize."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        check_momentum(group)
        if not 0.0 <= group["alpha"]:
            raise ValueError(f"Invalid alpha value: {group['alpha']}")

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        state = self.state[p]
        momentum, centered, alpha = group["momentum"], group["centered"], group["alpha"]
        if not state:
            state["step"] = step_tensor()
            state["square_avg"] = zeros_state(p)
            if momentum > 0:
                state["momentum_buffer"] = zeros_state(p)
            if centered:
                state["grad_avg"] = zeros_state(p)
        advance(state)
        d = self._direction(p, g, group)
        t = self._temp(p, "t")
        square_avg = state["square_avg"]._data
        square_avg *= alpha
        xp.multiply(d, 1 - alpha, out=t)
        t *= d
        square_avg += t
        if centered:
            grad_avg = lerp_(xp, state["grad_avg"]._data, d, 1 - alpha, t)
            xp.multiply(grad_avg, grad_avg, out=t)
            xp.subtract(square_avg, t, out=t)
            avg = xp.sqrt(t, out=t)
        else:
            avg = xp.sqrt(square_avg, out=t)
        avg += group["eps"]
        data = p._data
        if momentum > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = zeros_state(p)
            buf = state["momentum_buffer"]._data
            buf *= momentum
            buf += xp.divide(d, avg, out=t)
            data -= xp.multiply(buf, group["lr"], out=t)
        else:
            xp.divide(d, avg, out=t)
            t *= group["lr"]
            data -= t
