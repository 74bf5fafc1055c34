"""Datasets exactly as pollab sees them: raw bytes, labels, point hashes, fingerprint.

The source is a file written by ``pollab export-data NAME --out FILE`` ("PLDS" u32 version,
u32 JSON length, JSON {name, shape, classes, n, encoding, fingerprint}, n raw points, n label
bytes). The fingerprint is recomputed here with pollab's algorithm (data.Dataset.Fingerprint)
and must equal the one the file declares, so a proof written from Python names the same data
as one written by pollab.
"""

import hashlib
import json
import struct

import numpy as np

from .errors import PollabTorchError

_ENC_WIDTH = {"u8": 1, "f32": 4}


class Dataset:
    """A labelled set of points: ``raw`` is [n, point_bytes] uint8, ``labels`` [n] uint8."""

    def __init__(self, name, shape, classes, encoding, raw, labels):
        if encoding not in _ENC_WIDTH:
            raise PollabTorchError(f"dataset {name!r}: unknown encoding {encoding!r}")
        dim = int(np.prod(shape))
        self.name, self.shape, self.classes, self.encoding = name, list(shape), int(classes), encoding
        self.dim = dim
        self.raw = np.asarray(raw, dtype=np.uint8).reshape(len(labels), dim * _ENC_WIDTH[encoding])
        self.labels = np.asarray(labels, dtype=np.uint8)
        if len(self.labels) and int(self.labels.max()) >= self.classes:
            raise PollabTorchError(f"dataset {name!r}: a label is >= {classes} classes")
        self._hashes = None

    def __len__(self):
        return len(self.labels)

    def point_hashes(self):
        """SHA-256(raw bytes || label byte) of every point, as a list of 32-byte strings."""
        if self._hashes is None:
            self._hashes = [hashlib.sha256(self.raw[i].tobytes() + bytes([int(self.labels[i])])).digest()
                            for i in range(len(self))]
        return self._hashes

    def fingerprint(self):
        """pollab's dataset fingerprint (hex): SHA-256 over the length-prefixed name, the shape,
        the class count, n (little-endian u64 each) and every point hash in order."""
        h = hashlib.sha256()
        u64 = lambda v: h.update(struct.pack("<Q", v))
        name = self.name.encode()
        u64(len(name))
        h.update(name)
        u64(len(self.shape))
        for s in self.shape:
            u64(s)
        u64(self.classes)
        u64(len(self))
        for ph in self.point_hashes():
            h.update(ph)
        return h.hexdigest()

    def features(self, idx, dtype=np.float64):
        """Points idx decoded like pollab (u8: byte/255 computed in float64, then cast to the
        run's dtype, as pollab feeds its graph), shaped [len(idx), dim], and their labels."""
        idx = np.asarray(idx, dtype=np.int64)
        raw = self.raw[idx]
        if self.encoding == "u8":
            x = raw.astype(np.float64) / 255.0
        else:
            x = raw.view("<f4").astype(np.float64)
        return x.astype(dtype), self.labels[idx].astype(np.int64)


def batch_hash(point_hashes):
    """pollab's batch hash: SHA-256 over the per-point hashes in order."""
    h = hashlib.sha256()
    for ph in point_hashes:
        h.update(ph)
    return h.digest()


def load_dataset(path):
    """Read a ``pollab export-data`` file, checking its declared sizes and fingerprint."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError as e:
        raise PollabTorchError(f"dataset file {path}: {e.strerror}") from None
    if len(b) < 12 or b[:4] != b"PLDS":
        raise PollabTorchError(f"dataset file {path}: not a pollab export-data file (magic {b[:4]!r})")
    version, hlen = struct.unpack("<II", b[4:12])
    if version != 1 or 12 + hlen > len(b):
        raise PollabTorchError(f"dataset file {path}: version {version} or header length {hlen} is wrong")
    try:
        h = json.loads(b[12:12 + hlen])
        name, shape, classes, n, enc, fp = (h["name"], h["shape"], h["classes"], h["n"], h["encoding"],
                                            h["fingerprint"])
    except (ValueError, KeyError) as e:
        raise PollabTorchError(f"dataset file {path}: header: {e}") from None
    if enc not in _ENC_WIDTH:
        raise PollabTorchError(f"dataset file {path}: unknown encoding {enc!r}")
    pb = int(np.prod(shape)) * _ENC_WIDTH[enc]
    body = b[12 + hlen:]
    if len(body) != n * (pb + 1):
        raise PollabTorchError(f"dataset file {path}: {len(body)} data bytes, {n} points of {pb} bytes need {n * (pb + 1)}")
    raw = np.frombuffer(body[:n * pb], dtype=np.uint8)
    labels = np.frombuffer(body[n * pb:], dtype=np.uint8)
    ds = Dataset(name, shape, classes, enc, raw, labels)
    if ds.fingerprint() != fp:
        raise PollabTorchError(f"dataset file {path}: fingerprint {ds.fingerprint()[:16]}... does not match the declared {fp[:16]}...")
    return ds
