"""``set_default_device`` moves where factories put new tensors, as PyTorch's; ``gpuad.accelerator`` answers as
``torch.accelerator`` does on a machine without (or with) a GPU."""
import pytest

import gpuad as G
from conftest import requires_cuda


@pytest.fixture
def restore_default():
    yield
    G.set_default_device(None)


def test_default_device_is_the_cpu():
    assert G.get_default_device() == G.device("cpu")
    assert G.zeros(2).device == G.device("cpu")


def test_set_default_device_rejects_unknown_devices(restore_default):
    with pytest.raises(ValueError, match="unknown device"):
        G.set_default_device("tpu")


@pytest.mark.skipif(G.cuda.is_available(), reason="checks the answers on a machine without a GPU")
def test_accelerator_without_a_gpu():
    assert G.accelerator.is_available() is False
    assert G.accelerator.current_accelerator() is None
    assert G.accelerator.device_count() == 0


@requires_cuda
@pytest.mark.parametrize("factory", [lambda: G.zeros(2), lambda: G.randn(3), lambda: G.arange(4),
                                     lambda: G.tensor([1.0, 2.0]), lambda: G.linspace(0, 1, 5), lambda: G.eye(2)])
def test_factories_follow_the_default_device(factory, restore_default):
    G.set_default_device("cuda")
    assert factory().device == G.device("cuda:0")
    G.set_default_device(None)
    assert factory().device == G.device("cpu")


@requires_cuda
def test_accelerator_with_a_gpu():
    assert G.accelerator.is_available()
    assert G.accelerator.current_accelerator().type == "cuda"
