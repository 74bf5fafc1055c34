#!/usr/bin/python3
"""Golden float32 SGD updates from PyTorch's torch.optim.SGD (the reference trainer).

Run with Debian's python3 and python3-torch (PyTorch 1.13 CPU):
    /usr/bin/python3 scripts/sgd_golden.py prover/testdata/sgd_golden [N]
writes OUT.json (hyperparameters, torch version, CPU capability) and OUT.bin: little-endian
float32 arrays of N values each, in this order:
    w0; g_0 .. g_{S-1}; then for each step t = 0 .. S-1: w_{t+1}, buf_{t+1}
(w_t: parameters before update t, g_t: the gradient of update t, buf_{t+1}: the momentum
buffer after it). Inputs are drawn from a fixed numpy seed with magnitudes spread over 2^-12 ..
2^2 so that the roundings show. The learning rate follows MultiStepLR (milestones in steps,
stepped after every update, as pollab does), so the lr of later steps is a Python double
multiplied by gamma, converted to float32 only inside the kernel.

prover's TestSGDGolden asserts that pollab's f32 update gives these bits exactly. With a large
N (e.g. 1000003) and POLLAB_SGD_GOLDEN=OUT the same test measures how often other emulations
match PyTorch.
"""
import json
import sys

import numpy as np
import torch

LR, MOMENTUM, WEIGHT_DECAY, MILESTONES, GAMMA, STEPS = 0.1, 0.9, 5e-4, [2], 0.1, 4


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: sgd_golden.py OUT [N]")
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 4099  # not a multiple of the vector width
    torch.set_num_threads(1)
    rng = np.random.RandomState(20261202)

    def draw(lo, hi):
        mag = np.exp2(rng.uniform(lo, hi, n))
        return (rng.standard_normal(n) * mag).astype(np.float32)

    w0 = draw(-8, 2)
    grads = [draw(-12, 0) for _ in range(STEPS)]
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = torch.optim.SGD([p], lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=MILESTONES, gamma=GAMMA)
    outs = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        sched.step()
        buf = opt.state[p]["momentum_buffer"]
        outs += [p.detach().numpy().copy(), buf.numpy().copy()]
    with open(out + ".bin", "wb") as f:
        for a in [w0] + grads + outs:
            f.write(a.astype("<f4").tobytes())
    cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None
    if cap is None:
        cap = [l.split(":")[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability" in l]
        cap = cap[0] if cap else "unknown"
    meta = {"torch": torch.__version__, "cpu_capability": cap, "n": n, "steps": STEPS, "lr": LR,
            "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "milestones": MILESTONES,
            "gamma": GAMMA, "data": out.rsplit("/", 1)[-1] + ".bin"}
    with open(out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
