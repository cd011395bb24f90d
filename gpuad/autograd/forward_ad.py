"""Forward-mode AD with dual numbers, in the spirit of ``torch.autograd.forward_ad``.

Inside ``with dual_level():`` a tensor made by ``make_dual(primal, tangent)`` carries its tangent, and every op
computes the tangent of its output from its inputs' tangents with the op's JVP rule, in the same pass as the value.
Worked example, f(x) = x**3 + log(x) at x = 2:

    with dual_level():
        x = make_dual(tensor(2.0), tensor(1.0))
        y = x ** 3 + log(x)
        unpack_dual(y).tangent    # 3 * 2**2 + 1/2 = 12.5

A tangent may carry leading batch dimensions (shape ``(B,) + primal.shape``): each op then pushes B directions at once,
which is how ``gpuad.func.jacfwd`` builds a whole Jacobian in one forward pass.
"""
import itertools
from collections import namedtuple

from .grad_mode import mode
from ..tensor import Tensor
from ..ops.convert import alias

_level_ids = itertools.count(1)

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


class dual_level:
    """The scope in which dual tensors carry tangents; tangents made inside are ignored outside."""

    def __enter__(self):
        if mode.fw_level:
            raise RuntimeError("nested dual_level() scopes are not supported (forward-over-forward); "
                               "use one level, or reverse mode over forward mode")
        self.level = next(_level_ids)
        mode.fw_level = self.level
        return self.level

    def __exit__(self, *exc):
        mode.fw_level = 0


def enter_dual_level():
    return dual_level().__enter__()


def exit_dual_level():
    mode.fw_level = 0


def make_dual(primal, tangent, *, batched=False):
    """A tensor with ``primal``'s value (and history) that carries ``tangent``. With ``batched=True`` the tangent has
    one extra leading dimension of directions."""
    level = mode.fw_level
    if not level:
        raise RuntimeError("make_dual needs an active forward-mode scope: use `with gpuad.autograd.forward_ad."
                           "dual_level():`")
    if not isinstance(primal, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual expects two tensors")
    expected = primal.shape if not batched else tangent.shape[:1] + primal.shape
    if tangent.shape != expected:
        raise ValueError(f"make_dual: the tangent has shape {tangent.shape}, expected {expected} "
                         f"(the primal's shape{' with a leading batch dimension' if batched else ''})")
    if primal.dtype.kind != "f":
        raise TypeError(f"make_dual: only floating-point tensors have tangents, got {primal.dtype}")
    if tangent._device is not primal._device:
        raise RuntimeError(f"make_dual: the primal is on {primal.device}, the tangent on {tangent.device}")
    if tangent.dtype != primal.dtype:
        tangent = tangent.to(primal.dtype)
    out = alias(primal)
    out._fw = (level, tangent)
    return out


def tangent_of(t):
    """The tangent ``t`` carries at the active level, or None."""
    fw = t._fw if isinstance(t, Tensor) else None
    return fw[1] if fw is not None and fw[0] == mode.fw_level and fw[0] else None


def unpack_dual(t):
    """(primal, tangent) of a tensor; the tangent is None where it carries none at the active level."""
    return UnpackedDualTensor(alias(t) if isinstance(t, Tensor) and t._fw is not None else t, tangent_of(t))
