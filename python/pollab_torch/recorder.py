"""Record a pollab proof from a PyTorch training loop.

    rec = Recorder("proof", model, optimizer, "lenet5", dataset, batch=64, epochs=1, k=10,
                   table=table, scheduler=scheduler)
    for idx in rec.batches():                  # row t of the table; checkpoint before update t
        x, y = rec.inputs(idx)                 # pollab's features (byte/255) and labels
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()                       # MultiStepLR, stepped once per iteration
    rec.finish()                               # final checkpoint, hashes, tables, manifest

A loop that draws its own batches calls ``rec.step(indices)`` before each update instead of
iterating ``rec.batches()``; ``rec.batches(sampler)`` records whatever a batch sampler yields.
The model must be ``build_model(spec)``'s layout (pollab's names, shapes and order; any module
with exactly those parameters works), the optimizer ``torch.optim.SGD`` over exactly those
parameters (dampening 0, no Nesterov), the scheduler ``None`` or ``MultiStepLR`` with
milestones in steps. Every mismatch is one PollabTorchError, raised before anything is
written where it can be known then.
"""

import numpy as np
import torch

from .datasets import Dataset, batch_hash
from .errors import PollabTorchError
from .models import TRACKED_SUFFIX, buffer_layout, canonical_spec, check_model, input_dim
from .proofio import ProofWriter


class Recorder:
    def __init__(self, out, model, optimizer, spec, dataset, *, batch, epochs, k, table=None,
                 scheduler=None, notes=""):
        self.spec = canonical_spec(spec)
        self.dtype = check_model(model, self.spec)
        if not isinstance(dataset, Dataset):
            raise PollabTorchError("dataset: want a pollab_torch Dataset (load_dataset of a `pollab export-data` file)")
        if dataset.dim != input_dim(self.spec):
            raise PollabTorchError(f"dataset {dataset.name} has points of {dataset.dim} features, model {self.spec} takes {input_dim(self.spec)}")
        for name, v in (("batch", batch), ("epochs", epochs), ("k", k)):
            if not isinstance(v, int) or v <= 0:
                raise PollabTorchError(f"{name} {v!r} is not a positive integer")
        self.model, self.opt, self.ds, self.batch, self.epochs, self.k = model, optimizer, dataset, batch, epochs, k
        self.hyper = _check_optimizer(optimizer, model)
        self.hyper.update(_check_scheduler(scheduler, optimizer))
        self.params = list(model.parameters())
        self.table = None
        if table is not None:
            t = np.asarray(table)
            if t.ndim != 2 or t.shape[1] != batch or t.shape[0] == 0 or not np.issubdtype(t.dtype, np.integer):
                raise PollabTorchError(f"mismatched index table: shape {t.shape} {t.dtype}, want [steps, {batch}] integers")
            if t.min() < 0 or t.max() >= len(dataset):
                raise PollabTorchError(f"mismatched index table: entries in [{t.min()}, {t.max()}], {dataset.name} has {len(dataset)} points")
            self.table = t.astype(np.int64)
        self.rows, self.t, self.finished = [], 0, False
        header = {
            "producer": "pytorch", "model": self.spec,
            "dataset": {"name": dataset.name, "n": len(dataset), "fingerprint": dataset.fingerprint(),
                        "shape": dataset.shape, "classes": dataset.classes},
            "dtype": self.dtype, "optimizer": dict(name="sgd", **self.hyper), "batch": batch, "epochs": epochs,
            "steps": 0, "k": k, "augment": {"enabled": False, "pad": 0, "seeds_recorded": False},
            "seeds": {"init": 0, "data": 0, "augment": 0},
            "extra": {"recorder": "pollab_torch.Recorder", "torch": torch.__version__,
                      "torch_threads": str(torch.get_num_threads())},
        }
        self.writer = ProofWriter(out, header)
        self.notes = notes

    def inputs(self, idx):
        """The batch's features (pollab's encoding, in the model's dtype) and labels as tensors."""
        x, y = self.ds.features(np.asarray(idx), np.float32 if self.dtype == "f32" else np.float64)
        return torch.from_numpy(x), torch.from_numpy(y)

    def batches(self, sampler=None):
        """Yield the index rows (numpy int64) of the table, or of sampler, calling step on each."""
        if sampler is None:
            if self.table is None:
                raise PollabTorchError("batches(): give an index table to the Recorder or a sampler here")
            sampler = self.table
        for idx in sampler:
            yield self.step(idx)

    def step(self, idx):
        """Declare that the next update trains on the points idx; saves the checkpoint before it
        when t is a multiple of k. Returns idx as a numpy int64 array."""
        if self.finished:
            raise PollabTorchError("step() after finish()")
        row = np.asarray(idx.numpy() if isinstance(idx, torch.Tensor) else idx).astype(np.int64).ravel()
        t = self.t
        if len(row) != self.batch:
            raise PollabTorchError(f"mismatched index table: step {t} trains on {len(row)} points, the proof's batch is {self.batch} (drop incomplete batches)")
        if row.min() < 0 or row.max() >= len(self.ds):
            raise PollabTorchError(f"mismatched index table: step {t} has index {int(row.max()) if row.max() >= len(self.ds) else int(row.min())}, {self.ds.name} has {len(self.ds)} points")
        if self.table is not None:
            if t >= len(self.table):
                raise PollabTorchError(f"mismatched index table: step {t} is past the table's {len(self.table)} rows")
            if not np.array_equal(row, self.table[t]):
                raise PollabTorchError(f"mismatched index table: step {t} trains on {row[:4].tolist()}..., the table's row {t} is {self.table[t][:4].tolist()}...")
        if t % self.k == 0:
            self._checkpoint(t)
        self.rows.append(row)
        self.t += 1
        return row

    def _checkpoint(self, t):
        g = self.opt.param_groups[0]
        for key in ("momentum", "weight_decay"):
            if g[key] != self.hyper[key]:
                raise PollabTorchError(f"optimizer {key} changed to {g[key]} at step {t} (was {self.hyper[key]})")
        want = self.hyper["lr"]
        for m in self.hyper["milestones"]:
            if m <= t:
                want *= self.hyper["gamma"]
        if g["lr"] != want:
            raise PollabTorchError(f"lr at step {t} is {g['lr']!r}, the schedule (MultiStepLR stepped once per iteration) gives {want!r}")
        mom = None
        if self.hyper["momentum"] != 0:
            mom = []
            for (name, _), p in zip(self.model.named_parameters(), self.params):
                buf = self.opt.state.get(p, {}).get("momentum_buffer")
                if buf is None:
                    if t > 0:
                        raise PollabTorchError(f"missing optimizer state: parameter {name} has no momentum_buffer at step {t} "
                                               "(was the optimizer stepped, or its state cleared?)")
                    buf = torch.zeros_like(p)
                mom.append((name, buf.detach().numpy().copy()))
        params = [(n, p.detach().numpy().copy()) for n, p in self.model.named_parameters()]
        self.writer.write_checkpoint(t, g["lr"], params, mom, self._buffers(t))

    def _buffers(self, t):
        """The model's BatchNorm running statistics at step t (None without): t training-mode
        forwards must have updated them, one per step (num_batches_tracked = t)."""
        bufs = dict(self.model.named_buffers())
        if not bufs:
            return None
        for n, b in bufs.items():
            if n.endswith(TRACKED_SUFFIX) and int(b) != t:
                raise PollabTorchError(f"BatchNorm {n[:-len(TRACKED_SUFFIX)]} has num_batches_tracked {int(b)} at step {t}: "
                                       "each step must be exactly one training-mode forward (evaluate under model.eval())")
        return [(n, bufs[n].detach().numpy().copy()) for n, _ in buffer_layout(self.spec)]

    def finish(self):
        """Write the final checkpoint (step T), the index and hash tables and the manifest."""
        if self.finished:
            raise PollabTorchError("finish() called twice")
        T = self.t
        if T == 0:
            raise PollabTorchError("finish(): no step was recorded")
        if self.table is not None and T != len(self.table):
            raise PollabTorchError(f"mismatched index table: {T} steps recorded, the table has {len(self.table)} rows")
        full = self.epochs * len(self.ds) // self.batch
        if T != full:
            if not ((self.epochs - 1) * len(self.ds) // self.batch < T < full):
                raise PollabTorchError(f"{T} steps do not fit {self.epochs} epochs of {len(self.ds)} points at batch {self.batch} "
                                       f"(want {full}, or a prefix of the last epoch)")
            self.writer.header["schedule"] = "pol-prefix"  # docs/FORMAT.md: the first T rows of an E-epoch schedule
        self._checkpoint(T)
        table = np.stack(self.rows)
        hashes = self.ds.point_hashes()
        self.writer.header["steps"] = T
        self.writer.write_tables(table, [batch_hash([hashes[i] for i in row]) for row in table])
        self.writer.finish(notes=self.notes)
        self.finished = True
        return self.writer.path


def pol_table(n, batch, epochs, rng):
    """The PoL batch schedule of Jia et al.: one permutation of the n points per epoch (drawn
    from the numpy Generator rng), concatenated, truncated once to floor(epochs·n/batch) rows
    (a global drop-last) and reshaped to [steps, batch]."""
    perm = np.concatenate([rng.permutation(n) for _ in range(epochs)])
    steps = epochs * n // batch
    if steps == 0:
        raise PollabTorchError(f"{epochs} epochs of {n} points give no batch of {batch}")
    return perm[:steps * batch].reshape(steps, batch)


def _check_optimizer(opt, model):
    if not isinstance(opt, torch.optim.SGD):
        raise PollabTorchError(f"optimizer {type(opt).__name__}: pollab proofs record torch.optim.SGD only")
    if len(opt.param_groups) != 1:
        raise PollabTorchError(f"optimizer has {len(opt.param_groups)} parameter groups, want one over all the model's parameters")
    g = opt.param_groups[0]
    mine = list(model.parameters())
    if len(g["params"]) != len(mine) or any(a is not b for a, b in zip(g["params"], mine)):
        raise PollabTorchError("optimizer's parameters are not exactly the model's parameters in order")
    if g.get("nesterov") or g.get("dampening", 0) != 0 or g.get("maximize"):
        raise PollabTorchError("optimizer: nesterov, dampening and maximize are not in pollab's SGD")
    return {"lr": float(g["lr"]), "momentum": float(g["momentum"]), "weight_decay": float(g["weight_decay"])}


def _check_scheduler(sched, opt):
    if sched is None:
        return {"milestones": [], "gamma": 0.1}
    if not isinstance(sched, torch.optim.lr_scheduler.MultiStepLR) or sched.optimizer is not opt:
        raise PollabTorchError(f"scheduler {type(sched).__name__}: want None or MultiStepLR on the recorded optimizer")
    if sched.last_epoch != 0:
        raise PollabTorchError(f"scheduler has already stepped {sched.last_epoch} times; record from the start")
    return {"milestones": sorted(int(m) for m in sched.milestones), "gamma": float(sched.gamma)}
