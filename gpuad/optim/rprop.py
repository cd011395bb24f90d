"""Rprop as torch.optim.Rprop: each element's step size grows by etaplus while its gradient keeps its sign and
shrinks by etaminus when the sign flips (clamped to step_sizes); after a flip that element skips one update;
p -= sign(g) step_size. Only the gradient's sign is used (no weight decay, as in PyTorch)."""
from ..tensor import wrap
from .optimizer import Optimizer, _number, advance, step_tensor, zeros_state

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller and Braun) with PyTorch's etas, step_sizes and maximize."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))

    def _validate(self, group):
        super()._validate(group)
        for key in ("etas", "step_sizes"):
            if not isinstance(group[key], (tuple, list)) or len(group[key]) != 2:
                raise ValueError(f"{key} must be a pair, got {group[key]!r}")
        etaminus, etaplus = (_number(e, "etas") for e in group["etas"])
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")

    def _update(self, p, g, group):
        xp = p._device.backend.xp
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["prev"] = zeros_state(p)
            state["step_size"] = wrap(xp.full_like(p._data, group["lr"]), p._device)
        advance(state)
        etaminus, etaplus = group["etas"]
        low, high = group["step_sizes"]
        d = xp.negative(g, out=self._temp(p, "d")) if group["maximize"] else g
        prev, step_size = state["prev"]._data, state["step_size"]._data
        t, factor, mask = self._temp(p, "t"), self._temp(p, "factor"), self._mask(p, xp)
        xp.multiply(d, prev, out=t)
        factor.fill(1.0)
        xp.copyto(factor, etaplus, where=xp.greater(t, 0, out=mask))
        xp.copyto(factor, etaminus, where=xp.less(t, 0, out=mask))  # mask: the elements whose sign flipped
        step_size *= factor
        xp.clip(step_size, low, high, out=step_size)
        xp.copyto(prev, d)
        xp.copyto(prev, 0, where=mask)  # a flipped element does not move this step and counts as no sign next
        xp.sign(prev, out=t)
        t *= step_size
        p._data -= t

    def _mask(self, p, xp):
        """A boolean scratch array shaped like the parameter, kept for it."""
        bufs = self._scratch_of(p)
        mask = bufs.get("mask")
        if mask is None or mask.shape != p._data.shape or type(mask) is not type(p._data):
            mask = bufs["mask"] = xp.empty(p._data.shape, dtype=bool)
        return mask
