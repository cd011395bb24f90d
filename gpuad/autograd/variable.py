"""``autograd.Variable``: PyTorch's pre-0.4 wrapper, kept there as a function returning a tensor; here too."""

from ..tensor import Tensor


def Variable(data, requires_grad=False, volatile=False):  # noqa: N802 - PyTorch's name
    """``data`` itself (a tensor), with ``requires_grad`` set when asked, as ``torch.autograd.Variable`` does today;
    ``volatile`` has no effect (as in PyTorch, where ``no_grad`` replaced it)."""
    if not isinstance(data, Tensor):
        raise TypeError(f"Variable: data must be a tensor, got {type(data).__name__}")
    if requires_grad:
        data.requires_grad_(True)
    return data
