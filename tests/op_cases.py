"""Sample inputs for every differentiable op in the registry: the gradcheck suite and the CUDA suite iterate this table,
and a test fails when an op is registered without cases here, so a new op is tested without anyone remembering to."""
import numpy as np

import gpuad as G
from gpuad.nn import functional as F
from gpuad.ops.core import REGISTRY


def normal(*shape):
    return ("normal", shape)


def positive(*shape):
    return ("positive", shape)


def away_from_zero(*shape):
    return ("away", shape)


def make_inputs(spec, rng, dtype="float64", device="cpu", requires_grad=True):
    out = []
    for kind, shape in spec:
        x = rng.standard_normal(shape)
        if kind == "positive":
            x = np.abs(x) + 0.5
        elif kind == "away":
            x = np.sign(x) * (np.abs(x) + 0.2)
        elif kind == "with_zeros":  # exact zeros (every third element), where some gradients need care
            x.reshape(-1)[::3] = 0.0
        out.append(G.tensor(x, dtype=dtype, device=device, requires_grad=requires_grad))
    return out


BROADCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]
IDX = np.array([0, 2, 2, 1])  # repeated index: gradients must add up
LABELS = G.tensor([0, 3, 1, 1, 2, 0])

# op name -> list of (function of the inputs, input specs[, gradcheck options])
CASES = {
    "add": [(lambda a, b: a + b, [normal(*sa), normal(*sb)]) for sa, sb in BROADCAST] + [(lambda a: 2.5 + a, [normal(3)])],
    "sub": [(lambda a, b: a - b, [normal(*sa), normal(*sb)]) for sa, sb in BROADCAST] + [(lambda a: 1 - a, [normal(3)])],
    "mul": [(lambda a, b: a * b, [normal(*sa), normal(*sb)]) for sa, sb in BROADCAST] + [(lambda a: a * 3, [normal(2, 2)])],
    "div": [(lambda a, b: a / b, [normal(*sa), away_from_zero(*sb)]) for sa, sb in BROADCAST]
    + [(lambda a: 2 / a, [away_from_zero(4)])],
    "pow": [(lambda a: a ** 3, [normal(4)]), (lambda a: a ** 0.5, [positive(3)]), (lambda a: a ** -2, [away_from_zero(3)]),
            (lambda a, b: a ** b, [positive(3, 2), normal(2)]), (lambda b: 2.0 ** b, [normal(3)])],
    "maximum": [(G.maximum, [normal(3, 4), normal(4)]), (lambda a: G.maximum(a, 0.1), [normal(5)])],
    "minimum": [(G.minimum, [normal(3, 4), normal(3, 1)]), (lambda a: G.minimum(a, 0.1), [normal(5)])],
    "neg": [(lambda a: -a, [normal(2, 3)])],
    "abs": [(G.abs, [away_from_zero(2, 3)])],
    "sign": [(G.sign, [away_from_zero(4)])],
    "exp": [(G.exp, [normal(2, 3)]), (G.exp, [normal()])],
    "log": [(G.log, [positive(2, 3)])],
    "log1p": [(G.log1p, [positive(4)])],
    "sqrt": [(G.sqrt, [positive(2, 3)])],
    "sin": [(G.sin, [normal(2, 3)])],
    "cos": [(G.cos, [normal(2, 3)])],
    "tan": [(lambda a: G.tan(a * 0.5), [normal(5)])],
    "tanh": [(G.tanh, [normal(2, 3)]), (lambda a: G.tanh(a * 6), [normal(8)])],  # and into saturation
    "erf": [(G.erf, [normal(6)])],
    "sigmoid": [(G.sigmoid, [normal(2, 3)]), (lambda a: G.sigmoid(a * 30), [normal(4)])],
    "relu": [(G.relu, [away_from_zero(3, 3)])],
    "gelu": [(G.gelu, [normal(6)]), (lambda a: G.gelu(a, approximate="tanh"), [normal(6)]),
             (lambda a: G.gelu(a * 6), [normal(8)]), (lambda a: G.gelu(a * 6, approximate="tanh"), [normal(8)])],
    "softplus": [(G.softplus, [normal(6)]), (lambda a: G.softplus(a * 10, beta=2, threshold=5), [normal(6)])],
    "clamp": [(lambda a: G.clamp(a, -0.5, 0.5), [normal(8)]), (lambda a: G.clamp(a, min=0.1), [normal(5)]),
              (lambda a: G.clamp(a, max=0.1), [normal(5)])],
    "where": [(lambda a, b: G.where(a > 0, a, b), [away_from_zero(3, 4), normal(4)]),
              (lambda a: G.where(a > 0, a, 0.0), [away_from_zero(5)])],
    "floor": [(lambda a: G.floor(a * 3), [normal(4)])],
    "ceil": [(lambda a: G.ceil(a * 3), [normal(4)])],
    "round": [(lambda a: G.round(a * 3), [normal(4)])],
    "sum": [(lambda a: a.sum(), [normal(2, 3)]), (lambda a: a.sum(dim=1), [normal(2, 3)]),
            (lambda a: a.sum(axis=(0, 2), keepdims=True), [normal(2, 3, 4)]), (lambda a: a.sum(), [normal()]),
            (lambda a: a.sum(0), [normal(0, 3)])],
    "mean": [(lambda a: a.mean(), [normal(2, 3)]), (lambda a: a.mean(dim=-1, keepdim=True), [normal(2, 3)])],
    "max": [(lambda a: a.max(), [normal(3, 4)]), (lambda a: a.amax(dim=0), [normal(3, 4)]),
            (lambda a: a.amax(1, True), [normal(3, 4)])],
    "min": [(lambda a: a.min(), [normal(3, 4)]), (lambda a: a.amin(axis=1), [normal(3, 4)])],
    "logsumexp": [(lambda a: a.logsumexp(), [normal(3, 4)]), (lambda a: a.logsumexp(dim=1), [normal(3, 4)])],
    "norm": [(lambda a: a.norm(), [normal(3, 4)]), (lambda a: a.norm(dim=1), [normal(3, 4)]),
             (lambda a: a.norm(p=1), [away_from_zero(5)]), (lambda a: a.norm(p=3), [away_from_zero(5)]),
             (lambda a: a.norm(p=float("inf")), [normal(5)])],
    "var": [(lambda a: a.var(), [normal(3, 4)]), (lambda a: a.var(dim=0, correction=0), [normal(3, 4)]),
            (lambda a: a.std(axis=1, ddof=1), [normal(3, 4)])],
    "softmax": [(lambda a: a.softmax(dim=-1), [normal(3, 4)]), (lambda a: G.softmax(a, dim=0), [normal(3, 4)])],
    "log_softmax": [(lambda a: a.log_softmax(dim=1), [normal(3, 4)])],
    "reshape": [(lambda a: a.reshape(4, 3), [normal(3, 4)]), (lambda a: a.view(-1), [normal(3, 4)]),
                (lambda a: a.flatten(), [normal(2, 3, 2)]), (lambda a: a.unsqueeze(1).squeeze(), [normal(3, 4)])],
    "permute": [(lambda a: a.permute(2, 0, 1), [normal(2, 3, 4)]), (lambda a: a.transpose(0, 1), [normal(2, 3)]),
                (lambda a: a.T, [normal(2, 3)]), (lambda a: a.mT, [normal(2, 3, 4)])],
    "expand": [(lambda a: a.expand(3, 4), [normal(4)]), (lambda a: a.expand(2, -1, 3), [normal(4, 1)]),
               (lambda a: G.broadcast_to(a, (2, 3)), [normal()])],
    "sum_to_shape": [(lambda a: G.ops.sum_to_shape(a, (1, 4)), [normal(3, 4)])],
    "cat": [(lambda a, b: G.cat([a, b], dim=1), [normal(2, 3), normal(2, 1)]),
            (lambda a, b: G.concatenate([a, b]), [normal(2, 3), normal(1, 3)])],
    "stack": [(lambda a, b: G.stack([a, b], dim=1), [normal(2, 3), normal(2, 3)])],
    "getitem_view": [(lambda a: a[1], [normal(3, 4)]), (lambda a: a[:, 1:3], [normal(3, 4)]),
                     (lambda a: a[..., None, ::2], [normal(3, 4)]), (lambda a: a.split(2, dim=1)[1], [normal(3, 5)]),
                     (lambda a: G.stack(a.unbind(0)), [normal(2, 3)])],
    "getitem": [(lambda a: a[IDX], [normal(3, 2)]), (lambda a: a[:, [1, 1, 0]], [normal(2, 3)]),
                (lambda a: a[a > 0], [away_from_zero(3, 4)]), (lambda a: a[G.tensor(IDX, device=a.device)], [normal(4)])],
    "index_backward": [(lambda a: G.ops.shape.index_backward(a, (3,), (a.device.backend.xp.asarray(IDX),), False),
                        [normal(4)])],
    "clone": [(lambda a: a.clone(), [normal(3)])],
    "flip": [(lambda a: a.flip(0), [normal(3, 2)]), (lambda a: G.flip(a, (0, -1)), [normal(2, 3, 2)])],
    "cumsum": [(lambda a: a.cumsum(1), [normal(3, 4)]), (lambda a: G.cumsum(a, 0), [normal(5)]),
               (lambda a: a.cumsum(0), [normal()])],
    "remainder": [(lambda a, b: a % (b.abs() + 1), [normal(3, 4), normal(4)]), (lambda a: 7.5 % (a.abs() + 1),
                                                                              [normal(3)])],
    "floor_divide": [(lambda a, b: a // (b.abs() + 1) + a, [normal(4), normal(4)])],
    "alias": [(G.ops.convert.alias, [normal(2, 2)])],
    "contiguous": [(lambda a: a.T.contiguous(), [normal(3, 2)])],
    "matmul": [(lambda a, b: a @ b, [normal(3, 4), normal(4, 2)]), (lambda a, b: a @ b, [normal(4), normal(4)]),
               (lambda a, b: a @ b, [normal(4), normal(2, 4, 3)]), (lambda a, b: a @ b, [normal(2, 3, 4), normal(4)]),
               (lambda a, b: a @ b, [normal(2, 1, 3, 4), normal(5, 4, 2)]), (G.dot, [normal(5), normal(5)])],
    "to_dtype": [(lambda a: a.float().double() * 1.0, [normal(3)], {"eps": 1e-2, "atol": 1e-4})],
    "to_device": [(lambda a: a.to("cpu") * 2, [normal(3)])],
    "copy": [(lambda a: G.zeros(2, 3, dtype=a.dtype, device=a.device).copy_(a), [normal(3)]),
             (lambda a, b: (a * 1).copy_(b) * a, [normal(2, 3), normal(3)])],
    "fill": [(lambda a: (a * 1).fill_(2.0) * a, [normal(2, 3)]), (lambda a: (a * 1).zero_() + a, [normal(3)])],
    "copy_slices": [(lambda a, b: _in_place_through_view(a, b), [normal(3, 4), normal(3)]),
                    (lambda a, b: _in_place_through_view(a.T, b), [normal(4, 3), normal(3)])],
    "index_put": [(lambda a, v: _index_put(a, v), [normal(4, 3), normal(3)])],
    # the fused linear layer: one op per activation of gpuad/activations.py
    **{op.name: [(lambda x, w, b, act=act: F.linear(x, w, b, act), [normal(5, 4), normal(3, 4), away_from_zero(3)]),
                 (lambda x, w, act=act: F.linear(x, w, None, act), [normal(2, 5, 4), normal(3, 4)]),
                 (lambda x, w, b, act=act: F.linear(x, w, b, act), [normal(4), normal(3, 4), normal(3)])]
       for act, op in F.LINEAR_OPS.items()},
    "cross_entropy": [(lambda logits, r=r: F.cross_entropy(logits, LABELS.to(logits.device), reduction=r),
                       [normal(6, 4)])
                      for r in ("mean", "sum", "none")]
    + [(lambda logits, r=r: F.cross_entropy(logits, G.tensor([0, -100, 2, 1, 2, -100]).to(logits.device),
                                             weight=G.tensor([0.5, 1.5, 2.0], dtype=logits.dtype).to(logits.device),
                                             reduction=r, label_smoothing=0.2),
        [normal(6, 3)]) for r in ("mean", "none")]
    + [(lambda logits, r=r: F.cross_entropy(logits, G.tensor([0, -100, 3, 1, -100, 2]).to(logits.device), reduction=r),
        [normal(6, 4)]) for r in ("mean", "sum")]  # ignored rows on the fused CUDA path
    + [(lambda logits, q: F.cross_entropy(logits, q.softmax(1), label_smoothing=0.1), [normal(4, 3), normal(4, 3)]),
       (lambda logits: F.cross_entropy(logits, G.tensor([[0, 2], [1, 1]]).to(logits.device), reduction="sum"),
        [normal(2, 3, 2)]),
       (lambda logits: F.cross_entropy(logits, G.tensor(2).to(logits.device)), [normal(3)])],
    "constant_pad": [(lambda a: F.pad(a, (1, 2, 0, 1), value=0.5), [normal(2, 3)]),
                     (lambda a: F.pad(a, (-1, 1)), [normal(2, 4)])],
}


def _in_place_through_view(a, b):
    """In-place ops through views of a non-leaf: the base is rebased (CopySlices), views taken before are replayed."""
    y = a * 1.0
    column = y[:, 1]
    y[:, 2].mul_(b)
    y.T[0].add_(b * b)
    return y * column.sum()


def _index_put(a, v):
    y = a * 1.0
    y[1] = v
    return y


from op_cases_api import add_api_cases  # noqa: E402 - the Tensor API ops' cases, kept in their own file
add_api_cases(CASES)
def fused_grad_cases():
    """The cases above that run a fused CUDA backward rule (``Op.cuda_grad``), for every op that has one: each case
    whose last op is that op with only tensor operands, once per distinct function. Returns {case id: (function,
    sample kind of each input, rule name, op name)}; the rule (which may depend on the op's params) is read from
    the node the case records when run once on the CPU."""
    cases, seen = {}, set()
    for name in sorted(n for n, op in REGISTRY.items() if op.cuda_grad):
        for i, (fn, spec, *_) in enumerate(CASES.get(name, ())):
            node = fn(*make_inputs(spec, np.random.default_rng(0))).grad_fn
            if node is None or node.op is not REGISTRY[name] or None in node.next:
                continue  # another op last, or a constant operand: the fused rule does not run
            kinds = tuple(kind for kind, _ in spec)
            rule = node.op.grad_rule(node.params)
            key = (name, rule, kinds, getattr(fn, "__code__", fn))  # the comprehension-built cases share code
            if key not in seen:
                seen.add(key)
                cases[f"{name}-{i}"] = (fn, kinds, rule, name)
    return cases
