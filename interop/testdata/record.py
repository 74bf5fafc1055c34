"""Train pollab models in PyTorch and record their proofs with pollab_torch.Recorder.

usage: record.py JOBS_JSON, a list of {data, spec, dtype, out, batch, epochs, k, lr, momentum,
weight_decay, milestones, gamma, seed, threads}. The interop tests verify the results with
pollab; the loop in record() is what a researcher adds to their own training script.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from pollab_torch import Recorder, build_model, load_dataset, pol_table


def record(j):
    torch.set_num_threads(j["threads"])
    torch.manual_seed(j["seed"])
    ds = load_dataset(j["data"])
    model = build_model(j["spec"], torch.float32 if j["dtype"] == "f32" else torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=j["lr"], momentum=j["momentum"], weight_decay=j["weight_decay"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, j["milestones"], j["gamma"]) if j["milestones"] else None
    table = pol_table(len(ds), j["batch"], j["epochs"], np.random.default_rng(j["seed"]))

    rec = Recorder(j["out"], model, opt, j["spec"], ds, batch=j["batch"], epochs=j["epochs"], k=j["k"],
                   table=table, scheduler=sched)
    for idx in rec.batches():
        x, y = rec.inputs(idx)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if sched:
            sched.step()
    rec.finish()


if __name__ == "__main__":
    for job in json.loads(sys.argv[1]):
        record(job)
