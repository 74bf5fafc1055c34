#!/usr/bin/env python3
"""Open a pollab checkpoint (or any safetensors file) and print its metadata and tensors.

Usage: scripts/open_checkpoint.py PROOF_DIR/ckpt/000000.safetensors [--values]

The header is parsed by hand from the safetensors spec (u64 little-endian header length, JSON
header, raw little-endian buffer), so the script needs only the Python standard library;
numpy, when installed, is used to load the tensors as arrays. With the `safetensors` package
installed, `safetensors.numpy.load_file(path)` (or `safetensors.torch.load_file`) gives the
same tensors.
"""

import json
import math
import struct
import sys

DTYPES = {  # safetensors dtype -> (struct code, numpy dtype name, bytes)
    "F64": ("d", "<f8", 8), "F32": ("f", "<f4", 4), "F16": ("e", "<f2", 2),
    "I64": ("q", "<i8", 8), "I32": ("i", "<i4", 4), "I16": ("h", "<i2", 2), "I8": ("b", "i1", 1),
    "U64": ("Q", "<u8", 8), "U32": ("I", "<u4", 4), "U16": ("H", "<u2", 2), "U8": ("B", "u1", 1),
    "BOOL": ("?", "bool", 1),
}


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8 or n > 100_000_000:
        raise ValueError(f"header length {n} does not fit the {len(raw)}-byte file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    return header, raw[8 + n :]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path, show_values = argv[1], "--values" in argv[2:]
    header, buf = read_header(path)
    meta = header.pop("__metadata__", {})
    for k in sorted(meta):
        print(f"metadata {k} = {meta[k]}")
    try:
        import numpy as np
    except ImportError:
        np = None
    total = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        count = math.prod(shape)
        total += count
        line = f"{name:32s} {dtype:4s} {str(shape):18s} {count:9d} values"
        if dtype in DTYPES:
            code, npname, size = DTYPES[dtype]
            if count * size != end - begin:
                raise ValueError(f"{name}: shape {shape} does not match offsets [{begin}, {end}]")
            if np is not None:
                values = np.frombuffer(buf[begin:end], dtype=npname).reshape(shape)
                flat = values.ravel().tolist()
            else:
                flat = list(struct.unpack(f"<{count}{code}", buf[begin:end]))
            if flat and dtype.startswith("F"):
                line += f"  min {min(flat):+.6g} max {max(flat):+.6g}"
            if show_values:
                line += f"\n    {flat[:8]}{' ...' if len(flat) > 8 else ''}"
        print(line)
    print(f"{len(header)} tensors, {total} values, {len(buf)} data bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
