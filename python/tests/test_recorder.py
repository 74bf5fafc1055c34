"""Malformed recorder input is one PollabTorchError naming the problem (run by interop's Go tests:
python3 -m unittest discover -s python/tests -t python)."""
import os
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pollab_torch import Dataset, PollabTorchError, Recorder, build_model, open_proof, pol_table

SPEC = "mlp:8-6-3:relu"


def dataset(n=40):
    rng = np.random.default_rng(0)
    return Dataset("synthetic:test", [8], 3, "u8", rng.integers(0, 256, (n, 8), dtype=np.uint8),
                   rng.integers(0, 3, n, dtype=np.uint8))


class RecorderInput(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "proof")
        self.ds = dataset()
        self.model = build_model(SPEC, torch.float64)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.table = pol_table(len(self.ds), 4, 1, np.random.default_rng(1))

    def tearDown(self):
        self.tmp.cleanup()

    def rec(self, **kw):
        args = dict(batch=4, epochs=1, k=2, table=self.table)
        args.update(kw)
        return Recorder(self.out, kw.pop("model", self.model), kw.pop("opt", self.opt), kw.pop("spec", SPEC), self.ds,
                        **{k: v for k, v in args.items() if k not in ("model", "opt", "spec")})

    def train(self, rec, steps, clear_state_at=None):
        for t in range(steps):
            x, y = rec.inputs(rec.step(self.table[t]))
            self.opt.zero_grad()
            F.cross_entropy(self.model(x), y).backward()
            self.opt.step()
            if t + 1 == clear_state_at:
                self.opt.state.clear()

    def assertError(self, fn, text):
        with self.assertRaises(PollabTorchError) as cm:
            fn()
        self.assertIn(text, str(cm.exception))
        self.assertEqual(len(str(cm.exception).splitlines()), 1)

    def test_valid_run_writes_a_proof(self):
        rec = self.rec()
        self.train(rec, len(self.table))
        rec.finish()
        p = open_proof(self.out)
        self.assertEqual((p.steps, p.k, p.num_checkpoints()), (10, 2, 6))
        self.assertEqual(p.checkpoint(0).momentum[0][1].sum(), 0.0)  # zeros before the first update

    def test_schedule_rule(self):
        rec = self.rec(table=self.table[:4])  # a prefix of the one-epoch schedule
        self.train(rec, 4)
        rec.finish()
        self.assertEqual(open_proof(self.out).manifest["schedule"], "pol-prefix")
        table = np.concatenate([self.table, self.table[:2]])  # 12 rows: more than one epoch holds
        rec = Recorder(self.out + "2", self.model, self.opt, SPEC, self.ds, batch=4, epochs=1, k=2, table=table)
        for t in range(12):
            rec.step(table[t])
        self.assertError(rec.finish, "12 steps do not fit 1 epochs of 40 points at batch 4")

    def test_wrong_model(self):
        self.assertError(lambda: self.rec(spec="mlp:8-5-3:relu"), "parameter 0 is fc1.weight [6, 8], the spec wants fc1.weight [5, 8]")
        seq = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)).double()
        opt = torch.optim.SGD(seq.parameters(), lr=0.1)
        self.assertError(lambda: self.rec(model=seq, opt=opt), "parameter 0 is 0.weight")
        self.assertError(lambda: self.rec(spec="vgg11"), "unknown model")
        self.assertError(lambda: self.rec(model=build_model(SPEC)), "optimizer's parameters are not exactly the model's")
        adam = torch.optim.Adam(self.model.parameters())
        self.assertError(lambda: self.rec(opt=adam), "torch.optim.SGD only")

    def test_batchnorm_extra_forward(self):
        # A BatchNorm model evaluated in training mode between steps: its running statistics
        # moved without an update, which no re-execution reproduces.
        ds = Dataset("synthetic:test", [1, 8, 8], 10, "u8", np.random.default_rng(0).integers(0, 256, (16, 64), dtype=np.uint8),
                     np.random.default_rng(1).integers(0, 10, 16, dtype=np.uint8))
        model = build_model("resnet:8:1x8x8", torch.float64)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        table = pol_table(16, 4, 1, np.random.default_rng(1))
        rec = Recorder(self.out, model, opt, "resnet:8:1x8x8", ds, batch=4, epochs=1, k=2, table=table)
        def run():
            for idx in rec.batches():
                x, y = rec.inputs(idx)
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
                model(x)  # an extra training-mode forward
        self.assertError(run, "BatchNorm bn1 has num_batches_tracked 4 at step 2")

    def test_missing_optimizer_state(self):
        rec = self.rec()
        self.assertError(lambda: self.train(rec, 4, clear_state_at=2), "missing optimizer state: parameter fc1.weight has no momentum_buffer at step 2")

    def test_mismatched_index_table(self):
        self.assertError(lambda: self.rec(table=self.table[:, :3]), "mismatched index table: shape (10, 3)")
        bad = self.table.copy()
        bad[3, 1] = len(self.ds)
        self.assertError(lambda: self.rec(table=bad), "mismatched index table: entries in")
        rec = self.rec()
        rec.step(self.table[0])
        self.assertError(lambda: rec.step(self.table[2]), "mismatched index table: step 1 trains on")
        rec = Recorder(self.out + "2", self.model, self.opt, SPEC, self.ds, batch=4, epochs=1, k=2, table=self.table)
        self.train(rec, 3)
        self.assertError(rec.finish, "mismatched index table: 3 steps recorded, the table has 10 rows")
        rec = Recorder(self.out + "3", self.model, self.opt, SPEC, self.ds, batch=4, epochs=1, k=2)
        self.assertError(lambda: rec.step([0, 1, 2]), "step 0 trains on 3 points, the proof's batch is 4")

    def test_schedule_not_per_iteration(self):
        sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, [2], 0.1)
        rec = self.rec(scheduler=sched)
        def run():
            for t, idx in enumerate(rec.batches()):
                x, y = rec.inputs(idx)
                self.opt.zero_grad()
                F.cross_entropy(self.model(x), y).backward()
                self.opt.step()
                if t == 4:
                    sched.step()  # stepped late: the recorded lr disagrees with the milestones
        self.assertError(run, "lr at step 2 is 0.1, the schedule (MultiStepLR stepped once per iteration) gives")


if __name__ == "__main__":
    unittest.main()
