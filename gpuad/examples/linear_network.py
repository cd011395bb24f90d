"""A four-layer linear network with squared loss: weight gradients by reverse mode and by forward mode agree.

x = [1, 1], W1 = [[1,1],[1,1]], W2 = [[1,2],[1,1]], W3 = [[1,1],[2,1]], W4 = [[2,1]], target 2,
prediction W4 W3 W2 W1 x, loss (prediction - target)**2. Reverse mode gets all four weight gradients from one
backward pass; forward mode (gpuad.func.jacfwd) pushes one tangent per weight entry, in one batched pass per matrix.

    python -m gpuad.examples.linear_network
"""
import numpy as np

import gpuad
from gpuad import func

X = [1.0, 1.0]
WEIGHTS = {"W1": [[1.0, 1.0], [1.0, 1.0]], "W2": [[1.0, 2.0], [1.0, 1.0]], "W3": [[1.0, 1.0], [2.0, 1.0]],
           "W4": [[2.0, 1.0]]}
TARGET = 2.0


def predict(x, w1, w2, w3, w4):
    return w4 @ (w3 @ (w2 @ (w1 @ x)))


def loss(x, *weights):
    return ((predict(x, *weights) - TARGET) ** 2).sum()


def main(argv=None):
    x = gpuad.tensor(X, dtype=gpuad.float64)
    weights = [gpuad.tensor(w, dtype=gpuad.float64, requires_grad=True) for w in WEIGHTS.values()]
    value = loss(x, *weights)
    value.backward()
    reverse = [w.grad.numpy() for w in weights]
    forward = func.jacfwd(lambda *ws: loss(x, *ws), argnums=(0, 1, 2, 3))(*[w.detach() for w in weights])
    forward = [f.numpy() for f in forward]
    prediction = predict(x, *[w.detach() for w in weights]).item()
    print(f"prediction {prediction:g}, target {TARGET:g}, loss {value.item():g}")
    for name, r, f in zip(WEIGHTS, reverse, forward):
        print(f"d loss / d {name}: reverse {r.tolist()}  forward {f.tolist()}")
    agree = all(np.allclose(r, f, rtol=0, atol=0) for r, f in zip(reverse, forward))
    print("reverse and forward mode agree exactly" if agree else "reverse and forward mode DIFFER")
    return {"loss": value.item(), "reverse": reverse, "forward": forward, "agree": agree}


if __name__ == "__main__":
    main()
