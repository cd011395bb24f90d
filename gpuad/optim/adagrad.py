"""Adagrad as torch.optim.Adagrad: sum += d d; p -= clr d / (sqrt(sum) + eps) with clr = lr / (1 + (t - 1) lr_decay).
As in PyTorch, every parameter's state (step 0, sum = initial_accumulator_value) exists from construction."""
from ..tensor import wrap
from .optimizer import Optimizer, advance, step_tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with learning-rate decay, an initial accumulator value, weight decay and maximize."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                p._device.backend.on_device(self._init_state, p, initial_accumulator_value)

    def _validate(self, group):
        super()._validate(group)
        if not 0.0 <= group["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {group['lr_decay']}")
        if not 0.0 <= group["initial_accumulator_value"]:
            raise ValueError(f"Invalid initial_accumulator_value value: {group['initial_accumulator_value']}")

    def _init_state(self, p, initial):
        state = self.state[p]
        state["step"] = step_tensor()
        state["sum"] = wrap(p._device.backend.xp.full_like(p._data, initial), p._device)
        return state

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        state = self.state[p]
        if not state:  # a parameter added later (add_param_group): PyTorch takes the constructor's initial value
            state = self._init_state(p, self.defaults["initial_accumulator_value"])
        step = advance(state)
        d = self._direction(p, g, group)
        t = self._temp(p, "t")
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        total = state["sum"]._data
        total += xp.multiply(d, d, out=t)
        std = xp.sqrt(total, out=t)
        std += group["eps"]
        xp.divide(d, std, out=t)
        t *= clr
        p._data -= t
