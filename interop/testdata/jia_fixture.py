"""Write a proof in the layout of Jia et al.'s reference code (train.py of
cleverhans-lab/Proof-of-Learning), as a test fixture for pollab_torch.import_jia.

usage: jia_fixture.py DATA OUT_ROOT [--evil]
Trains an MLP 64-32-10 (ReLU) defined the reference's way, with its own module names
(nn.Sequential: "0.weight", ...), float32, SGD momentum 0.9, weight decay 1e-4, MultiStepLR
stepped every iteration, batch 16, one epoch, k = 4, and writes OUT_ROOT/synthetic_1/:
model_step_{i} (torch.save of net/optimizer/scheduler state dicts before update i, i % k == 0,
and the final step), indices.npy and hash.txt (SHA-256 of numpy's summarised string of the
data). --evil replaces model_step_4 by a pickle that would create OUT_ROOT/pwned if unpickled.
"""
import hashlib
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pollab_torch import load_dataset

data, root = sys.argv[1], sys.argv[2]
torch.manual_seed(7)
ds = load_dataset(data)
x_all, y_all = ds.features(np.arange(len(ds)), np.float32)
out = os.path.join(root, "synthetic_1")
os.makedirs(out)

net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[6], gamma=0.1)
batch, epochs, k = 16, 1, 4
rng = np.random.default_rng(3)
perm = np.concatenate([rng.permutation(len(ds)) for _ in range(epochs)])
steps = epochs * len(ds) // batch
indices = perm[:steps * batch].reshape(steps, batch)
np.save(os.path.join(out, "indices.npy"), indices)
with open(os.path.join(out, "hash.txt"), "w") as f:
    f.write(hashlib.sha256(str(ds.raw).encode()).hexdigest())


def save(step):
    torch.save({"net": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
               os.path.join(out, f"model_step_{step}"))


for t in range(steps):
    if t % k == 0:
        save(t)
    x, y = torch.from_numpy(x_all[indices[t]]), torch.from_numpy(y_all[indices[t]])
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
    sched.step()
save(steps)

if "--evil" in sys.argv:
    class Evil:
        def __reduce__(self):
            return (open, (os.path.join(root, "pwned"), "w"))
    torch.save({"net": Evil(), "optimizer": {}}, os.path.join(out, "model_step_4"))
