"""Every optimizer configuration of test_optim_pytorch on the GPU against the same run on the CPU (float64), with
gpuad's fused kernels on and off (SGD, Adam and AdamW run as one kernel per parameter; the others on CuPy arrays),
and a checkpoint written on the GPU resumed on the CPU. Skipped where no GPU is present."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from gpuad import optim
from optim_cases import CONFIGS, IDS, batches, initial_values

pytestmark = [requires_cuda, pytest.mark.cuda]
DEVICE = "cuda"


def train(name, options, device, data, opt_state=None, values=None):
    params = [G.tensor(v, dtype=G.float64, device=device) for v in (values or initial_values())]
    for i, p in enumerate(params):
        if i != 5:
            p.requires_grad_()
    w1, b1, w2, b2, gain, offset, unused = params
    opt = getattr(optim, name)([{"params": [w1, b1], "lr": options["lr"] * 0.5},
                                {"params": [w2, b2, gain, offset, unused]}], **options)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    sign = -1.0 if options.get("maximize") else 1.0
    for x, y in data:
        opt.zero_grad()
        logits = (G.tensor(x, device=device) @ w1.T + b1).tanh() @ w2.T * gain + b2 + offset
        (sign * G.nn.functional.cross_entropy(logits, G.tensor(y, device=device))).backward()
        opt.step()
    return [p.detach().cpu().numpy().copy() for p in params], opt


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "cupy"])
@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_gpu_steps_match_the_cpu(name, options, fused):
    with G.cuda.fused_kernels(fused):
        got, opt = train(name, options, DEVICE, batches())
    want, _ = train(name, options, "cpu", batches())
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"parameter {i}")
    for s in opt.state.values():
        for key, value in s.items():
            assert value.device.type == ("cpu" if key in ("step", "mu_product") else DEVICE), key


@pytest.mark.parametrize("name,options", CONFIGS[::4], ids=IDS[::4])
def test_a_gpu_checkpoint_resumes_on_the_cpu(name, options, tmp_path):
    data = batches()
    straight, _ = train(name, options, "cpu", data)
    middle, opt = train(name, options, DEVICE, data[:20])
    path = str(tmp_path / "gpu.gpuad")
    G.save(opt.state_dict(), path)
    resumed, _ = train(name, options, "cpu", data[20:], G.load(path, map_location="cpu"), values=middle)
    for a, b in zip(resumed, straight):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
