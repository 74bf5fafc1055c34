#!/usr/bin/env python3
"""Writes autodiff/testdata/torch_ops.json: PyTorch's outputs and gradients for pollab's own
conv, pool and batch-norm ops, the independent reference TestOpsMatchPyTorch compares with.

Run once with Debian's python3-torch (/usr/bin/python3 scripts/torch_op_fixtures.py); the
output is committed. Inputs are exact binary fractions from a formula both sides evaluate
(value(seed, i) below), float64 throughout. For each case: the op's output y and the gradients
of L = sum(y * R) (R from the same formula) w.r.t. every input; for batch norm in training
mode also the running statistics after one step from the given ones (momentum 0.1; they
are buffers, not differentiated, and normalise in eval mode).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F


def value(seed, i):
    """Exact in binary: an integer in [-1000, 1000] over 512."""
    return ((i * 7919 + seed * 104729) % 2001 - 1000) / 512.0


def tensor(seed, shape, positive=False):
    n = 1
    for d in shape:
        n *= d
    v = [value(seed, i) for i in range(n)]
    if positive:
        v = [abs(x) + 0.5 for x in v]
    return torch.tensor(v, dtype=torch.float64).reshape(shape)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def run(name, op, params, inputs, fn, positive=()):
    ts = {}
    for k, (seed, shape) in inputs.items():
        ts[k] = tensor(seed, shape, k in positive).requires_grad_(True)
    extra = {}
    y = fn(ts, extra)
    r = tensor(99, list(y.shape))
    (y * r).sum().backward()
    case = {
        "name": name, "op": op, "params": params,
        "inputs": {k: {"seed": s, "shape": list(sh), "positive": k in positive} for k, (s, sh) in inputs.items()},
        "output": flat(y), "output_shape": list(y.shape),
        "grads": {k: flat(t.grad) for k, t in ts.items() if t.grad is not None},
    }
    case.update(extra)
    return case


def conv(name, xs, ws, stride, pad, bias):
    inputs = {"x": (1, xs), "w": (2, ws)}
    if bias:
        inputs["b"] = (3, [ws[0]])
    return run(name, "conv", {"stride": stride, "pad": pad}, inputs,
               lambda t, _: F.conv2d(t["x"], t["w"], t.get("b"), stride=stride, padding=pad))


def pool(name, op, xs, k, stride, pad):
    def fn(t, _):
        if op == "maxpool":
            return F.max_pool2d(t["x"], k, stride, pad)
        if op == "avgpool":
            return F.avg_pool2d(t["x"], k, stride, pad, count_include_pad=True)
        return F.adaptive_avg_pool2d(t["x"], 1)
    return run(name, op, {"kernel": k, "stride": stride, "pad": pad}, {"x": (4, xs)}, fn)


def batchnorm(name, xs, training):
    c = xs[1]
    rm0, rv0 = tensor(7, [c]), tensor(8, [c], positive=True)

    def fn(t, extra):
        rm, rv = rm0.clone(), rv0.clone()
        if training:
            y = F.batch_norm(t["x"], rm, rv, t["gamma"], t["beta"], training=True, momentum=0.1, eps=1e-5)
            extra["running_mean"], extra["running_var"] = flat(rm), flat(rv)
            return y
        return F.batch_norm(t["x"], rm, rv, t["gamma"], t["beta"], training=False, eps=1e-5)
    inputs = {"x": (5, xs), "gamma": (6, [c]), "beta": (9, [c])}
    case = run(name, "batchnorm", {"training": training}, inputs, fn)
    case["buffers"] = {"rm": {"seed": 7, "shape": [c]}, "rv": {"seed": 8, "shape": [c], "positive": True}}
    return case


def write_json(out, doc):
    """Writes doc to out compactly, through a temporary file renamed into place."""
    with open(out + ".tmp", "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(out + ".tmp", out)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "autodiff", "testdata", "torch_ops.json")
    cases = [
        conv("conv/stride2-pad1-nonsquare-bias", [2, 3, 7, 6], [4, 3, 3, 2], 2, 1, True),
        conv("conv/1x1-batch1", [1, 2, 5, 5], [3, 2, 1, 1], 1, 0, False),
        conv("conv/stride3-batch9", [9, 1, 5, 4], [2, 1, 2, 3], 3, 0, False),
        conv("conv/5x5-pad2-bias", [2, 4, 9, 9], [6, 4, 5, 5], 1, 2, True),
        pool("maxpool/k2-s2", "maxpool", [2, 3, 5, 7], 2, 2, 0),
        pool("maxpool/k3-s2-p1", "maxpool", [1, 2, 6, 5], 3, 2, 1),
        pool("avgpool/k2-s2", "avgpool", [2, 3, 5, 7], 2, 2, 0),
        pool("avgpool/k3-s2-p1", "avgpool", [1, 2, 6, 5], 3, 2, 1),
        pool("globalavgpool", "globalavgpool", [2, 3, 4, 5], 0, 1, 0),
        batchnorm("batchnorm/train", [3, 4, 3, 2], True),
        batchnorm("batchnorm/eval", [2, 4, 3, 2], False),
        batchnorm("batchnorm/train-batch1-1ch-nonsquare", [1, 1, 3, 5], True),
        batchnorm("batchnorm/train-1x7", [2, 3, 1, 7], True),
    ]
    write_json(out, {"generator": "scripts/torch_op_fixtures.py", "torch": torch.__version__, "cases": cases})
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
