"""PyTorch's legacy spellings that old tutorials and user code still type: ``torch.Tensor(2, 3)``,
``torch.Tensor([1, 2])``, ``torch.autograd.Variable(t, requires_grad=True)``; compared with PyTorch."""
import numpy as np
import pytest

import gpuad as G

CASES = {
    "sizes": lambda lib: lib.Tensor(2, 3).shape,
    "empty": lambda lib: lib.Tensor().shape,
    "list": lambda lib: lib.Tensor([1, 2]).tolist(),
    "nested": lambda lib: lib.Tensor([[1, 2], [3, 4]]).tolist(),
    "int array": lambda lib: lib.Tensor(np.arange(3)).tolist(),
    "dtype": lambda lib: str(lib.Tensor([1, 2]).dtype).replace("torch.", "").replace("gpuad.", ""),
    "variable": lambda lib: lib.autograd.Variable(lib.ones(2), requires_grad=True).requires_grad,
    "variable grad": lambda lib: (lambda v: ((v * v).sum().backward(), v.grad.tolist())[1])(
        lib.autograd.Variable(lib.tensor([1.0, 2.0]), requires_grad=True)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_legacy_spelling_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = CASES[name](G), CASES[name](torch)
    assert tuple(ours) == tuple(theirs) if isinstance(theirs, torch.Size) else ours == theirs


def test_tensor_of_sizes_is_zeros_of_the_default_dtype():
    t = G.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == G.get_default_dtype() and t.abs().sum().item() == 0


@pytest.mark.parametrize("args", [(2, "a"), (-1, 2), (1.5,)])
def test_bad_legacy_arguments_raise_clearly(args):
    with pytest.raises((TypeError, ValueError), match="Tensor|can't make a tensor"):
        G.Tensor(*args)


def test_variable_needs_a_tensor():
    with pytest.raises(TypeError, match="Variable: data must be a tensor"):
        G.autograd.Variable([1.0, 2.0])


@pytest.mark.parametrize("data", [[np.float64(1.0)], [1.0, np.float64(2)], [np.float32(1)], [1.0, np.float32(2)],
                                  [1, np.float64(2)], [np.float16(1)], [[np.float64(1), 2.0]], [1.0, 2.0]],
                         ids=str)
def test_numpy_scalars_in_lists_keep_their_dtype_as_in_pytorch(data):
    torch = pytest.importorskip("torch")
    assert repr(G.tensor(data).dtype).split(".")[1] == repr(torch.tensor(data).dtype).split(".")[1]
