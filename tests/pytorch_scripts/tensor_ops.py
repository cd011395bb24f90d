# Tensor ops people type, with their values and dtypes
import numpy as np
import torch

rng = np.random.default_rng(3)
a = torch.tensor(rng.standard_normal((4, 5)))
i = torch.tensor(rng.integers(0, 5, (4, 3)))
vals, idx = a.max(1)
top = a.topk(2, dim=1)
s = torch.sort(a, dim=0, descending=True)
out = [
    vals, idx.double(), a.max(dim=0).values, a.min(1).indices.double(), top.values, top.indices.double(),
    s.values, a.argsort(1).double(), a.gather(1, i), torch.zeros(4, 5, dtype=torch.float64).scatter_(1, i, 1.0),
    torch.zeros(4, 5, dtype=torch.float64).scatter_add(1, i, a[:, :3]), a.index_select(0, torch.tensor([2, 0])),
    a.masked_fill(a > 0, -1.0), a[a > 0.5], torch.nonzero(a > 0).double(), a.prod(1), a.repeat(2, 1),
    a.roll(1, 0), a.tril(), a.triu(1), torch.diag(a[:, :4]), torch.trace(a[:, :4]).reshape(1),
    torch.outer(a[0], a[1]), torch.einsum("ij,kj->ik", a, a), torch.bmm(a.reshape(2, 2, 5), a.reshape(2, 5, 2)),
    torch.lerp(a, a.flip(0), 0.3), torch.logaddexp(a, a.T.reshape(4, 5)), a.square(), a.abs().rsqrt(),
    a.reciprocal(), a.sign(), torch.clamp_min(a, 0.1), a.amax(0), a.amin(1), a.cumsum(1), a.diff(dim=1),
    torch.cdist(a, a[:2]), torch.linalg.norm(a), torch.linalg.vector_norm(a, ord=3, dim=1),
    torch.linalg.inv(a[:, :4] + 4 * torch.eye(4, dtype=torch.float64)), torch.linalg.det(a[:, :4]).reshape(1),
    torch.div(a, 0.3, rounding_mode="floor"), torch.div(a, 0.3, rounding_mode="trunc"),
    torch.where(a > 0, a, torch.zeros_like(a)), a.std(1), a.var(0, unbiased=False), a.mean((0, 1), keepdim=True),
    torch.nan_to_num(torch.tensor([float("nan"), float("inf"), 1.0])), torch.cat([a, a], 1), torch.stack([a, a]),
    a.unsqueeze(1).expand(4, 2, 5).reshape(8, 5), a.t().contiguous().view(-1), a.chunk(2, 1)[1],
    torch.bincount(torch.tensor([0, 1, 1, 3])).double(), torch.unique(torch.tensor([3, 1, 3, 2])).double(),
    torch.count_nonzero(a > 0).double().reshape(1), torch.repeat_interleave(torch.tensor([1.0, 2.0]), 2),
]
RESULT = [x for t in out for x in t.double().flatten().tolist()]
STRINGS = [str(a.shape), repr(vals.dtype), repr(idx.dtype), repr((a > 0).dtype), repr(torch.arange(3).dtype),
           repr(torch.tensor([1, 2]).float().dtype), repr(a.float().half().dtype), str(a.size()), str(a.size(1)),
           str(torch.finfo(torch.float32).eps), str(torch.iinfo(torch.int32).max), str(a.is_floating_point()),
           repr(i.type(torch.float32).dtype), str(torch.tensor(3).item()), str(a.dim()), str(a.numel())]
COMPARE = "close"
