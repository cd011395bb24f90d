"""gpuad.random.fork_rng as torch.random.fork_rng: draws inside the block leave the global generator where it was
(also when the block raises); enabled=False forks nothing. The same observable behaviour as PyTorch's."""
import pytest

import gpuad as G


def fork_behaviour(lib):
    """(after a forked block, after a block that raised, after a disabled fork): does the next draw equal the draw
    with no block at all?"""
    def next_draw_after(block):
        lib.manual_seed(0)
        block()
        return lib.rand(4).tolist()

    lib.manual_seed(0)
    reference = lib.rand(4).tolist()

    def forked():
        with lib.random.fork_rng():
            lib.rand(7)

    def raised():
        with pytest.raises(KeyError):
            with lib.random.fork_rng():
                lib.randn(3)
                raise KeyError("inside")

    def disabled():
        with lib.random.fork_rng(enabled=False):
            lib.rand(7)
    return tuple(next_draw_after(block) == reference for block in (forked, raised, disabled))


def test_fork_rng_restores_the_global_generator_as_pytorch():
    assert fork_behaviour(G) == (True, True, False)
    torch = pytest.importorskip("torch")
    assert fork_behaviour(torch) == fork_behaviour(G)


def test_fork_rng_leaves_a_generator_of_ones_own_alone():
    g = G.Generator().manual_seed(1)
    with G.random.fork_rng():
        first = G.rand(3, generator=g).tolist()
    assert G.rand(3, generator=g).tolist() != first  # g advanced: fork_rng forks only the global state
    with pytest.raises(ValueError, match="device_type must be 'cuda'"):
        with G.random.fork_rng(device_type="mps"):
            pass
