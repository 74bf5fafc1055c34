"""Measure the honest re-execution noise between PyTorch and pollab (the `torch` env).

    PYTHONPATH=python /usr/bin/python3 -m pollab_torch noise --pollab BIN --out results/torch-noise

For each model and dtype, honest proofs are recorded with a checkpoint at every step (k = 1)
by PyTorch (pollab_torch.Recorder, one torch thread) and by pollab (`pollab train`).
Derived proofs with interval k (checkpoints 0, k, 2k, ... of the same run, hard-linked) are then
re-executed by the other implementation: PyTorch's proofs by `pollab verify --q 0` (every
interval, env exact), pollab's proofs by pollab_torch.reexecute with 1 and 2 threads; the
PyTorch proof is also replayed by PyTorch with 2 threads (torch against itself). Every
interval's l1, l2, linf and cos distance and its update l2 go to intervals.csv; summary.csv
and summary.md give n, median, p99 and max per (model, dtype, direction, threads, k), and for
k = 1, where every interval starts from the same weights in both implementations, how many
steps jump above FLIP x the cell's median ("kink flips": a ReLU or max-pool decision that came
out differently) and how large they are. calibration.csv fits pollab's noise:SIGMA env to the
measured p99 per model and dtype (sigma scales the replay error linearly; the fit is re-run at
the fitted sigma to check). noise_vs_k.svg plots the p99 and max against k. provenance.json
says what ran where.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import load_dataset
from .errors import PollabTorchError
from .models import build_model
from .proofio import checkpoint_name, checkpoint_steps, encode_hashes, encode_indices, open_proof, write_atomic
from .recorder import Recorder, pol_table
from .reexec import reexecute

# The measured settings: the lab's MNIST MLP setting (Jia et al.: plain SGD, batch 128, lr 0.01)
# on MNIST (the first 200 steps at several k, and the paper spec's whole run at its target k),
# and the two CNNs with momentum and weight decay on synthetic images (no CIFAR-10 on this
# machine; one epoch of n = steps x batch points, so pollab trains exactly `steps` steps).
CONFIGS = {
    "mlp": dict(spec="mlp:784-128-10:relu", data="mnist", batch=128, lr=0.01, momentum=0.0, wd=0.0,
                steps=200, ks=[1, 5, 10, 20, 100]),
    # the paper spec's whole honest run (2 epochs, 937 steps) at its target k = 10, in its dtype
    "mlp-paper": dict(spec="mlp:784-128-10:relu", data="mnist", batch=128, lr=0.01, momentum=0.0, wd=0.0,
                      epochs=2, steps=937, ks=[1, 10], dtypes=["f32"]),
    "lenet5": dict(spec="lenet5", data="synthetic:n={n},test=64,dim=784,classes=10,seed=1", batch=32, lr=0.05,
                   momentum=0.9, wd=1e-4, steps=20, ks=[1, 5, 20]),
    # ResNet-20 (PyTorch names, option-A shortcuts, BatchNorm running statistics in the proofs),
    # shorter: one step costs about 20 MLP steps
    "resnet20": dict(spec="resnet20", data="synthetic:n={n},test=64,dim=3072,classes=10,seed=1", batch=32,
                     lr=0.05, momentum=0.9, wd=5e-4, steps=10, ks=[1, 5, 10]),
    "cnn-cifar": dict(spec="cnn-cifar", data="synthetic:n={n},test=64,dim=3072,classes=10,seed=1", batch=32,
                      lr=0.05, momentum=0.9, wd=5e-4, steps=20, ks=[1, 5, 20]),
}
FLIP = 10.0
SIGMA0 = 1e-4


def sh(cmd, ok=(0,)):
    p = subprocess.run(["nice", "-n", "10"] + cmd, capture_output=True, text=True)
    if p.returncode not in ok:
        raise PollabTorchError(f"{' '.join(cmd[:3])}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return p.stdout


def git_state():
    """The commit this package's checkout is at, and whether it had uncommitted changes (for
    provenance; "unknown" outside a git checkout). The pollab binary is the caller's to match."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (uncommitted changes)" if dirty else "")


def derive(src, dst, k, steps):
    """A proof of the first `steps` steps of src (recorded with k = 1) with interval k: its
    checkpoints hard-linked, tables truncated, manifest rewritten."""
    with open(os.path.join(src, "manifest.json")) as f:
        m = json.load(f)
    if m["k"] != 1 or m["steps"] < steps:
        raise PollabTorchError(f"{src}: want a k = 1 proof of at least {steps} steps")
    p = open_proof(src)
    os.makedirs(os.path.join(dst, "ckpt"))
    byname = {c["step"]: c for c in m["checkpoints"]}
    m["checkpoints"] = []
    for s in checkpoint_steps(steps, k):
        c = byname[s]
        os.link(os.path.join(src, c["file"]), os.path.join(dst, c["file"]))
        m["checkpoints"].append(c)
    m["files"]["indices"] = dict(write_atomic(os.path.join(dst, "indices.bin"), encode_indices(p.table[:steps])))
    m["files"]["hashes"] = dict(write_atomic(os.path.join(dst, "hashes.bin"), encode_hashes(p.batch_hashes[:steps])))
    if steps < m["steps"] or m.get("schedule") == "pol-prefix":
        m["schedule"] = "pol-prefix"  # the first `steps` rows of the run's one-epoch schedule
    m["steps"], m["k"] = steps, k
    shutil.copy(os.path.join(src, "provenance.json"), os.path.join(dst, "provenance.json"))
    write_atomic(os.path.join(dst, "manifest.json"), (json.dumps(m, indent=2) + "\n").encode())
    return dst


def record_torch(out, cfg, ds, dtype, threads, seed):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_model(cfg["spec"], torch.float32 if dtype == "f32" else torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["wd"])
    epochs = cfg.get("epochs", 1)
    table = pol_table(len(ds), cfg["batch"], epochs, np.random.default_rng(seed))[:cfg["steps"]]
    rec = Recorder(out, model, opt, cfg["spec"], ds, batch=cfg["batch"], epochs=epochs, k=1, table=table)
    for idx in rec.batches():
        x, y = rec.inputs(idx)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    rec.finish()


def pollab_replay(pollab, proof, env="exact"):
    ev_file = proof + f".{env.replace(':', '_')}.evidence.json"
    sh([pollab, "verify", proof, "--q", "0", "--env", env, "--workers", "1", "--init-alpha", "-1",
        "--evidence", ev_file, "--quiet"], ok=(0, 1))
    with open(ev_file) as f:
        ev = json.load(f)["evidence"]
    rows = []
    for iv in ev["intervals"]:
        r = iv["repro"]["trust-checkpoint"]["raw"]
        rows.append(dict(interval=iv["index"], start=iv["start"], end=iv["end"], update_l2=iv["update"]["l2"],
                         **{m: float(r[m]) for m in ("l1", "l2", "linf", "cos")}))
    return rows


def update_l2(proof_dir):
    p = open_proof(proof_dir)
    flats = [p.checkpoint(i).flat() for i in range(p.num_checkpoints())]
    return [float(np.linalg.norm(b - a)) for a, b in zip(flats, flats[1:])]


def torch_replay(proof, ds, threads):
    rows = reexecute(proof, ds, threads=threads)
    for r, u in zip(rows, update_l2(proof)):
        r["interval"] = r.pop("index")
        r["update_l2"] = u
    return rows


def summarize(rows):
    cells = {}
    for r in rows:
        cells.setdefault((r["model"], r["dtype"], r["direction"], r["threads"], r["k"]), []).append(r)
    out = []
    for key, rs in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3], kv[0][4])):
        l2 = np.array([r["l2"] for r in rs])
        rel = np.array([r["l2"] / r["update_l2"] for r in rs])
        s = dict(zip(("model", "dtype", "direction", "threads", "k"), key))
        s.update(n=len(rs), l2_median=float(np.median(l2)), l2_p99=float(np.percentile(l2, 99)), l2_max=float(l2.max()),
                 rel_median=float(np.median(rel)), rel_p99=float(np.percentile(rel, 99)), rel_max=float(rel.max()),
                 linf_max=float(max(r["linf"] for r in rs)))
        if s["k"] == 1:
            med = np.median(l2)
            flips = l2[l2 > FLIP * med] if med > 0 else l2[l2 > 0]
            s.update(flips=len(flips), flip_max_over_median=float(flips.max() / med) if len(flips) and med > 0 else 0.0)
        else:
            s.update(flips="", flip_max_over_median="")
        out.append(s)
    return out


INTERVAL_COLUMNS = ("model", "dtype", "direction", "threads", "k", "interval", "start", "end", "l1", "l2", "linf", "cos", "update_l2")


def write_csv(path, rows, exact=False):
    """rows as CSV; floats exactly (repr, round-trips) or to 4 significant digits."""
    buf = [",".join(rows[0].keys())]
    for r in rows:
        buf.append(",".join((repr(v) if exact else f"{v:.4g}") if isinstance(v, float) else str(v) for v in r.values()))
    write_atomic(path, ("\n".join(buf) + "\n").encode())


def read_csv(path):
    """What write_csv(exact=True) wrote: ints and floats parsed back, the rest strings."""
    def parse(v):
        for conv in (int, float):
            try:
                return conv(v)
            except ValueError:
                pass
        return v
    with open(path, newline="") as f:
        return [{k: parse(v) for k, v in r.items()} for r in csv.DictReader(f)]


def write_tables(out, rows, calib):
    """summary.csv, summary.md and noise_vs_k.svg from the interval rows and the calibration."""
    summary = summarize(rows)
    write_csv(os.path.join(out, "summary.csv"), summary)
    write_atomic(os.path.join(out, "summary.md"), summary_md(summary, calib).encode())
    svg_figure(os.path.join(out, "noise_vs_k.svg"), summary)


def svg_figure(path, summary):
    """p99 (solid) and max (dotted) of replay l2 / update l2 against k, one panel per model."""
    models = list(dict.fromkeys(s["model"] for s in summary))
    W, H, pad = 330, 260, 50
    colors = {("f32", "torch→pollab"): "#1f77b4", ("f32", "pollab→torch"): "#ff7f0e", ("f32", "torch1→torch2"): "#2ca02c",
              ("f64", "torch→pollab"): "#9467bd", ("f64", "pollab→torch"): "#d62728", ("f64", "torch1→torch2"): "#8c564b"}
    vals = [v for s in summary for v in (s["rel_p99"], s["rel_max"]) if v > 0]
    lo, hi = np.floor(np.log10(min(vals))), np.ceil(np.log10(max(vals)))
    ks = sorted({s["k"] for s in summary})
    kx = lambda k: pad + (np.log10(k) / np.log10(max(ks))) * (W - pad - 10)
    vy = lambda v: 20 + (hi - np.log10(max(v, 10 ** lo))) / (hi - lo) * (H - 20 - pad)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * len(models)}" height="{H + 90}" font-family="sans-serif" font-size="11">',
           f'<rect width="100%" height="100%" fill="white"/>']
    for i, model in enumerate(models):
        ox = i * W
        out.append(f'<g transform="translate({ox},0)"><text x="{W / 2}" y="14" text-anchor="middle" font-weight="bold">{model}</text>')
        out.append(f'<rect x="{pad}" y="20" width="{W - pad - 10}" height="{H - 20 - pad}" fill="none" stroke="black"/>')
        for e in range(int(lo), int(hi) + 1):
            y = vy(10 ** e)
            out.append(f'<line x1="{pad}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/><text x="{pad - 4}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
        for k in ks:
            out.append(f'<text x="{kx(k):.1f}" y="{H - pad + 14}" text-anchor="middle">{k}</text>')
        out.append(f'<text x="{W / 2}" y="{H - pad + 30}" text-anchor="middle">k (steps per interval)</text>')
        if i == 0:
            out.append(f'<text transform="translate(12,{H / 2}) rotate(-90)" text-anchor="middle">replay l2 / update l2</text>')
        for (dt, direction), color in colors.items():
            for stat, dash in (("rel_p99", ""), ("rel_max", ' stroke-dasharray="2,3"')):
                pts = {}
                for s in summary:
                    if s["model"] == model and s["dtype"] == dt and s["direction"] == direction:
                        pts[s["k"]] = max(pts.get(s["k"], 0), s[stat])  # worst over threads
                if pts:
                    d = " ".join(f"{kx(k):.1f},{vy(v):.1f}" for k, v in sorted(pts.items()))
                    out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.5"{dash}/>')
        out.append("</g>")
    for j, ((dt, direction), color) in enumerate(colors.items()):
        x, y = 10 + (j % 3) * 200, H + 30 + (j // 3) * 18
        out.append(f'<line x1="{x}" x2="{x + 20}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"/><text x="{x + 25}" y="{y + 4}">{dt} {direction}</text>')
    out.append(f'<text x="10" y="{H + 80}">solid: p99 over intervals, dotted: max (worst of 1 and 2 threads)</text></svg>')
    write_atomic(path, ("\n".join(out) + "\n").encode())


def main(argv):
    ap = argparse.ArgumentParser(prog="pollab_torch noise", description=__doc__.split("\n\n")[0])
    ap.add_argument("--pollab", help="the pollab binary (required unless --from-csv)")
    ap.add_argument("--out", required=True, help="results directory (tables, figure, provenance)")
    ap.add_argument("--work", help="directory for the proofs (default OUT/proofs, not committed)")
    ap.add_argument("--models", default=",".join(CONFIGS), help="comma-separated subset of " + ",".join(CONFIGS))
    ap.add_argument("--dtypes", default="f32,f64")
    ap.add_argument("--add", action="store_true", help="add the measured --models to the measurement already in OUT (their old rows replaced; this run recorded in provenance.json's added_runs)")
    ap.add_argument("--from-csv", action="store_true", help="only redo summary.csv, summary.md and the figure from OUT/intervals.csv and OUT/calibration.csv")
    a = ap.parse_args(argv)
    start, t0 = datetime.datetime.now(datetime.timezone.utc), time.time()
    code = git_state()
    work = a.work or os.path.join(a.out, "proofs")
    rows, calib, log = [], [], []
    if a.from_csv:
        rows, calib = read_csv(os.path.join(a.out, "intervals.csv")), read_csv(os.path.join(a.out, "calibration.csv"))
        write_tables(a.out, rows, calib)
        return 0
    if not a.pollab:
        raise PollabTorchError("noise: --pollab BIN is required to measure")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    for name in a.models.split(","):
        cfg = dict(CONFIGS[name])
        cfg["data"] = cfg["data"].format(n=cfg["steps"] * cfg["batch"])
        dfile = os.path.join(work, f"{name}.plds")
        sh([a.pollab, "export-data", cfg["data"], "--out", dfile])
        ds = load_dataset(dfile)
        for dt in [d for d in a.dtypes.split(",") if d in cfg.get("dtypes", ["f32", "f64"])]:
            tag = f"{name}-{dt}"
            t1 = time.time()
            # pollab's honest proof (k = 1), cut to `steps` steps
            full = os.path.join(work, f"{tag}-pollab-full")
            sh([a.pollab, "train", "--model", cfg["spec"], "--dataset", cfg["data"], "--epochs", str(cfg.get("epochs", 1)),
                "--batch", str(cfg["batch"]), "--lr", str(cfg["lr"]), "--momentum", str(cfg["momentum"]),
                "--weight-decay", str(cfg["wd"]), "--k", "1", "--dtype", dt, "--seed", "1", "--out", full, "--quiet"])
            pol = {k: derive(full, os.path.join(work, f"{tag}-pollab-k{k}"), k, cfg["steps"]) for k in cfg["ks"]}
            src = os.path.join(work, f"{tag}-torch-full")
            record_torch(src, cfg, ds, dt, 1, seed=1)
            tor = {k: derive(src, os.path.join(work, f"{tag}-torch-k{k}"), k, cfg["steps"]) for k in cfg["ks"]}
            for k in cfg["ks"]:
                base = dict(model=name, dtype=dt, k=k)
                rows += [dict(base, direction="torch→pollab", threads=1, **r) for r in pollab_replay(a.pollab, tor[k])]
                for th in (1, 2):
                    rows += [dict(base, direction="pollab→torch", threads=th, **r) for r in torch_replay(pol[k], ds, th)]
                rows += [dict(base, direction="torch1→torch2", threads=2, **r) for r in torch_replay(tor[k], ds, 2)]
            # noise:SIGMA fitted to the measured cross-implementation p99 at the largest k
            kc = max(cfg["ks"])
            meas = [r["l2"] for r in rows if r["model"] == name and r["dtype"] == dt and r["k"] == kc and "pollab" in r["direction"]]
            target = float(np.percentile(meas, 99))
            at0 = float(np.percentile([r["l2"] for r in pollab_replay(a.pollab, pol[kc], f"noise:{SIGMA0:g}")], 99))
            sigma = SIGMA0 * target / at0 if at0 > 0 else float("nan")
            sigma = float(f"{sigma:.3g}")
            check = float(np.percentile([r["l2"] for r in pollab_replay(a.pollab, pol[kc], f"noise:{sigma:g}")], 99)) if 0 < sigma <= 1 else float("nan")
            calib.append(dict(model=name, dtype=dt, k=kc, measured_p99_l2=target, sigma0=SIGMA0, sigma0_p99_l2=at0,
                              fitted_sigma=sigma, fitted_p99_l2=check))
            log.append(f"{tag}: {time.time() - t1:.0f} s")
            write_atomic(os.path.join(work, "raw.json"), json.dumps({"rows": rows, "calib": calib, "log": log}).encode())  # partial results
            print(f"{tag} done in {time.time() - t1:.0f} s", file=sys.stderr, flush=True)
    os.makedirs(a.out, exist_ok=True)
    prev = None
    if a.add:
        measured = set(a.models.split(","))
        with open(os.path.join(a.out, "provenance.json")) as f:
            prev = json.load(f)
        rows = [r for r in read_csv(os.path.join(a.out, "intervals.csv")) if r["model"] not in measured] + rows
        calib = [c for c in read_csv(os.path.join(a.out, "calibration.csv")) if c["model"] not in measured] + calib
    write_csv(os.path.join(a.out, "intervals.csv"), [{k: r[k] for k in INTERVAL_COLUMNS} for r in rows], exact=True)
    write_csv(os.path.join(a.out, "calibration.csv"), calib, exact=True)
    write_tables(a.out, read_csv(os.path.join(a.out, "intervals.csv")), read_csv(os.path.join(a.out, "calibration.csv")))
    version = sh([a.pollab, "--version"]).strip()
    prov = {"command": ["python3", "-m", "pollab_torch", "noise"] + argv, "start": start.isoformat(),
            "wall_s": round(time.time() - t0),
            "pollab": version, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "host": platform.node(), "cpus": os.cpu_count(), "machine": platform.machine(),
            "configs": {m: CONFIGS[m] for m in a.models.split(",")}, "flip_factor": FLIP, "per_model_wall": log,
            "code": code, "load_average_at_end": list(os.getloadavg()),
            "note": "PyTorch CPU (Debian python3-torch) against pollab's CPU engine; no GPU measured"}
    if prev is not None:  # the first run's record stays; this one is added with its settings
        prev["configs"].update(prov.pop("configs"))
        prev.setdefault("added_runs", []).append(prov)
        prov = prev
    write_atomic(os.path.join(a.out, "provenance.json"), (json.dumps(prov, indent=2) + "\n").encode())
    if not a.work:
        shutil.rmtree(work)
    return 0


def summary_md(summary, calib):
    lines = ["| model | dtype | direction | threads | k | n | l2 median | l2 p99 | l2 max | /update p99 | /update max | flips (k=1) | flip / median |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        fl = f"{s['flips']}/{s['n']}" if s["k"] == 1 else ""
        fm = f"{s['flip_max_over_median']:.3g}" if s["k"] == 1 and s["flips"] else ""
        lines.append(f"| {s['model']} | {s['dtype']} | {s['direction']} | {s['threads']} | {s['k']} | {s['n']} | {s['l2_median']:.3g} | "
                     f"{s['l2_p99']:.3g} | {s['l2_max']:.3g} | {s['rel_p99']:.3g} | {s['rel_max']:.3g} | {fl} | {fm} |")
    lines += ["", "| model | dtype | k | measured p99 l2 | noise:SIGMA fitted | p99 l2 at the fitted sigma |", "|---|---|---:|---:|---:|---:|"]
    for c in calib:
        lines.append(f"| {c['model']} | {c['dtype']} | {c['k']} | {c['measured_p99_l2']:.3g} | {c['fitted_sigma']:.3g} | {c['fitted_p99_l2']:.3g} |")
    return "\n".join(lines) + "\n"
