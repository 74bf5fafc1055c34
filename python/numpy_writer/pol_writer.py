#!/usr/bin/env python3
"""An independent writer of pollab proofs (format pollab-proof/1), from docs/FORMAT.md alone.

It shares no code with pollab: Python's standard library and numpy only. It regenerates the
synthetic dataset (docs/FORMAT.md, "Datasets"), trains a float64 MLP with hand-written
backpropagation and torch.optim.SGD's update rule (momentum, weight decay, one MultiStepLR
milestone stepped per iteration), and writes every file of a proof: safetensors checkpoints
with zero momentum buffers at step 0, indices.bin, hashes.bin, manifest.json and
provenance.json. `pollab verify OUT --q 0 --delta 1e-9` accepts the result; the Go test
cmd/pollab/numpy_writer_test.go runs it.

Usage: pol_writer.py OUT_DIR [--seed S] [--epochs E] [--k K]
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np

MASK64 = (1 << 64) - 1

# --- Randomness of the synthetic dataset: Go's math/rand/v2 PCG (128-bit LCG, DXSM output) ---

PCG_MUL = (2549297995355413924 << 64) | 4865540595714422341
PCG_INC = (6364136223846793005 << 64) | 1442695040888963407
PCG_STREAM = 0x9E3779B97F4A7C15  # the fixed low half of every state pollab seeds


class PCG:
    """A PCG whose 128-bit state is (hi = seed, lo = PCG_STREAM)."""

    def __init__(self, seed):
        self.state = (seed << 64) | PCG_STREAM

    def uint64(self):
        self.state = (self.state * PCG_MUL + PCG_INC) & ((1 << 128) - 1)
        hi, lo = self.state >> 64, self.state & MASK64
        hi ^= hi >> 32
        hi = (hi * 0xDA942042E4DD58B5) & MASK64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & MASK64

    def unit_float(self):
        return (self.uint64() >> 11) / float(1 << 53)

    def below(self, n):
        reject = (1 << 64) % n  # the lowest 2^64 mod n outputs are rejected
        while True:
            r = self.uint64()
            if r >= reject:
                return r % n


def sub_seed(seed, label, i):
    """First 8 bytes (LE) of SHA-256(u64 LE seed || label || u64 LE i)."""
    h = hashlib.sha256(struct.pack("<Q", seed) + label.encode() + struct.pack("<Q", i & MASK64)).digest()
    return struct.unpack("<Q", h[:8])[0]


def synthetic_train(n, test, dim, classes, seed):
    """The training split of synthetic:n=N,test=T,dim=D,classes=C,seed=S as u8 rows and labels."""
    msrc = PCG(sub_seed(seed, "synthetic/means", 0))
    means = [0.2 + 0.6 * msrc.unit_float() for _ in range(classes * dim)]
    src = PCG(sub_seed(seed, "synthetic/train", 0))
    raw = bytearray(n * dim)
    labels = bytearray(n)
    for i in range(n):
        y = src.below(classes)
        labels[i] = y
        for j in range(dim):
            z = 0.0
            for _ in range(12):
                z += src.unit_float()
            z -= 6
            v = means[y * dim + j] + 0.25 * z
            v = min(max(v, 0.0), 1.0)
            x = v * 255
            b = int(x)
            if x - b >= 0.5:  # round half away from zero (x >= 0)
                b += 1
            raw[i * dim + j] = b
    name = f"synthetic:n={n},test={test},dim={dim},classes={classes},seed={seed}"
    return name, bytes(raw), bytes(labels)


def point_hashes(raw, labels, dim):
    return [hashlib.sha256(raw[i * dim:(i + 1) * dim] + labels[i:i + 1]).digest() for i in range(len(labels))]


def fingerprint(name, shape, classes, hashes):
    h = hashlib.sha256()
    h.update(struct.pack("<Q", len(name.encode())) + name.encode())
    h.update(struct.pack("<Q", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape))
    h.update(struct.pack("<QQ", classes, len(hashes)))
    for ph in hashes:
        h.update(ph)
    return h.hexdigest()


# --- Files ---

def write_file(path, data):
    """Atomic: a temp file in the same directory, synced, renamed."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def safetensors(tensors, metadata):
    """tensors: list of (name, float64 array) in buffer order; F64 little-endian."""
    header = {"__metadata__": metadata}
    off = 0
    for name, a in tensors:
        header[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [off, off + a.size * 8]}
        off += a.size * 8
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-(8 + len(hb)) % 8)  # pad so that the buffer starts 8-byte aligned
    body = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for _, a in tensors)
    return struct.pack("<Q", len(hb)) + hb + body


def table(magic, fields, payload):
    return magic + struct.pack("<I", 1) + b"".join(struct.pack("<I", f) for f in fields) + payload


# --- Model: mlp:IN-H-OUT:relu, PyTorch's default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) ---

def ks_asymptotic_p(x, lo, hi):
    """Kolmogorov's asymptotic two-sided p-value of x against U(lo, hi) (a sanity redraw)."""
    s = np.sort((x - lo) / (hi - lo))
    n = len(s)
    i = np.arange(1, n + 1)
    d = max(np.max(i / n - s), np.max(s - (i - 1) / n))
    t = math.sqrt(n) * d
    return min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 101))))


def init_mlp(widths, rng):
    params = []
    for i in range(1, len(widths)):
        fan_in, out = widths[i - 1], widths[i]
        bound = 1 / math.sqrt(fan_in)
        for name, shape in ((f"fc{i}.weight", (out, fan_in)), (f"fc{i}.bias", (out,))):
            while True:  # redraw the rare tensor whose KS p-value is low, as any careful prover would
                w = rng.uniform(-bound, bound, size=shape)
                if ks_asymptotic_p(w.ravel(), -bound, bound) > 0.1:
                    break
            params.append((name, w))
    return params


def loss_grad(params, x, y):
    """Mean cross-entropy of a ReLU MLP and its gradient, by hand."""
    ws = [p for _, p in params]
    acts, pre = [x], []
    h = x
    for li in range(0, len(ws), 2):
        z = h @ ws[li].T + ws[li + 1]
        pre.append(z)
        h = np.maximum(z, 0) if li + 2 < len(ws) else z
        acts.append(h)
    z = pre[-1]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    b = len(y)
    loss = -np.mean(np.log(p[np.arange(b), y]))
    dz = p
    dz[np.arange(b), y] -= 1
    dz /= b
    grads = [None] * len(ws)
    for li in range(len(ws) - 2, -1, -2):
        grads[li] = dz.T @ acts[li // 2]
        grads[li + 1] = dz.sum(axis=0)
        if li > 0:
            dz = (dz @ ws[li]) * (pre[li // 2 - 1] > 0)
    return loss, grads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--k", type=int, default=4)
    a = ap.parse_args()

    n, test, dim, classes, dseed = 128, 32, 16, 4, 7
    widths = [dim, 12, classes]
    batch, k, epochs = 16, a.k, a.epochs
    lr0, momentum, wd, milestones, gamma = 0.1, 0.9, 1e-4, [8], 0.1
    model = "mlp:" + "-".join(map(str, widths)) + ":relu"

    name, raw, labels = synthetic_train(n, test, dim, classes, dseed)
    hashes = point_hashes(raw, labels, dim)
    X = np.frombuffer(raw, dtype=np.uint8).reshape(n, dim).astype(np.float64) / 255
    Y = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)

    # Jia et al.'s schedule: one permutation per epoch, concatenated, one global drop-last.
    rng = np.random.Generator(np.random.PCG64(a.seed))
    steps = epochs * n // batch
    order = np.concatenate([rng.permutation(n) for _ in range(epochs)])[:steps * batch]
    rows = order.reshape(steps, batch).astype("<i4")

    params = init_mlp(widths, rng)
    bufs = [np.zeros_like(p) for _, p in params]

    def lr_at(t):
        lr = lr0
        for m in milestones:
            if m <= t:
                lr *= gamma
        return lr

    os.makedirs(os.path.join(a.out, "ckpt"), exist_ok=True)
    ckpts = []

    def checkpoint(t):
        tensors = []
        for (pn, p), buf in zip(params, bufs):
            tensors += [(pn, p), ("momentum." + pn, buf)]
        tensors.sort(key=lambda e: e[0])
        meta = {"format": "pollab-checkpoint/1", "step": str(t), "lr": repr(lr_at(t)), "model": model}
        rel = "ckpt/%06d.safetensors" % t
        ref = write_file(os.path.join(a.out, rel), safetensors(tensors, meta))
        ckpts.append({"step": t, "file": rel, **ref})

    for t in range(steps):
        if t % k == 0:
            checkpoint(t)
        idx = rows[t]
        _, grads = loss_grad(params, X[idx], Y[idx])
        lr = lr_at(t)
        for i, ((pn, p), g) in enumerate(zip(params, grads)):
            d = g + wd * p
            bufs[i] = momentum * bufs[i] + d
            params[i] = (pn, p - lr * bufs[i])
    checkpoint(steps)

    indices = write_file(os.path.join(a.out, "indices.bin"), table(b"PLIX", [steps, batch], rows.tobytes()))
    batch_hashes = b"".join(hashlib.sha256(b"".join(hashes[i] for i in row)).digest() for row in rows)
    hashes_ref = write_file(os.path.join(a.out, "hashes.bin"), table(b"PLBH", [steps], batch_hashes))
    write_file(os.path.join(a.out, "provenance.json"), json.dumps(
        {"pollab": "numpy_writer", "go": "", "command": sys.argv, "notes": "written by python/numpy_writer/pol_writer.py"},
        indent=2).encode() + b"\n")
    manifest = {
        "format": "pollab-proof/1",
        "producer": "numpy_writer",
        "model": model,
        "dataset": {"name": name, "n": n, "fingerprint": fingerprint(name, [dim], classes, hashes),
                    "shape": [dim], "classes": classes},
        "dtype": "f64",
        "optimizer": {"name": "sgd", "lr": lr0, "momentum": momentum, "weight_decay": wd,
                      "milestones": milestones, "gamma": gamma},
        "batch": batch,
        "epochs": epochs,
        "steps": steps,
        "schedule": "pol",
        "k": k,
        "augment": {"enabled": False, "pad": 0, "seeds_recorded": False},
        "seeds": {"init": a.seed, "data": a.seed, "augment": 0},
        "files": {"indices": {"file": "indices.bin", **indices}, "hashes": {"file": "hashes.bin", **hashes_ref}},
        "checkpoints": ckpts,
    }
    write_file(os.path.join(a.out, "manifest.json"), json.dumps(manifest, indent=2).encode() + b"\n")


if __name__ == "__main__":
    main()
