"""Import a proof made by Jia et al.'s reference code (cleverhans-lab/Proof-of-Learning).

The reference writes, in proof/{dataset}_{exp_id}/:
  model_step_{i}  torch.save({'net': state_dict, 'optimizer': optimizer.state_dict(),
                  'scheduler': scheduler.state_dict()}) before update i, for i % k == 0, and T
  indices.npy     the [T, B] batch table
  hash.txt        SHA-256 of numpy's summarised string of the whole dataset
import_jia converts this into a pollab proof (safetensors checkpoints, tables, manifest), so
that verifying it never touches a pickle. What the reference did not save comes from the
caller and is recorded in the manifest's extra: the model spec, the dataset, the epochs and
whether batches were augmented. Hyperparameters are recovered from the optimizer and scheduler
state and cross-checked against any the caller gives. What cannot be recovered is flagged:
the augmentation randomness (never recorded: pollab re-executes such a proof in env augment)
and the dataset hash (hash.txt summarises the dataset; the batch hashes are recomputed from
the declared dataset, so the index table is trusted to index it).

The model_step files are pickles: loading one from an untrusted prover executes the prover's
code. They are loaded with torch.load(weights_only=True) where torch can (>= 2.4, with
collections.Counter allowed for MultiStepLR's state), else with an allowlist unpickler (torch
1.13's weights-only mode rejects every float); a file that needs anything else is refused,
never loaded fully.
"""

import argparse
import collections
import hashlib
import os
import pickle
import re

import numpy as np
import torch

from .errors import PollabTorchError
from .models import buffer_layout, canonical_spec, tensor_layout
from .proofio import ProofWriter, checkpoint_steps
from .datasets import batch_hash

UNTRUSTED = ("a pickle from an untrusted prover must not be loaded with torch.load(weights_only=False): "
             "it executes the prover's code")


class _AllowlistUnpickler(pickle.Unpickler):
    """Unpickles only what a state dict holds: find_class returns tensor-rebuilding functions,
    dtypes, OrderedDict and Counter, and nothing else, so no prover-chosen callable can run
    (the standard restricted-unpickler pattern; torch.load adds storages and persistent ids)."""

    ALLOWED = {("collections", "OrderedDict"), ("collections", "Counter"), ("torch", "Size"),
               ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
               ("torch._utils", "_rebuild_parameter")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


class _AllowlistPickleModule:
    """A pickle_module whose Unpickler and load both use _AllowlistUnpickler."""
    Unpickler = _AllowlistUnpickler
    __name__ = "pollab_torch_allowlist_pickle"

    @staticmethod
    def load(f, **kw):
        return _AllowlistUnpickler(f, **kw).load()


def load_weights_only(path):
    """(A model_step file's dict, how it was loaded), unpickling tensors and plain containers only.

    torch >= 2.4: torch.load(weights_only=True) with collections.Counter allowed (MultiStepLR's
    state). Older torch: its weights-only unpickler rejects every float (torch 1.13: BINFLOAT, so
    every optimizer state dict), and Debian's 1.13 torch.load ignores a pickle_module unless
    weights_only, so the zip-format file is read with torch.serialization._load and
    _AllowlistUnpickler. Anything else is refused with PollabTorchError: never loaded fully."""
    ser = torch.serialization
    try:
        if hasattr(ser, "add_safe_globals"):
            ser.add_safe_globals([collections.Counter])
            return torch.load(path, map_location="cpu", weights_only=True), "torch.load(weights_only=True)"
        with open(path, "rb") as f:
            if not ser._is_zipfile(f):
                raise PollabTorchError(f"{path}: not a zip-format torch.save file (torch >= 1.6); legacy pickles are refused; {UNTRUSTED}")
        with ser._open_zipfile_reader(path) as z:
            return (ser._load(z, "cpu", _AllowlistPickleModule, encoding="utf-8"),
                    f"an allowlist unpickler (torch {torch.__version__}'s weights_only rejects floats)")
    except PollabTorchError:
        raise
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError, ...
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise PollabTorchError(f"{path}: refused by the weights-only unpickler ({first[:160]}); {UNTRUSTED}") from None


def _step_files(src):
    files = {}
    for name in os.listdir(src):
        m = re.fullmatch(r"model_step_(\d+)", name)
        if m:
            files[int(m.group(1))] = os.path.join(src, name)
    return files


_RUNNING = (".running_mean", ".running_var")
_TRACKED = ".num_batches_tracked"


def _map_names(net, spec, buffers=False):
    """[(pollab name, source key)] of the parameters (buffers: of the BatchNorm running
    statistics): by name when the keys are pollab's, else by order with identical shapes (the
    reference's own module names)."""
    layout = buffer_layout(spec) if buffers else tensor_layout(spec)
    keys = [k for k, v in net.items() if isinstance(v, torch.Tensor) and not k.endswith(_TRACKED) and k.endswith(_RUNNING) == buffers]
    if sorted(keys) == sorted(n for n, _ in layout):
        pairs = [(n, n) for n, _ in layout]
    elif len(keys) == len(layout):
        pairs = [(n, k) for (n, _), k in zip(layout, keys)]
    else:
        raise PollabTorchError(f"state dict has {len(keys)} tensors ({', '.join(keys[:4])}...), model {spec} has {len(layout)}")
    for (n, shape), (_, k) in zip(layout, pairs):
        if list(net[k].shape) != shape:
            raise PollabTorchError(f"state dict tensor {k} has shape {list(net[k].shape)}, model {spec}'s {n} is {shape}")
    return pairs


def import_jia(src, out, ds, *, model, epochs, augment=False, aug_pad=4, lr=None, momentum=None,
               weight_decay=None, milestones=None, gamma=None, progress=None):
    """Convert the reference proof directory src into a pollab proof at out (ds: the declared
    dataset). Hyperparameters given here are cross-checked with the checkpoints' optimizer and
    scheduler state. Returns the manifest's extra (what was given, recovered, flagged)."""
    spec = canonical_spec(model)
    try:
        table = np.load(os.path.join(src, "indices.npy"), allow_pickle=False)
        with open(os.path.join(src, "hash.txt")) as f:
            hash_txt = f.read().strip()
    except (OSError, ValueError) as e:
        raise PollabTorchError(f"{src}: indices.npy and hash.txt: {e}") from None
    if table.ndim != 2 or not np.issubdtype(table.dtype, np.integer) or table.size == 0:
        raise PollabTorchError(f"{src}/indices.npy: shape {table.shape} {table.dtype}, want a [T, B] integer table")
    if table.min() < 0 or table.max() >= len(ds):
        raise PollabTorchError(f"{src}/indices.npy: entries in [{table.min()}, {table.max()}], {ds.name} has {len(ds)} points")
    T, B = table.shape
    if epochs * len(ds) // B != T:
        raise PollabTorchError(f"--epochs {epochs}: {epochs} epochs of {len(ds)} points at batch {B} give {epochs * len(ds) // B} steps, indices.npy has {T}")
    files = _step_files(src)
    steps = sorted(files)
    if len(steps) < 2 or steps[0] != 0:
        raise PollabTorchError(f"{src}: need model_step_0 and at least one later model_step_N file")
    k = steps[1]
    if steps != checkpoint_steps(T, k):
        missing = sorted(set(checkpoint_steps(T, k)) - set(steps))
        extra = sorted(set(steps) - set(checkpoint_steps(T, k)))
        raise PollabTorchError(f"{src}: model_step files for T={T}, k={k} must be 0, k, ..., T: missing {missing[:5]}, unexpected {extra[:5]}")

    given = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "milestones": milestones, "gamma": gamma}
    hyper, pairs, writer, sources = None, None, None, hashlib.sha256()
    counts = []  # checkpoints whose num_batches_tracked is not their step
    for i, step in enumerate(steps):
        path = files[step]
        with open(path, "rb") as f:
            sources.update(f"{os.path.basename(path)} {hashlib.sha256(f.read()).hexdigest()}\n".encode())
        d, how = load_weights_only(path)
        if not isinstance(d, dict) or not {"net", "optimizer"} <= set(d):
            raise PollabTorchError(f"{path}: want a dict with 'net' and 'optimizer' (and 'scheduler')")
        net, opt, sched = d["net"], d["optimizer"], d.get("scheduler")
        try:
            g = opt["param_groups"][0]
            state = opt["state"]
        except (KeyError, IndexError, TypeError):
            raise PollabTorchError(f"{path}: optimizer state dict has no param_groups/state") from None
        if len(opt["param_groups"]) != 1 or g.get("nesterov") or g.get("dampening", 0) != 0:
            raise PollabTorchError(f"{path}: optimizer has {len(opt['param_groups'])} groups or nesterov/dampening; pollab's SGD has neither")
        if pairs is None:
            pairs, bpairs = _map_names(net, spec), _map_names(net, spec, buffers=True)
            dt = {torch.float32: "f32", torch.float64: "f64"}.get(net[pairs[0][1]].dtype)
            if dt is None:
                raise PollabTorchError(f"{path}: tensors are {net[pairs[0][1]].dtype}, want float32 or float64")
            ms = sorted(int(m) for m in sched["milestones"]) if sched and "milestones" in sched else []
            rec = {"lr": float(g.get("initial_lr", g["lr"])), "momentum": float(g["momentum"]),
                   "weight_decay": float(g["weight_decay"]), "milestones": ms,
                   "gamma": float(sched["gamma"]) if sched and "gamma" in sched else 0.1}
            for key, v in given.items():
                if v is not None and v != rec[key]:
                    raise PollabTorchError(f"--{key.replace('_', '-')} {v} disagrees with the checkpoints' optimizer/scheduler state ({rec[key]})")
            hyper = rec
            writer = ProofWriter(out, {
                "producer": "import:jia", "model": spec,
                "dataset": {"name": ds.name, "n": len(ds), "fingerprint": ds.fingerprint(), "shape": ds.shape, "classes": ds.classes},
                "dtype": dt, "optimizer": dict(name="sgd", **hyper), "batch": int(B), "epochs": int(epochs),
                "steps": int(T), "k": int(k), "augment": {"enabled": bool(augment), "pad": int(aug_pad) if augment else 0, "seeds_recorded": False},
                "seeds": {"init": 0, "data": 0, "augment": 0}, "extra": {}})
        for key in ("momentum", "weight_decay"):
            if float(g[key]) != hyper[key]:
                raise PollabTorchError(f"{path}: optimizer {key} {g[key]}, model_step_0 says {hyper[key]}")
        params = [(n, net[kk].detach().cpu().numpy()) for n, kk in pairs]
        mom = None
        if hyper["momentum"] != 0:
            mom = []
            for j, (n, kk) in enumerate(pairs):
                pid = g["params"][j]
                buf = state.get(pid, {}).get("momentum_buffer")
                if buf is None:
                    if step > 0:
                        raise PollabTorchError(f"{path}: no momentum buffer for {kk} at step {step}")
                    buf = torch.zeros_like(net[kk])
                mom.append((n, buf.detach().cpu().numpy()))
        bufs = [(n, net[kk].detach().cpu().numpy()) for n, kk in bpairs] or None
        tracked = {int(v) for k, v in net.items() if k.endswith(_TRACKED)}
        if tracked and tracked != {step}:
            counts.append(f"{step}:{sorted(tracked)}")
        writer.write_checkpoint(step, float(g["lr"]), params, mom, bufs)
        if progress:
            progress(i + 1, len(steps))
    hashes = ds.point_hashes()
    writer.write_tables(table.astype(np.int32), [batch_hash([hashes[i] for i in row]) for row in table])
    renamed = [f"{kk}->{n}" for n, kk in pairs if n != kk]
    extra = {
        "import.source": "Jia et al. reference code (model_step_N, indices.npy, hash.txt)",
        "import.sources_sha256": sources.hexdigest(),
        "import.given": "model, dataset, epochs, augment (not saved by the reference)",
        "import.recovered": "lr, momentum, weight_decay (optimizer state), milestones, gamma (scheduler state), batch, steps (indices.npy), k (file steps), dtype",
        "import.flag.dataset_hash": f"hash.txt {hash_txt[:64]} is SHA-256 of numpy's summarised string of the dataset: not checkable per point; batch hashes recomputed from the declared dataset",
        "import.pickles": f"loaded with {how}; the converted proof holds none",
    }
    if augment:
        extra["import.flag.augmentation"] = "augmented without recorded randomness: an honest replay cannot match exactly (pollab verifies such a proof in env augment, with its own crop/flip)"
    renamed += [f"{kk}->{n}" for n, kk in bpairs if n != kk]
    if renamed:
        extra["import.renamed"] = ", ".join(renamed)
    if bpairs:
        extra["import.buffers"] = f"{len(bpairs)} BatchNorm running statistics copied; num_batches_tracked written as each checkpoint's step"
    if counts:
        extra["import.flag.num_batches_tracked"] = "the source's num_batches_tracked differs from the step at " + ", ".join(counts[:5])
    writer.header["extra"] = extra
    writer.finish(notes="converted by pollab_torch.import_jia from " + os.path.abspath(src))
    return extra


def main(argv):
    ap = argparse.ArgumentParser(prog="pollab_torch import-jia", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="the reference proof directory (model_step_N, indices.npy, hash.txt)")
    ap.add_argument("out", help="the pollab proof directory to write")
    ap.add_argument("data", help="the declared dataset (`pollab export-data NAME --out FILE`)")
    ap.add_argument("--model", required=True, help="pollab model spec of the reference's network")
    ap.add_argument("--epochs", required=True, type=int)
    ap.add_argument("--augment", action="store_true", help="the run augmented its batches (unrecorded)")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--milestones", help="comma-separated steps")
    ap.add_argument("--gamma", type=float)
    a = ap.parse_args(argv)
    from .datasets import load_dataset
    ms = [int(m) for m in a.milestones.split(",")] if a.milestones else None
    extra = import_jia(a.src, a.out, load_dataset(a.data), model=a.model, epochs=a.epochs, augment=a.augment,
                       lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay, milestones=ms, gamma=a.gamma)
    print(f"wrote {a.out}")
    for k, v in extra.items():
        print(f"  {k}: {v}")
    return 0
