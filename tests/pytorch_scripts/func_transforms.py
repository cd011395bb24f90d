# Function transforms: vmap, grad, jacrev, functional_call, hessian, and torch.autograd.functional
import numpy as np
import torch
from torch.func import functional_call, grad, grad_and_value, hessian, jacrev, vmap

rng = np.random.default_rng(8)
model = torch.nn.Linear(3, 2).double()
with torch.no_grad():
    model.weight.copy_(torch.tensor(rng.standard_normal((2, 3))))
    model.bias.copy_(torch.tensor(rng.standard_normal(2)))
params = {k: v.detach() for k, v in model.named_parameters()}
x = torch.tensor(rng.standard_normal((5, 3)))
t = torch.tensor(rng.standard_normal((5, 2)))


def loss(p, xi, ti):
    return ((functional_call(model, p, (xi,)) - ti) ** 2).sum()


per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, t)
g, v = grad_and_value(lambda w: (w.sin() * w).sum())(x[0])
jac = jacrev(lambda w: w.exp() * w.sum())(x[0])
hess = hessian(lambda w: (w ** 3).sum() * w.prod())(x[0])
jac2 = torch.autograd.functional.jacobian(lambda w: w.tanh().cumsum(0), x[1])
hvp = torch.autograd.functional.hvp(lambda w: (w.sin() ** 2).sum(), x[2], torch.ones(3, dtype=torch.float64))[1]
batched = vmap(lambda r: r @ r)(x)
RESULT = (per_example["weight"].flatten().tolist() + per_example["bias"].flatten().tolist() + g.tolist()
          + [v.item()] + jac.flatten().tolist() + hess.flatten().tolist() + jac2.flatten().tolist()
          + hvp.tolist() + batched.tolist())
COMPARE = "close"
