"""The activation table (gpuad/activations.py) is the one list of the fused linear layer's activations: the linear
ops, the CUDA epilogue's functors and instantiations, nn.Sequential's fusion, the CLI's choices and the tests all
derive from it, so adding a record (and its functor in kernels/linear.cu) is all a new activation takes."""
import re

import numpy as np
import pytest

import gpuad as G
from gpuad import activations, nn
from gpuad.backends import cuda_kernels as ck
from gpuad.backends.cpu import CPU_BACKEND
from gpuad.backends.kernel_source import read_kernel
from gpuad.nn import container
from gpuad.nn import functional as F
from gpuad.ops.core import REGISTRY
from gpuad.train import parse_args

RECORDS = list(activations.ACTIVATIONS.values())


def _functors(source):
    """The structs of ``namespace act`` in a kernel source, with the KEEP kind each declares."""
    body = source.split("namespace act {", 1)[1].split("}  // namespace act", 1)[0]
    return dict(re.findall(r"struct (\w+) : Base \{[^}]*?enum \{ KEEP = (KEEP_\w+) \}", body, re.S))


KEEP_KINDS = {activations.NOTHING: "KEEP_NOTHING", activations.MASK: "KEEP_MASK", activations.INPUT: "KEEP_INPUT",
              activations.OUTPUT: "KEEP_OUTPUT"}


def test_each_record_names_a_functor_of_linear_cu_that_keeps_what_the_record_keeps():
    functors = _functors(read_kernel("linear.cu"))
    assert {f"gpuad::act::{name}" for name in functors} == {a.cuda for a in RECORDS}
    for a in RECORDS:
        assert functors[a.cuda.rsplit("::", 1)[1]] == KEEP_KINDS[a.keeps], a


def test_the_epilogue_instantiations_come_from_the_table():
    for template in ("gpuad::bias_act_fwd", "gpuad::bias_act_bwd"):
        instances = ck.RAW_TEMPLATES["linear.cu"][template]
        assert {functor for functor, _ in instances} == {a.cuda for a in RECORDS}
        # the identity without a bias launches nothing, so it alone is not instantiated
        assert ("gpuad::act::Identity", "false") not in instances
        assert len(instances) == 2 * len(RECORDS) - 1


def test_linear_ops_sequential_fusion_and_cli_choices_come_from_the_table():
    assert set(F.LINEAR_OPS) == set(activations.NAMES)
    for name, op in F.LINEAR_OPS.items():
        assert REGISTRY[op.name] is op and op.node_name == "LinearBackward0"
    assert set(container._FUSABLE.values()) == {a.name for a in RECORDS if a.module}
    assert {cls.__name__ for cls in container._FUSABLE} == {a.module for a in RECORDS if a.module}
    for a in RECORDS:
        if a.name is not None:
            assert parse_args(["--activation", a.name]).activation == a.name
    with pytest.raises(SystemExit):
        parse_args(["--activation", "swish"])


def test_an_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"activation must be one of \(None, 'relu'"):
        F.linear(G.ones(2, 3), G.ones(4, 3), None, "swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        F.linear(G.ones(2, 3), G.ones(4, 3), None, ["relu"])


@pytest.mark.parametrize("a", RECORDS, ids=lambda a: str(a.name))
def test_forward_and_grad_on_arrays_match_the_slope_in_tensor_ops(a):
    """forward(xp, z) keeps what ``keeps`` says, and grad(xp, g, kept) equals g times slope(out, z)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    z[0, :2] = (0.0, -0.0)  # relu's kink: slope 0 there
    g = rng.standard_normal((5, 4))
    out, kept = a.forward(CPU_BACKEND.xp, z.copy())
    expected_kept = {activations.NOTHING: None, activations.MASK: z > 0, activations.INPUT: z,
                     activations.OUTPUT: out}[a.keeps]
    if expected_kept is None:
        assert kept is None
    else:
        np.testing.assert_array_equal(kept, expected_kept)
    slope = a.slope(lambda: G.tensor(out), lambda: G.tensor(z))
    slope = np.broadcast_to(slope.numpy() if isinstance(slope, G.Tensor) else slope, z.shape)
    np.testing.assert_allclose(a.grad(CPU_BACKEND.xp, g.copy(), kept), g * slope, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("a", [a for a in RECORDS if a.module], ids=lambda a: a.name)
def test_each_activation_computes_its_module_bit_for_bit(a):
    z = np.random.default_rng(1).standard_normal((7, 3)) * 4
    out, _ = a.forward(CPU_BACKEND.xp, z.copy())
    np.testing.assert_array_equal(out, getattr(nn, a.module)()(G.tensor(z)).numpy())
