#!/usr/bin/env python3
"""PyTorch CPU counterparts of pollab's autodiff benchmarks (one thread).

Same workloads, shapes, batches and dtypes as autodiff/bench_test.go:
  TrainStep/{mlp,lenet5,cnn-cifar}/{f32,f64}: one forward + mean cross-entropy + backward +
      plain SGD update (w -= lr*g); MLP 784-128-10 ReLU batch 128, LeNet-5 and cnn-cifar
      batch 64.
  GradMatch/symbolic: R = |dL/dW - g*|^2 and dR/dX by double backprop, MLP 784-128-10 tanh,
      batch 128, float64.
Prints one line per workload: "<name> <steps_per_sec>". Tested with PyTorch 1.13.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def timed(step, steps):
    step()  # warm-up
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


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.set_num_threads(1)
    torch.manual_seed(1)
    workloads = [("mlp", lambda: mlp(nn.ReLU), (784,), 128),
                 ("lenet5", lenet5, (1, 28, 28), 64),
                 ("cnn-cifar", cnn_cifar, (3, 32, 32), 64)]
    for name, make, shape, batch in workloads:
        for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            model = make().to(dtype)
            x = torch.rand((batch,) + shape, dtype=dtype)
            y = torch.randint(0, 10, (batch,))
            print(f"TrainStep/{name}/{tag} {timed(train_step(model, x, y), steps):.2f}", flush=True)
    model = mlp(nn.Tanh).double()
    x = torch.rand((128, 784), dtype=torch.float64)
    y = torch.randint(0, 10, (128,))
    print(f"GradMatch/symbolic {timed(grad_match(model, x, y), steps):.2f}", flush=True)


if __name__ == "__main__":
    main()
