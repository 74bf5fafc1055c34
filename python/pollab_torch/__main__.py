"""Command line of pollab_torch (run with Debian's /usr/bin/python3, PYTHONPATH=python):

  python3 -m pollab_torch reexec PROOF DATA [PROOF DATA ...] [--span S] [--threads N]
      re-execute every interval (or groups of S consecutive intervals) of pollab proofs in
      PyTorch; prints one JSON list per proof (in a list) of {index, start, end, l1, l2, linf, cos}

  python3 -m pollab_torch import-jia SRC OUT DATA --model SPEC --epochs E [--augment] [--lr ...]
      convert a proof of Jia et al.'s reference code into a pollab proof (jia.py)
  python3 -m pollab_torch noise --pollab BIN --out DIR [--models mlp,lenet5,cnn-cifar] [--dtypes f32,f64]
      measure PyTorch <-> pollab re-execution noise against k (noise.py)

DATA is a file written by `pollab export-data NAME --out FILE`. Bad input: one line on
stderr, exit 2.
"""

import argparse
import json
import sys

from .errors import PollabTorchError


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "reexec":
            ap = argparse.ArgumentParser(prog="pollab_torch reexec")
            ap.add_argument("pairs", nargs="+", metavar="PROOF DATA")
            ap.add_argument("--span", type=int, default=1, help="proof intervals per re-executed interval")
            ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
            a = ap.parse_args(rest)
            from .datasets import load_dataset
            from .reexec import reexecute
            if len(a.pairs) % 2:
                raise PollabTorchError("reexec: want PROOF DATA pairs")
            pairs = list(zip(a.pairs[::2], a.pairs[1::2]))
            json.dump([reexecute(p, load_dataset(d), span=a.span, threads=a.threads) for p, d in pairs], sys.stdout)
            print()
        elif cmd == "import-jia":
            from .jia import main as jia_main
            return jia_main(rest)
        elif cmd == "noise":
            from .noise import main as noise_main
            return noise_main(rest)
        else:
            print(f"pollab_torch: unknown command {cmd!r} (reexec, import-jia, noise)", file=sys.stderr)
            return 2
    except PollabTorchError as e:
        print(f"pollab_torch: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
