"""The tables that tie Python to ``kernels/`` agree with the CUDA sources, checked from their text: no CuPy, no nvcc,
no GPU, so these run in every CI job.

- Every op's ``cuda_grad`` names a function template defined in ``namespace gpuad`` of ``kernels/elementwise.cu``,
  with the signature its wrapper in ``cuda_kernels`` calls (unary rules ``(g, saved)``, binary ``(g, a, b, ga, gb)``).
- ``cuda_kernels.RAW_TEMPLATES`` lists exactly the ``__global__`` templates of each RawModule file, with their
  template arity; ``_siblings`` and every launch site ask for names from it, and every entry is asked for by one.
- The compile check generated from these tables (tests/kernel_compile_check.py) compiles, where nvcc exists.
"""
import numpy as np
import pytest

import kernel_compile_check as compile_check
from gpuad import activations
from gpuad.backends import cuda_kernels as ck
from gpuad.backends.kernel_source import device_templates, kernel_names, read_kernel
from gpuad.ops.core import REGISTRY
from op_cases import fused_grad_cases

# how cuda_kernels.unary_grad / binary_grad call a rule: (g, saved) -> gx, and (g, a, b, ga&, gb&) -> void
RULE_SIGNATURES = {1: ("A", ("const A", "const A")), 2: ("void", ("const A",) * 3 + ("A&",) * 2)}


def _types(fn):
    return tuple(" ".join(p.split()[:-1]).replace(" &", "&") for p in fn.params)


def grad_rule_problems(rules, source_text):
    """What is wrong with ``rules`` ({(op name, rule name): number of op inputs}) against the text of
    kernels/elementwise.cu: a rule with no definition there, or one whose signature its wrapper cannot call."""
    defined = device_templates(source_text)
    problems = []
    for (op, rule), arity in sorted(rules.items()):
        fn = defined.get(rule)
        returns, params = RULE_SIGNATURES[arity]
        if fn is None:
            problems.append(f"{op}: cuda_grad {rule!r} is not a function template defined in namespace gpuad of "
                            f"kernels/elementwise.cu")
        elif fn.template != ("typename A",) or fn.returns != returns or _types(fn) != params:
            problems.append(f"{op}: gpuad::{rule} is {fn.returns} ({', '.join(_types(fn))}) over "
                            f"<{', '.join(fn.template)}>; a rule for {arity} input(s) is {returns} "
                            f"({', '.join(params)}) over <typename A>")
    return problems


FUSED = fused_grad_cases()
RULES = {(op, rule): len(kinds) for fn, kinds, rule, op in FUSED.values()}


def test_every_op_with_a_fused_backward_has_cases_that_run_it():
    with_rule = sorted(name for name, op in REGISTRY.items() if op.cuda_grad)
    assert with_rule, "no op declares a fused CUDA backward"
    covered = {op for _, _, _, op in FUSED.values()}
    assert not set(with_rule) - covered, ("ops with a cuda_grad but no case in tests/op_cases.py that runs it "
                                          f"(the op last, tensor operands only): {sorted(set(with_rule) - covered)}")
    for name in with_rule:  # a rule given by name is the one its cases run
        if isinstance(REGISTRY[name].cuda_grad, str):
            assert {rule for op, rule in RULES if op == name} == {REGISTRY[name].cuda_grad}


def test_every_cuda_grad_names_a_device_function_of_elementwise_cu():
    assert not grad_rule_problems(RULES, read_kernel("elementwise.cu"))


def test_the_grad_rule_check_catches_wrong_names_and_signatures():
    source = read_kernel("elementwise.cu")
    assert grad_rule_problems({("exp", "exp_bwd"): 1, ("mul", "mul_bwd"): 2}, source) == []
    [problem] = grad_rule_problems({("exp", "exp_bwdd"): 1}, source)
    assert "exp_bwdd" in problem and "not a function template defined" in problem
    [problem] = grad_rule_problems({("mul", "exp_bwd"): 2}, source)  # a unary rule for a binary op
    assert "gpuad::exp_bwd is A (const A, const A)" in problem
    # named only in a comment, a call, a declaration without a body, a struct, or outside namespace gpuad: not defined
    decoy = """// template <typename A> __device__ A ghost_bwd(const A g, const A x) { return g; }
    template <typename A> __device__ A outside_bwd(const A g, const A x) { return g; }
    namespace gpuad {
    template <typename A> __device__ A declared_bwd(const A g, const A x);
    struct S { template <typename A> __device__ A member_bwd(const A g, const A x) { return g; } };
    template <typename A> __device__ A real_bwd(const A g, const A x) { return declared_bwd(g, x) + caller_bwd(g); }
    }"""
    rules = {(n, n + "_bwd"): 1 for n in ("ghost", "outside", "declared", "member", "caller", "real")}
    assert [p.split(":")[0] for p in grad_rule_problems(rules, decoy)] == ["caller", "declared", "ghost", "member",
                                                                           "outside"]


def test_raw_templates_list_every_kernel_of_each_raw_module_file():
    for source in kernel_names():
        kernels = {name: fn for name, fn in device_templates(read_kernel(source)).items()
                   if "__global__" in fn.qualifiers}
        table = ck.RAW_TEMPLATES.get(source, {})
        assert sorted(f"gpuad::{name}" for name in kernels) == sorted(table), source
        for template, instances in table.items():
            fn = kernels[template.split("::")[1]]
            assert instances and {len(values) for values in instances} == {len(fn.template) - 1}, \
                f"{template} has template parameters {fn.template}"
            assert fn.template[0] == "typename T", f"{template}: the storage type comes first"


@pytest.mark.parametrize("source", sorted(ck.RAW_TEMPLATES))
def test_siblings_build_the_whole_table_for_the_asked_storage_type(source):
    for storage in ck.STORAGE_TYPES:
        table = ck.raw_instantiations(source, storage)
        assert len(table) == len(set(table)) > 1
        for name in table:
            siblings = ck._siblings(source, name)
            assert siblings[0] == name and sorted(siblings) == sorted(table)


class RecordingBackend:
    """Just enough of the CUDA backend for cuda_kernels' row-kernel wrappers to run on NumPy arrays, recording the
    name expression of each launch instead of launching."""
    xp = np

    def __init__(self):
        self.launched = []

    def raw(self, source):
        return lambda name, grid, block, args, shared_mem=0: self.launched.append((source, name))

    def error_counter(self, message):
        return np.zeros(1, np.int32)


def test_every_launch_site_asks_for_a_listed_instantiation_and_every_one_is_asked_for():
    backend = RecordingBackend()
    rng = np.random.default_rng(0)
    for dtype in ("float16", "float32", "float64"):
        x = rng.standard_normal((5, 3)).astype(dtype)
        for log in (False, True):
            ck.softmax_grad(backend, x, ck.softmax(backend, x, log), log)
        for index in ("int64", "int32"):
            target = np.array([0, 2, 1, 1, 0], index)
            _, m, log_s = ck.cross_entropy_rows(backend, x, target)
            ck.cross_entropy_rows_grad(backend, x, target, m, log_s, np.ones(5, dtype))
        for activation in activations.NAMES:
            for bias in (None, np.ones(3, dtype)):
                _, saved = ck.bias_activation(backend, x.copy(), bias, activation)
                with np.errstate(all="ignore"):  # nothing launched: the bias sums are what np.empty held
                    ck.bias_activation_grad(backend, x, saved, activation, bias is not None)
    asked = set(backend.launched)
    listed = {(source, name) for source in ck.RAW_TEMPLATES for storage in ck.STORAGE_TYPES
              for name in ck.raw_instantiations(source, storage)}
    assert not asked - listed, f"launched but not in RAW_TEMPLATES: {sorted(asked - listed)}"
    assert not listed - asked, f"in RAW_TEMPLATES but never launched: {sorted(listed - asked)}"


def test_the_compile_check_calls_every_device_function_and_instantiates_the_whole_table():
    unit = compile_check.unit("elementwise.cu")
    for name, fn in device_templates(read_kernel("elementwise.cu")).items():
        assert f"gpuad::{name}<A>(" in unit
    unit = compile_check.unit("linear.cu")
    for storage in ck.STORAGE_TYPES:
        for name in ck.raw_instantiations("linear.cu", storage):
            assert f"(void)&{name};" in unit
    with pytest.raises(ValueError, match=r"gpuad::odd_bwd takes 'const A\* x'"):
        compile_check.device_unit("odd.cu", "namespace gpuad {\n"
                                  "template <typename A> __device__ A odd_bwd(const A* x) { return *x; }\n}")


requires_nvcc = pytest.mark.skipif(compile_check.nvcc() is None, reason="nvcc is not on PATH")


@requires_nvcc
@pytest.mark.parametrize("source", compile_check.sources())
def test_every_kernel_file_passes_the_compile_check(source):
    result = compile_check.compile_unit(compile_check.unit(source))
    assert result.returncode == 0, result.stderr[-4000:]


@requires_nvcc
def test_the_compile_check_fails_on_an_instantiation_that_does_not_exist():
    result = compile_check.compile_unit(compile_check.raw_unit("softmax.cu", ["gpuad::softmax_fwd<float, float>"]))
    assert result.returncode != 0 and "softmax_fwd" in result.stderr
