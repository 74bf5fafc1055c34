#!/usr/bin/env python3
"""Writes autodiff/testdata/torch_f32_sums.json: how PyTorch 1.13 (CPU) sums in float32 on a
ResNet-sized activation [32,16,32,32] (32,768 values per channel), the independent reference
of TestFloat32SumsMatchPyTorch and TestBatchNormFloat32StatsMatchPyTorch.

Run once with Debian's python3-torch (/usr/bin/python3 scripts/torch_f32_sums.py); the output
is committed. Inputs come from a formula both sides evaluate in float64 and round once to
float32: v(seed, i) = 1 + value(seed, i)·0.37 for activations, value(seed, i)·0.37 for the
gradient (value as in torch_op_fixtures.py). Recorded, all float32 values as float64:
- conv_bias_grad: the bias gradient of conv2d (x [32,3,32,32], w [16,3,3,3], padding 1) for
  the upstream gradient R (seed 99), and the same in float64;
- running_mean, running_var: nn.BatchNorm2d(16)'s running statistics after one training
  step on x (seed 11) from 0 and 1 (momentum 0.1), float32 and float64;
- conv_errors: for ResNet-20's convolution shapes at batch 32 (3x3, padding 1), the relative
  l2 error of PyTorch's float32 forward (conv2d), backward-data (conv2d_input) and
  backward-filter (conv2d_weight) against float64 on the same float32 inputs: activations x
  (seed 21, offset 1), weights w (seed 22), output gradient d (seed 23).
"""
import os
import sys

import torch
import torch.nn.functional as F

from torch_op_fixtures import value, write_json

SHAPE = [32, 16, 32, 32]


def tensor(seed, shape, offset):
    n = 1
    for d in shape:
        n *= d
    v = [offset + value(seed, i) * 0.37 for i in range(n)]
    return torch.tensor(v, dtype=torch.float64).reshape(shape).to(torch.float32)


def flat(t):
    return [float(v) for v in t.detach().double().reshape(-1)]


# ResNet-20's convolutions: (C, O, H, stride), batch 32, 3x3, padding 1.
CONVS = [(3, 16, 32, 1), (16, 16, 32, 1), (16, 32, 32, 2), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 8, 1)]


def conv_errors(c, o, h, stride):
    x, w = tensor(21, [32, c, h, h], 1.0), tensor(22, [o, c, 3, 3], 0.0)
    oh = (h + 2 - 3) // stride + 1
    d = tensor(23, [32, o, oh, oh], 0.0)
    res = {}
    for dt in (torch.float32, torch.float64):
        xx, ww, dd = x.to(dt), w.to(dt), d.to(dt)
        res[dt] = [F.conv2d(xx, ww, stride=stride, padding=1),
                   torch.nn.grad.conv2d_input(list(x.shape), ww, dd, stride=stride, padding=1),
                   torch.nn.grad.conv2d_weight(xx, list(w.shape), dd, stride=stride, padding=1)]
    rel = [float((a.double() - b).norm() / b.norm()) for a, b in zip(res[torch.float32], res[torch.float64])]
    return {"c": c, "o": o, "h": h, "stride": stride, "forward": rel[0], "data": rel[1], "filter": rel[2]}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "autodiff", "testdata", "torch_f32_sums.json")
    torch.set_num_threads(1)
    doc = {"generator": "scripts/torch_f32_sums.py", "torch": torch.__version__, "shape": SHAPE}
    r = tensor(99, SHAPE, 0.0)
    x = tensor(1, [32, 3, 32, 32], 1.0)
    w = tensor(2, [16, 3, 3, 3], 0.0)
    for dt, key in ((torch.float32, "conv_bias_grad"), (torch.float64, "conv_bias_grad_f64")):
        b = torch.zeros(16, dtype=dt, requires_grad=True)
        y = F.conv2d(x.to(dt), w.to(dt), b, padding=1)
        (y * r.to(dt)).sum().backward()
        doc[key] = flat(b.grad)
    xb = tensor(11, SHAPE, 1.0)
    for dt, sfx in ((torch.float32, ""), (torch.float64, "_f64")):
        rm, rv = torch.zeros(16, dtype=dt), torch.ones(16, dtype=dt)
        F.batch_norm(xb.to(dt), rm, rv, None, None, training=True, momentum=0.1, eps=1e-5)
        doc["running_mean" + sfx], doc["running_var" + sfx] = flat(rm), flat(rv)
    doc["conv_errors"] = [conv_errors(*c) for c in CONVS]
    write_json(out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
