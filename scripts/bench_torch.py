#!/usr/bin/env python3
"""PyTorch CPU counterparts of pollab's autodiff benchmarks (autodiff/bench_test.go).

Same workloads, shapes, batches and dtypes:
  TrainStep/{mlp,lenet5,cnn-cifar}/{f32,f64}, TrainStep/resnet20/f32: one forward (train
      mode: BatchNorm updates its running statistics) + mean cross-entropy + backward +
      plain SGD update (w -= lr*g); MLP 784-128-10 ReLU batch 128, LeNet-5 and cnn-cifar
      batch 64, ResNet-20 (He et al.'s CIFAR ResNet, option-A shortcuts, as pollab's
      resnet20 and the PoL reference model.py) on 3x32x32, batch 32.
  GradMatch/mlp/symbolic: R = |dL/dW - g*|^2 and dR/dX by double backprop, MLP 784-128-10
      tanh, batch 128, float64.
  GradMatch/lenet5/symbolic: the same on LeNet-5, batch 64, float64.
scripts/bench.py imports workload() and rate() and interleaves them with pollab's runs.
Run directly: "bench_torch.py [STEPS [THREADS]]" prints "<name> <steps_per_sec>" per workload.
Tested with PyTorch 1.13.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from pollab_torch.models import build_model  # noqa: E402


def mlp(act):
    return nn.Sequential(nn.Linear(784, 128), act(), nn.Linear(128, 10))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def cnn_cifar():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(2048, 64), nn.ReLU(), nn.Linear(64, 10))


def resnet20():
    """pollab_torch's ResNet-20 (the PoL reference model.py's, option-A shortcuts)."""
    return build_model("resnet20")


def rate(step, steps):
    """Steps per second of step() over steps calls, after one warm-up call."""
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def train_step(model, x, y, lr=0.01):
    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return step


def grad_match(model, x, y):
    params = list(model.parameters())
    gstar = [torch.zeros_like(p) for p in params]

    def step():
        xr = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xr), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        r = sum(((gi - si) ** 2).sum() for gi, si in zip(g, gstar))
        torch.autograd.grad(r, xr)
    return step


NETS = {"mlp": (lambda: mlp(nn.ReLU), (784,), 128),
        "lenet5": (lenet5, (1, 28, 28), 64),
        "cnn-cifar": (cnn_cifar, (3, 32, 32), 64),
        "resnet20": (resnet20, (3, 32, 32), 32)}
WORKLOADS = [f"TrainStep/{n}/{t}" for n in NETS for t in ("f32", "f64") if n != "resnet20" or t == "f32"] + \
    ["GradMatch/mlp/symbolic", "GradMatch/lenet5/symbolic"]


def workload(name):
    """The step function of a workload name (see WORKLOADS)."""
    torch.manual_seed(1)
    kind, net, tag = name.split("/")
    if kind == "TrainStep":
        make, shape, batch = NETS[net]
        dtype = torch.float32 if tag == "f32" else torch.float64
        model = make().to(dtype)
        x = torch.rand((batch,) + shape, dtype=dtype)
        return train_step(model, x, torch.randint(0, 10, (batch,)))
    if net == "mlp":
        model, shape, batch = mlp(nn.Tanh).double(), (784,), 128
    else:
        model, shape, batch = lenet5().double(), (1, 28, 28), 64
    x = torch.rand((batch,) + shape, dtype=torch.float64)
    return grad_match(model, x, torch.randint(0, 10, (batch,)))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    for name in WORKLOADS:
        print(f"{name} {rate(workload(name), steps):.2f}", flush=True)


if __name__ == "__main__":
    main()
