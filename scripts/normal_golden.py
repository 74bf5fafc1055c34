#!/usr/bin/python3
"""Golden normal deviates for pollab's deterministic sampler, computed without pollab's code.

    /usr/bin/python3 scripts/normal_golden.py detmath internal/detmath/testdata/normal_golden.json
    /usr/bin/python3 scripts/normal_golden.py init models/testdata/init_normal_golden.json

Standard library only. This is an independent implementation of what internal/detmath and
models.Init specify (docs/ARCHITECTURE.md, docs/FORMAT.md):

- Go's math/rand/v2 PCG (128-bit LCG, DXSM output) and Rand.Float64 (the low 53 bits of a
  Uint64 divided by 2**53), from the Go source's constants;
- detmath.Log: FreeBSD msun's log (Go's src/math/log.go) with every operation rounded to
  double on its own, which is what CPython's float arithmetic does (no fused multiply-add);
- Marsaglia's polar method as detmath.Polar states it: u = 2a-1, v = 2b-1, s = u*u + v*v,
  reject unless 0 < s < 1, z = u * sqrt(-2*log(s)/s); detmath.Normal draws a, b in that order
  until a trial is accepted;
- models.Init's per-tensor stream: PCG(hi, lo) from SHA-256(seed as 8 little-endian bytes ||
  "pollab/models.Init/" || tensor name), bytes 0..7 and 8..15 little-endian; a normal law's
  value is std * Normal with std = sqrt(2/fan_in).

Values are written as the 16 hex digits of their IEEE 754 bits (and as repr for reading).
The Go tests (internal/detmath TestNormalGolden, models TestInitNormalGolden) assert pollab
draws exactly these bits, and rerun this script to check the committed files are its output.
"""
import hashlib
import json
import math
import struct
import sys

M64 = (1 << 64) - 1
MUL = (2549297995355413924 << 64) | 4865540595714422341
INC = (6364136223846793005 << 64) | 1442695040888963407
CHEAP_MUL = 0xDA942042E4DD58B5


class PCG:
    """Go's math/rand/v2 PCG: NewPCG(seed1, seed2) is the 128-bit state seed1<<64 | seed2."""

    def __init__(self, hi, lo):
        self.state = (hi << 64) | lo

    def uint64(self):
        self.state = (self.state * MUL + INC) & ((1 << 128) - 1)
        hi, lo = self.state >> 64, self.state & M64
        hi ^= hi >> 32
        hi = (hi * CHEAP_MUL) & M64
        hi ^= hi >> 48
        hi = (hi * (lo | 1)) & M64
        return hi

    def float64(self):
        return (self.uint64() & ((1 << 53) - 1)) / float(1 << 53)


def log(x):
    """msun's log (Go's src/math/log.go) for finite x > 0, every operation rounded."""
    ln2_hi, ln2_lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    l1, l2, l3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
    l4, l5 = 2.222219843214978396e-01, 1.818357216161805012e-01
    l6, l7 = 1.531383769920937332e-01, 1.479819860511658591e-01
    assert x > 0 and math.isfinite(x)
    f1, ki = math.frexp(x)
    if f1 < math.sqrt(2) / 2:
        f1 *= 2
        ki -= 1
    f = f1 - 1
    k = float(ki)
    s = f / (2 + f)
    s2 = s * s
    s4 = s2 * s2
    t1 = s2 * (l1 + s4 * (l3 + s4 * (l5 + s4 * l7)))
    t2 = s4 * (l2 + s4 * (l4 + s4 * l6))
    r = t1 + t2
    hfsq = 0.5 * f * f
    return k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f)


def polar(a, b):
    u = 2 * a - 1
    v = 2 * b - 1
    s = u * u + v * v
    if s >= 1 or s == 0:
        return None
    return u * math.sqrt(-2 * log(s) / s)


def normal(rng):
    while True:
        a = rng.float64()
        b = rng.float64()
        z = polar(a, b)
        if z is not None:
            return z


def bits(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def value(x):
    return {"bits": bits(x), "value": repr(x)}


def detmath_golden():
    # Polar on explicit uniforms: the first pairs of PCG(1, 2)'s Float64 stream, then edge
    # cases: s = 0, s = 1, the largest Float64, and a tiny s (u = 2**-29: a 9-sigma tail value).
    rng = PCG(1, 2)
    pairs = [(rng.float64(), rng.float64()) for _ in range(24)]
    top = 1 - 2.0 ** -53
    pairs += [(0.5, 0.5), (0.0, 0.5), (top, 0.5), (0.5 + 2.0 ** -30, 0.5), (0.5, 0.5 - 2.0 ** -40),
              (top, top), (0.0, 0.0), (0.25, 0.75)]
    trials = []
    for a, b in pairs:
        z = polar(a, b)
        trials.append({"a": bits(a), "b": bits(b), "z": None if z is None else value(z)})
    streams = []
    for hi, lo in [(1, 2), (7, 0x9E3779B97F4A7C15), (2**64 - 1, 0)]:
        rng = PCG(hi, lo)
        streams.append({"seed1": str(hi), "seed2": str(lo), "draws": [value(normal(rng)) for _ in range(16)]})
    return {"polar": trials, "normal": streams}


def init_golden():
    # models.Init of resnet:8:3x8x8 with seed 7: kaiming-normal tensors (fan_in = in*k*k).
    seed = 7
    tensors = []
    for name, fan_in in [("conv1.weight", 3 * 9), ("layer2.0.conv2.weight", 32 * 9), ("linear.weight", 64)]:
        h = hashlib.sha256(struct.pack("<Q", seed) + b"pollab/models.Init/" + name.encode()).digest()
        hi, lo = struct.unpack("<QQ", h[:16])
        rng = PCG(hi, lo)
        std = math.sqrt(2 / fan_in)
        tensors.append({"name": name, "std": value(std), "first": [value(std * normal(rng)) for _ in range(12)]})
    return {"model": "resnet:8:3x8x8", "seed": seed, "tensors": tensors}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("detmath", "init"):
        sys.exit("usage: normal_golden.py detmath|init OUT.json")
    assert math.sqrt(2) / 2 == 0.7071067811865476  # Go's math.Sqrt2/2 rounded to float64
    out = detmath_golden() if sys.argv[1] == "detmath" else init_golden()
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
