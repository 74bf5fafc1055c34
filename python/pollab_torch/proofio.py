"""pollab's proof format (pollab-proof/1) in Python: a validating reader and an atomic writer.

A proof is a directory (see docs/FORMAT.md): manifest.json (written last),
ckpt/NNNNNN.safetensors (state before update t: parameters by name, momentum buffers as
``momentum.<name>``, for a model with BatchNorm its running statistics by name and an I64
scalar ``<module>.num_batches_tracked`` = t, metadata format/step/lr/model), indices.bin, hashes.bin, optional
augseeds.bin and payload.bin, and unhashed provenance.json. The reader checks every file
against the manifest's size and SHA-256 and every checkpoint against the model's layout before
using it; it never unpickles anything.
"""

import datetime
import hashlib
import json
import math
import os
import platform
import socket
import struct
import sys
import tempfile

import numpy as np

from .errors import PollabTorchError
from .models import buffer_layout, canonical_spec, tensor_layout, tracked_names

FORMAT = "pollab-proof/1"
CHECKPOINT_FORMAT = "pollab-checkpoint/1"
MOMENTUM_PREFIX = "momentum."
MAX_MANIFEST = 16 << 20
_ST_DTYPES = {"F32": ("<f4", 4), "F64": ("<f8", 8), "I64": ("<i8", 8)}
_RUN_DTYPES = {"f32": "F32", "f64": "F64"}


def checkpoint_steps(steps, k):
    """0, k, 2k, ... below T, then T."""
    return list(range(0, steps, k)) + [steps]


def checkpoint_name(step):
    return f"ckpt/{step:06d}.safetensors"


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key.lower() in seen:
            raise PollabTorchError(f"duplicate JSON key {key!r}")
        seen[key.lower()] = value
    return dict(pairs)


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------------------------------------
# safetensors

def _st_dtype(arr):
    return {np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}.get(arr.dtype, "F32")


def encode_safetensors(tensors, metadata):
    """tensors: [(name, np.ndarray)] F32 or F64 (float arrays), I64 (int64 arrays); laid out as
    pollab lays them out (by descending element size, then name), header padded with spaces so
    the buffer starts 8-byte aligned."""
    header = {"__metadata__": dict(metadata)}
    bufs, off = [], 0
    for name, arr in sorted(tensors, key=lambda t: (-_ST_DTYPES[_st_dtype(t[1])][1], t[0].encode())):
        st = _st_dtype(arr)
        b = np.ascontiguousarray(arr, dtype=_ST_DTYPES[st][0]).tobytes()
        header[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        bufs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(bufs)


def decode_safetensors(b, what):
    """Parse a safetensors file strictly: returns (metadata, {name: np.ndarray})."""
    if len(b) < 8:
        raise PollabTorchError(f"{what}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", b[:8])
    if n > len(b) - 8 or n > 100_000_000:
        raise PollabTorchError(f"{what}: header length {n} does not fit the {len(b)}-byte file")
    try:
        header = json.loads(b[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as e:
        raise PollabTorchError(f"{what}: header JSON: {e}") from None
    meta = header.pop("__metadata__", {}) or {}
    buf = b[8 + n:]
    spans, out = [], {}
    for name, info in header.items():
        try:
            dt, shape, (begin, end) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise PollabTorchError(f"{what}: tensor {name!r}: malformed entry") from None
        if dt not in _ST_DTYPES:
            raise PollabTorchError(f"{what}: tensor {name!r}: dtype {dt}, want F32, F64 or I64")
        npdt, size = _ST_DTYPES[dt]
        if not (0 <= begin <= end <= len(buf)) or (end - begin) != size * math.prod(shape):
            raise PollabTorchError(f"{what}: tensor {name!r}: offsets [{begin}, {end}] do not fit shape {shape}")
        spans.append((begin, end))
        out[name] = np.frombuffer(buf[begin:end], dtype=npdt).reshape(shape)
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise PollabTorchError(f"{what}: tensors overlap or leave a gap at byte {pos}")
        pos = end
    if pos != len(buf):
        raise PollabTorchError(f"{what}: {len(buf) - pos} bytes after the last tensor")
    return meta, out


# ---------------------------------------------------------------------------------------------
# binary tables

def _table_header(b, magic, nfields, what):
    need = 8 + 4 * nfields
    if len(b) < need or b[:4] != magic:
        raise PollabTorchError(f"{what}: not a {magic.decode()} table")
    version, *fields = struct.unpack(f"<I{nfields}I", b[4:need])
    if version != 1:
        raise PollabTorchError(f"{what}: version {version}, want 1")
    return fields


def encode_indices(table):
    t = np.ascontiguousarray(table, dtype="<i4")
    return b"PLIX" + struct.pack("<III", 1, t.shape[0], t.shape[1]) + t.tobytes()


def encode_hashes(hashes):
    return b"PLBH" + struct.pack("<II", 1, len(hashes)) + b"".join(hashes)


# ---------------------------------------------------------------------------------------------
# reading

class Checkpoint:
    """The state before update ``step``: parameters, momentum (None when the run has none) and
    buffers (BatchNorm running statistics; [] for a model without) as [(name, array)] in
    pollab's order, the lr."""

    def __init__(self, step, lr, tensors, momentum, dtype, buffers=()):
        self.step, self.lr, self.tensors, self.momentum, self.dtype = step, lr, tensors, momentum, dtype
        self.buffers = list(buffers)

    def flat(self):
        return np.concatenate([t.astype(np.float64).ravel() for _, t in self.tensors])

    def flat_buffers(self):
        """The buffers as one float64 vector (empty for a model without)."""
        return np.concatenate([t.astype(np.float64).ravel() for _, t in self.buffers]) if self.buffers else np.zeros(0)


class Proof:
    """A pollab proof opened for reading (``open_proof``)."""

    def __init__(self, path):
        self.path = path
        raw = self._read(ManifestRef("manifest.json", None, None), limit=MAX_MANIFEST)
        try:
            m = json.loads(raw, object_pairs_hook=_no_duplicates)
        except ValueError as e:
            raise PollabTorchError(f"{path}/manifest.json: {e}") from None
        self.manifest = m
        try:
            if m["format"] != FORMAT:
                raise PollabTorchError(f"{path}: format {m['format']!r}, want {FORMAT!r}")
            self.model = m["model"]
            if canonical_spec(self.model) != self.model:
                raise PollabTorchError(f"{path}: model spec {self.model!r} is not canonical")
            self.dtype = m["dtype"]
            if self.dtype not in _RUN_DTYPES:
                raise PollabTorchError(f"{path}: dtype {self.dtype!r}, want f32 or f64")
            opt = m["optimizer"]
            if opt["name"] != "sgd":
                raise PollabTorchError(f"{path}: optimizer {opt['name']!r}, only sgd")
            self.hyper = {k: opt[k] for k in ("lr", "momentum", "weight_decay", "milestones", "gamma")}
            self.hyper["milestones"] = list(self.hyper["milestones"] or [])
            self.steps, self.batch, self.k = int(m["steps"]), int(m["batch"]), int(m["k"])
            self.augment = m["augment"]
            self.dataset = m["dataset"]
            files, ckpts = m["files"], m["checkpoints"]
        except (KeyError, TypeError) as e:
            raise PollabTorchError(f"{path}/manifest.json: missing or malformed field {e}") from None
        if self.steps <= 0 or self.batch <= 0 or self.k <= 0:
            raise PollabTorchError(f"{path}: steps {self.steps}, batch {self.batch}, k {self.k} must be positive")
        want = checkpoint_steps(self.steps, self.k)
        if [c.get("step") for c in ckpts] != want:
            raise PollabTorchError(f"{path}: checkpoints are not for steps 0, k, ..., T")
        self.checkpoint_refs = [ManifestRef(c["file"], c["size"], c["sha256"]) for c in ckpts]
        b = self._read(ManifestRef(files["indices"]["file"], files["indices"]["size"], files["indices"]["sha256"]))
        steps, batch = _table_header(b, b"PLIX", 2, "indices.bin")
        if (steps, batch) != (self.steps, self.batch) or len(b) != 16 + 4 * steps * batch:
            raise PollabTorchError(f"{path}/indices.bin: {steps}×{batch} table, manifest says {self.steps}×{self.batch}")
        self.table = np.frombuffer(b[16:], dtype="<i4").reshape(steps, batch)
        hb = self._read(ManifestRef(files["hashes"]["file"], files["hashes"]["size"], files["hashes"]["sha256"]))
        (hsteps,) = _table_header(hb, b"PLBH", 1, "hashes.bin")
        if hsteps != self.steps or len(hb) != 12 + 32 * hsteps:
            raise PollabTorchError(f"{path}/hashes.bin: {hsteps} hashes, manifest says {self.steps} steps")
        self.batch_hashes = [hb[12 + 32 * i:44 + 32 * i] for i in range(hsteps)]
        self.payload = None
        if files.get("payload"):
            p = files["payload"]
            pb = self._read(ManifestRef(p["file"], p["size"], p["sha256"]))
            count, dim = _table_header(pb, b"PLPL", 2, "payload.bin")
            rec = 4 * dim + 1
            if len(pb) != 16 + count * rec:
                raise PollabTorchError(f"{path}/payload.bin: {len(pb)} bytes for {count} points of dim {dim}")
            recs = np.frombuffer(pb[16:], dtype=np.uint8).reshape(count, rec)
            x = recs[:, :4 * dim].copy().view("<f4").astype(np.float64)
            if not np.isfinite(x).all():
                raise PollabTorchError(f"{path}/payload.bin: a value is not finite")
            self.payload = (x, recs[:, 4 * dim].astype(np.int64))
        self.layout = tensor_layout(self.model)
        self.buffer_layout, self.tracked = buffer_layout(self.model), tracked_names(self.model)

    def _read(self, ref, limit=None):
        if os.path.isabs(ref.file) or ".." in ref.file.split("/") or "\\" in ref.file:
            raise PollabTorchError(f"{self.path}: file path {ref.file!r} leaves the proof directory")
        full = os.path.join(self.path, ref.file)
        if os.path.realpath(full) != full and not os.path.realpath(full).startswith(os.path.realpath(self.path) + os.sep):
            raise PollabTorchError(f"{self.path}: {ref.file} resolves outside the proof directory")
        try:
            with open(full, "rb") as f:
                b = f.read(limit + 1 if limit else -1)
        except OSError as e:
            raise PollabTorchError(f"{self.path}/{ref.file}: {e.strerror}") from None
        if limit and len(b) > limit:
            raise PollabTorchError(f"{self.path}/{ref.file}: larger than {limit} bytes")
        if ref.size is not None and (len(b) != ref.size or _sha256(b) != ref.sha256):
            raise PollabTorchError(f"{self.path}/{ref.file}: size or SHA-256 differs from the manifest")
        return b

    def num_checkpoints(self):
        return len(self.checkpoint_refs)

    def checkpoint_step(self, i):
        return checkpoint_steps(self.steps, self.k)[i]

    def checkpoint(self, i):
        """Checkpoint i, checked: hash, metadata, exact tensor set, shapes, dtype, finite."""
        ref = self.checkpoint_refs[i]
        what = f"{self.path}/{ref.file}"
        meta, tensors = decode_safetensors(self._read(ref), what)
        step = self.checkpoint_step(i)
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("model") != self.model or meta.get("step") != str(step):
            raise PollabTorchError(f"{what}: metadata {meta} does not name {CHECKPOINT_FORMAT}, model {self.model}, step {step}")
        try:
            lr = float(meta["lr"])
        except (KeyError, ValueError):
            raise PollabTorchError(f"{what}: metadata lr {meta.get('lr')!r} is not a number") from None
        mom = self.hyper["momentum"] != 0
        names = [n for n, _ in self.layout] + ([MOMENTUM_PREFIX + n for n, _ in self.layout] if mom else [])
        names += [n for n, _ in self.buffer_layout] + self.tracked
        if sorted(tensors) != sorted(names):
            raise PollabTorchError(f"{what}: tensors {sorted(tensors)}, want {sorted(names)}")
        npdt = _ST_DTYPES[_RUN_DTYPES[self.dtype]][0]
        expect = [(n, s) for name, s in self.layout for n in [name] + ([MOMENTUM_PREFIX + name] if mom else [])]
        for n, shape in expect + self.buffer_layout:
            t = tensors[n]
            if list(t.shape) != shape or t.dtype != np.dtype(npdt):
                raise PollabTorchError(f"{what}: tensor {n} is {t.dtype} {list(t.shape)}, want {npdt} {shape}")
            if not np.isfinite(t).all():
                raise PollabTorchError(f"{what}: tensor {n} has a non-finite value")
            if n.endswith(".running_var") and (t < 0).any():
                raise PollabTorchError(f"{what}: tensor {n} has a negative variance")
        for n in self.tracked:
            t = tensors[n]
            if list(t.shape) != [] or t.dtype != np.dtype("<i8") or int(t) != step:
                raise PollabTorchError(f"{what}: tensor {n} is {t.dtype} {list(t.shape)} {t.tolist()}, want an I64 scalar equal to the step {step}")
        params = [(n, tensors[n]) for n, _ in self.layout]
        momentum = [(n, tensors[MOMENTUM_PREFIX + n]) for n, _ in self.layout] if mom else None
        return Checkpoint(step, lr, params, momentum, self.dtype, [(n, tensors[n]) for n, _ in self.buffer_layout])


class ManifestRef:
    def __init__(self, file, size, sha256):
        self.file, self.size, self.sha256 = file, size, sha256


def open_proof(path):
    """Open and validate the proof directory at path."""
    return Proof(os.path.abspath(path))


# ---------------------------------------------------------------------------------------------
# writing

def write_atomic(path, b):
    """Write b to path through a synced temp file in the same directory, then rename."""
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"file": os.path.basename(path), "size": len(b), "sha256": _sha256(b)}


class ProofWriter:
    """Writes a proof: checkpoints as they come, then the tables, then provenance.json and
    manifest.json last. ``header`` is the manifest without files and checkpoints."""

    def __init__(self, path, header):
        if os.path.exists(os.path.join(path, "manifest.json")):
            raise PollabTorchError(f"{path}: already holds a proof (manifest.json exists)")
        os.makedirs(os.path.join(path, "ckpt"), exist_ok=True)
        self.path, self.header = path, dict(header)
        self.header.setdefault("format", FORMAT)
        self.layout = tensor_layout(self.header["model"])
        self.buffer_layout, self.tracked = buffer_layout(self.header["model"]), tracked_names(self.header["model"])
        self.checkpoints, self.files = {}, {}
        self.start = datetime.datetime.now(datetime.timezone.utc)

    def write_checkpoint(self, step, lr, params, momentum, buffers=None):
        """params/momentum/buffers: flat float64-convertible arrays or [(name, array)] in layout
        order; momentum None when the run has none (zeros are written for a momentum run);
        buffers (BatchNorm running statistics) required exactly when the model has them, written
        with num_batches_tracked = step."""
        dt = np.float32 if self.header["dtype"] == "f32" else np.float64
        mom = self.header["optimizer"]["momentum"] != 0
        ps = self._split(params, dt, "parameters")
        if (buffers is None) != (not self.buffer_layout):
            raise PollabTorchError(f"checkpoint {step}: model {self.header['model']} has {len(self.buffer_layout)} buffer tensors, "
                                   f"given {'none' if buffers is None else 'some'}")
        bs = self._split(buffers, dt, "buffers", self.buffer_layout) if buffers is not None else []
        for n, a in bs:
            if not np.isfinite(a).all() or (n.endswith(".running_var") and (a < 0).any()):
                raise PollabTorchError(f"checkpoint {step}: buffer {n} has a non-finite value or a negative variance")
        if mom:
            ms = self._split(momentum, dt, "momentum") if momentum is not None else [(n, np.zeros(s, dt)) for n, s in self.layout]
        elif momentum is not None:
            raise PollabTorchError(f"checkpoint {step}: momentum buffers given but the run's momentum is 0")
        for n, a in ps + (ms if mom else []):
            if not np.isfinite(a).all():
                raise PollabTorchError(f"checkpoint {step}: tensor {n} has a non-finite value")
        tensors = ps + ([(MOMENTUM_PREFIX + n, a) for n, a in ms] if mom else []) + bs
        tensors += [(n, np.array(step, dtype=np.int64)) for n in self.tracked]
        meta = {"format": CHECKPOINT_FORMAT, "step": str(step), "lr": repr(float(lr)), "model": self.header["model"]}
        name = checkpoint_name(step)
        ref = write_atomic(os.path.join(self.path, name), encode_safetensors(tensors, meta))
        ref["file"] = name
        self.checkpoints[step] = ref

    def _split(self, values, dt, what, layout=None):
        layout = self.layout if layout is None else layout
        if isinstance(values, (list, tuple)) and values and isinstance(values[0], tuple):
            arrs = [np.asarray(a) for _, a in values]
        else:
            flat = np.asarray(values).ravel()
            arrs, off = [], 0
            for _, s in layout:
                size = math.prod(s)
                arrs.append(flat[off:off + size])
                off += size
            if off != flat.size:
                raise PollabTorchError(f"{what}: {flat.size} values, model {self.header['model']} has {off}")
        if len(arrs) != len(layout):
            raise PollabTorchError(f"{what}: {len(arrs)} tensors, model {self.header['model']} has {len(layout)}")
        out = []
        for (n, s), a in zip(layout, arrs):
            if a.size != math.prod(s):
                raise PollabTorchError(f"{what}: tensor {n} has {a.size} values, want shape {s}")
            out.append((n, np.asarray(a, dtype=dt).reshape(s)))
        return out

    def write_tables(self, table, batch_hashes):
        table = np.asarray(table)
        self.files["indices"] = write_atomic(os.path.join(self.path, "indices.bin"), encode_indices(table))
        self.files["hashes"] = write_atomic(os.path.join(self.path, "hashes.bin"), encode_hashes(batch_hashes))

    def finish(self, notes="", producer_version=None):
        m = dict(self.header)
        steps = checkpoint_steps(m["steps"], m["k"])
        missing = [s for s in steps if s not in self.checkpoints]
        if missing:
            raise PollabTorchError(f"proof {self.path}: checkpoints missing for steps {missing[:5]}")
        if "indices" not in self.files:
            raise PollabTorchError(f"proof {self.path}: the index table was never written")
        m["files"] = dict(self.files)
        m["checkpoints"] = [dict(step=s, **self.checkpoints[s]) for s in steps]
        import torch  # the version is provenance
        prov = {"pollab": producer_version or "pollab_torch 0.1.0 (torch %s, numpy %s)" % (torch.__version__, np.__version__),
                "go": "", "command": sys.argv,
                "start": self.start.isoformat().replace("+00:00", "Z"),
                "end": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
                "host": socket.gethostname() + " (python %s, %s)" % (platform.python_version(), platform.machine()),
                "notes": notes}
        write_atomic(os.path.join(self.path, "provenance.json"), (json.dumps(prov, indent=2) + "\n").encode())
        write_atomic(os.path.join(self.path, "manifest.json"), (json.dumps(m, indent=2) + "\n").encode())
