#!/usr/bin/env python3
"""Interleaved pollab-vs-PyTorch benchmark, robust on a shared machine.

For every workload (scripts/bench_torch.py WORKLOADS; the Go side is autodiff/bench_test.go)
it runs PAIRS pairs, each pair back to back: pollab once (the compiled Go benchmark binary,
GOMAXPROCS=2, -benchmem) and PyTorch at 1 and at 2 threads; the pair's ratio is pollab's
steps/s over PyTorch's better thread count. It prints per workload the median steps/s of each
side, the median of the per-pair ratios and their spread (min..max), pollab's allocations
and bytes per step, and the load average before and after: the machine's load moves both
sides of a pair together, so the per-pair ratio is what to trust.

  /usr/bin/python3 scripts/bench.py [--pairs 5] [--only REGEX] [--tags purego|openblas] [--markdown]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch  # noqa: E402

import torch  # noqa: E402

# Steps per measurement, about a second or two each on the lab's machine.
STEPS = {"TrainStep/mlp": 60, "TrainStep/lenet5": 20, "TrainStep/cnn-cifar": 10, "TrainStep/resnet20": 3,
         "GradMatch/mlp": 30, "GradMatch/lenet5": 8}


def steps_for(name):
    for prefix, n in STEPS.items():
        if name.startswith(prefix):
            return n
    return 10


def go_binary(root, tags):
    out = os.path.join(tempfile.mkdtemp(prefix="pollab-bench-"), "autodiff.test")
    cmd = ["go", "test", "-c", "-o", out]
    env = dict(os.environ)
    if tags:
        cmd += ["-tags", tags]
        if "openblas" in tags:
            env["CGO_LDFLAGS"] = (env.get("CGO_LDFLAGS", "") + " -lopenblas").strip()
    subprocess.run(cmd + ["./autodiff/"], cwd=root, env=env, check=True)
    return out


def go_run(binary, name, steps):
    """(steps/s, allocs/op, B/op) of one Go benchmark run."""
    parts = name.split("/")
    pattern = "/".join(f"^{re.escape(p)}$" for p in ["Benchmark" + parts[0]] + parts[1:])
    env = dict(os.environ, GOMAXPROCS="2", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([binary, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", f"{steps}x",
                          "-test.benchmem"], cwd=os.path.dirname(binary), env=env, check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Benchmark"):
            f = line.split()
            vals = {f[i + 1]: float(f[i]) for i in range(1, len(f) - 1) if re.match(r"^[0-9.e+-]+$", f[i])}
            return vals["steps/s"], vals.get("allocs/op", float("nan")), vals.get("B/op", float("nan"))
    raise RuntimeError(f"no benchmark line for {name}:\n{out}")


def torch_run(step, steps, threads):
    torch.set_num_threads(threads)
    return bench_torch.rate(step, steps)


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--only", default="", help="regex on workload names")
    ap.add_argument("--tags", default="", help="Go build tags (purego, openblas)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = go_binary(root, a.tags)
    names = [n for n in bench_torch.WORKLOADS if re.search(a.only, n)]
    load0 = loadavg()
    print(f"# PyTorch {torch.__version__} at 1 and 2 threads vs pollab GOMAXPROCS=2{', tags ' + a.tags if a.tags else ''}; "
          f"{a.pairs} interleaved pairs per workload; load average at start {load0:.1f}", flush=True)
    rows = []
    for name in names:
        steps = steps_for(name)
        step = bench_torch.workload(name)
        gos, tts, ratios, best_threads = [], [], [], []
        allocs = mem = float("nan")
        for _ in range(a.pairs):
            g, allocs, mem = go_run(binary, name, steps)
            t1 = torch_run(step, steps, 1)
            t2 = torch_run(step, steps, 2)
            t = max(t1, t2)
            gos.append(g)
            tts.append(t)
            ratios.append(g / t)
            best_threads.append(1 if t1 >= t2 else 2)
            print(f"#   {name}: pollab {g:.2f}, torch 1T {t1:.2f} 2T {t2:.2f}, ratio {g / t:.3f}", file=sys.stderr, flush=True)
        row = (name, statistics.median(gos), statistics.median(tts),
               f"{best_threads.count(1)}x1T/{best_threads.count(2)}x2T",
               statistics.median(ratios), min(ratios), max(ratios), allocs, mem)
        rows.append(row)
        if not a.markdown:
            print(f"{name:28s} pollab {row[1]:9.2f}  torch {row[2]:9.2f} ({row[3]})  ratio median {row[4]:.3f} "
                  f"[{row[5]:.3f}..{row[6]:.3f}]  allocs/step {row[7]:.0f}  B/step {row[8]:.0f}", flush=True)
    load1 = loadavg()
    if a.markdown:
        print("| workload | pollab steps/s | PyTorch steps/s (best of 1T/2T) | best threads | median ratio | ratio spread | pollab allocs/step | pollab bytes/step |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]} | **{r[4]:.3f}** | {r[5]:.3f}..{r[6]:.3f} | {r[7]:.0f} | {r[8]:.0f} |")
    print(f"# load average: {load0:.1f} at start, {load1:.1f} at end (2 cores)")


if __name__ == "__main__":
    main()
