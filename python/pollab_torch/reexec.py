"""Re-execute a pollab proof in PyTorch: an independent second verifier.

For each chosen interval, load its start checkpoint (weights, momentum buffers, lr) into a
PyTorch module built from the manifest's model spec, run torch.optim.SGD (momentum, weight
decay as the manifest says; lr from the checkpoint, multiplied by gamma at the manifest's
milestones, as MultiStepLR stepped per iteration) on the recorded batches, and compare with
the end checkpoint in l1, l2, linf and cosine distance (pollab's definitions). Batch hashes
of the re-executed steps are checked against the dataset first. Nothing here shares code
with pollab's Go verifier except the file format.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import batch_hash
from .errors import PollabTorchError
from .models import build_model
from .proofio import open_proof

TORCH_DTYPES = {"f32": torch.float32, "f64": torch.float64}
NP_DTYPES = {"f32": np.float32, "f64": np.float64}


def distances(a, b):
    """pollab's distances between flat vectors (float64): l1, l2, linf, cos = 1 - <a,b>/(|a||b|)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a - b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        cos = 0.0
    elif na == 0 or nb == 0:
        cos = 1.0
    else:
        cos = 1.0 - float(np.dot(a, b)) / (na * nb)
    return {"l1": float(np.abs(d).sum()), "l2": float(np.linalg.norm(d)),
            "linf": float(np.abs(d).max()) if d.size else 0.0, "cos": cos}


def lr_after(lr, hyper, step):
    """The lr in force after update ``step`` (0-based): multiplied by gamma if step+1 is a milestone."""
    return lr * hyper["gamma"] if (step + 1) in hyper["milestones"] else lr


def check_dataset(proof, ds):
    """The dataset must be the one the manifest declares (name, size, fingerprint)."""
    want = proof.dataset
    if ds.name != want["name"] or len(ds) != want["n"] or ds.fingerprint() != want["fingerprint"]:
        raise PollabTorchError(f"dataset {ds.name} ({len(ds)} points) is not the proof's {want['name']} "
                               f"({want['n']} points, fingerprint {want['fingerprint'][:16]}...)")


class Gatherer:
    """Batches of a proof as tensors: entries >= 0 from the dataset, < 0 from the payload."""

    def __init__(self, proof, ds, dtype):
        self.proof, self.ds, self.np_dt, self.dt = proof, ds, NP_DTYPES[dtype], TORCH_DTYPES[dtype]
        self.hashes = ds.point_hashes()

    def __call__(self, step):
        row = self.proof.table[step]
        if (row >= len(self.ds)).any():
            raise PollabTorchError(f"step {step}: index {int(row.max())} out of range ({len(self.ds)} points)")
        neg = row < 0
        if neg.any() and (self.proof.payload is None or (-row[neg] - 1).max() >= len(self.proof.payload[1])):
            raise PollabTorchError(f"step {step}: payload index without a matching payload point")
        x = np.empty((len(row), self.ds.dim), self.np_dt)
        y = np.empty(len(row), np.int64)
        pos = ~neg
        if pos.any():
            x[pos], y[pos] = self.ds.features(row[pos], self.np_dt)
        if neg.any():
            px, py = self.proof.payload
            x[neg], y[neg] = px[-row[neg] - 1].astype(self.np_dt), py[-row[neg] - 1]
        return torch.from_numpy(x), torch.from_numpy(y)

    def check_hash(self, step):
        """The recorded batch hash of step against the data (payload points hash as pollab's
        F32 encoding: raw little-endian float32 bytes plus the label byte)."""
        import hashlib
        hs = []
        for idx in self.proof.table[step]:
            if idx >= 0:
                hs.append(self.hashes[idx])
            else:
                px, py = self.proof.payload
                hs.append(hashlib.sha256(px[-idx - 1].astype("<f4").tobytes() + bytes([int(py[-idx - 1])])).digest())
        if batch_hash(hs) != self.proof.batch_hashes[step]:
            raise PollabTorchError(f"step {step}: the recorded batch hash does not match the data")


def load_state(model, opt, ckpt):
    """Copy a checkpoint's parameters, momentum buffers and BatchNorm running statistics (with
    num_batches_tracked = the step) into model and optimizer."""
    params = list(model.parameters())
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        for p, (_, a) in zip(params, ckpt.tensors):
            p.copy_(torch.from_numpy(np.array(a)))
        for n, a in ckpt.buffers:
            buffers[n].copy_(torch.from_numpy(np.array(a)))
            if n.endswith(".running_mean"):
                buffers[n[:-len("running_mean")] + "num_batches_tracked"].fill_(ckpt.step)
    opt.state.clear()
    if ckpt.momentum is not None:
        for p, (_, a) in zip(params, ckpt.momentum):
            opt.state[p]["momentum_buffer"] = torch.from_numpy(np.array(a)).to(p.dtype)
    opt.param_groups[0]["lr"] = ckpt.lr


def flat_params(model):
    return np.concatenate([p.detach().numpy().astype(np.float64).ravel() for p in model.parameters()])


def flat_buffers(model, ckpt):
    """The model's buffers in the checkpoint's (pollab's) order, as one float64 vector."""
    bufs = dict(model.named_buffers())
    return np.concatenate([bufs[n].numpy().astype(np.float64).ravel() for n, _ in ckpt.buffers]) if ckpt.buffers else np.zeros(0)


def reexecute(proof_path, ds, span=1, intervals=None, threads=None, progress=None):
    """Re-execute intervals of span·k steps (span consecutive proof intervals each) and return
    one dict per interval: index, start, end, l1, l2, linf, cos (trainable parameters), and for a
    model with BatchNorm "buffers": the distances of the re-executed running statistics. Steps
    run in training mode (PyTorch's: batch statistics, running statistics updated).
    intervals: indices of the span-grouped intervals (None: all)."""
    proof = open_proof(proof_path)
    check_dataset(proof, ds)
    if proof.augment.get("enabled"):
        raise PollabTorchError("the proof augments its batches; the torch re-executor does not implement "
                               "pollab's augmentation (re-execute it with pollab verify)")
    if threads:
        torch.set_num_threads(threads)
    h = proof.hyper
    model = build_model(proof.model, TORCH_DTYPES[proof.dtype])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=h["lr"], momentum=h["momentum"], weight_decay=h["weight_decay"])
    gather = Gatherer(proof, ds, proof.dtype)
    last = proof.num_checkpoints() - 1
    groups = [(s, min(s + span, last)) for s in range(0, last, span)]
    chosen = range(len(groups)) if intervals is None else intervals
    out = []
    for j in chosen:
        a, b = groups[j]
        start = proof.checkpoint(a)
        load_state(model, opt, start)
        lr = start.lr
        for t in range(start.step, proof.checkpoint_step(b)):
            gather.check_hash(t)
            x, y = gather(t)
            opt.param_groups[0]["lr"] = lr
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            lr = lr_after(lr, h, t)
        end = proof.checkpoint(b)
        d = distances(flat_params(model), end.flat())
        row = dict(index=j, start=start.step, end=end.step, **d)
        if end.buffers:
            row["buffers"] = distances(flat_buffers(model, end), end.flat_buffers())
        out.append(row)
        if progress:
            progress(len(out), len(chosen))
    return out
