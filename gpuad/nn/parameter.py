"""Parameter: a tensor that a Module registers as one of its parameters."""
from ..tensor import TENSOR_TYPES, Tensor
from ..factories import empty, tensor


class Parameter(Tensor):
    """A tensor that a Module registers as one of its parameters (requires grad by default)."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            data = tensor(data)
        super().__init__(data._data, data._device)
        self._version = data._version_counter  # shares memory with data, so it shares the in-place counter too
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


TENSOR_TYPES.add(Parameter)
