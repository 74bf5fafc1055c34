package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"pollab/internal/prooftest"
	"pollab/proof"
)

// The checkpoint most rows mutate: checkpoint 1 (step 4) of the honest proof. Its header is
//
//	{"__metadata__":{"format":"pollab-checkpoint/1","lr":"0.1","model":"mlp:16-8-4:relu","step":"4"},
//	 "fc1.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},
//	 "fc1.weight":{"dtype":"F32","shape":[8,16],"data_offsets":[32,544]}, ... fc2.bias, fc2.weight,
//	 then the same four as momentum.*, the last "momentum.fc2.weight" at [1248,1376]}
var badCkpt = proof.CheckpointName(4)

// badRow is one class of malformed proof: how to make it from the honest proof, and what the
// user must see.
type badRow struct {
	class, name string
	mutate      func(p proofEdit)
	want        string // part of the one-line error
	file        string // the file (or field) the message must name
	// verdict: the proof is well-formed but its claims are false, so verify answers with a
	// verdict (exit 1, "pollab: rejected: ...") and inspect, which checks only the format,
	// exits 0. datasetOnly: only verify, which loads the declared dataset, sees the problem.
	// ignored: the file is informational (not hashed, never trusted), so both commands carry
	// on without it and exit 0.
	verdict, datasetOnly, ignored bool
	// knownBug names an open bug: the row is run and reported, but skipped while the bug shows.
	knownBug string
}

func (r badRow) exits() (verify, inspect int) {
	switch {
	case r.verdict:
		return exitRejected, exitOK
	case r.datasetOnly:
		return exitBadInput, exitOK
	case r.ignored:
		return exitOK, exitOK
	}
	return exitBadInput, exitBadInput
}

// Helpers that build one mutation each.

func ckptHeader(old, new string) func(p proofEdit) {
	return func(p proofEdit) {
		p.replace(badCkpt, prooftest.EditHeader(p.t, p.read(badCkpt), func(h string) string { return strings.Replace(h, old, new, 1) }))
	}
}

func ckptBytes(f func(b []byte) []byte) func(p proofEdit) {
	return func(p proofEdit) { p.replace(badCkpt, f(append([]byte(nil), p.read(badCkpt)...))) }
}

// ckptBuffer is the offset of the data buffer in a checkpoint file.
func ckptBuffer(b []byte) int { return 8 + int(binary.LittleEndian.Uint64(b)) }

func putF32(b []byte, at int, v float64) []byte {
	binary.LittleEndian.PutUint32(b[at:], math.Float32bits(float32(v)))
	return b
}

func indices(f func(b []byte) []byte) func(p proofEdit) {
	return func(p proofEdit) { p.replace(proof.IndicesFile, f(append([]byte(nil), p.read(proof.IndicesFile)...))) }
}

func putU32(b []byte, at int, v uint32) []byte {
	binary.LittleEndian.PutUint32(b[at:], v)
	return b
}

func manifestEdit(f func(m *proof.Manifest)) func(p proofEdit) {
	return func(p proofEdit) { p.edit(f) }
}

// payloadBytes is a payload.bin whose header claims count points of dimension dim and which
// holds the given points (16 features each, then the label).
func payloadBytes(count, dim uint32, points [][]float32, labels []byte) []byte {
	b := []byte("PLPL")
	for _, v := range []uint32{1, count, dim} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	for i, x := range points {
		for _, v := range x {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		b = append(b, labels[i])
	}
	return b
}

// withPayload adds a payload table (manifest count given) to the proof.
func withPayload(count int, content []byte) func(p proofEdit) {
	return func(p proofEdit) {
		p.write(proof.PayloadFile, content)
		p.edit(func(m *proof.Manifest) {
			m.Files.Payload = &proof.PayloadRef{FileRef: proof.FileRef{File: proof.PayloadFile}, Count: count}
		})
		p.replace(proof.PayloadFile, content)
	}
}

func onePoint(v float32, label byte) ([][]float32, []byte) {
	x := make([]float32, 16)
	for i := range x {
		x[i] = 0.5
	}
	x[3] = v
	return [][]float32{x}, []byte{label}
}

func symlinkOut(rel string) func(p proofEdit) {
	return func(p proofEdit) {
		outside := filepath.Join(p.t.TempDir(), "outside")
		if err := os.WriteFile(outside, p.read(rel), 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.remove(rel)
		if err := os.Symlink(outside, p.path(rel)); err != nil {
			p.t.Skip("symlinks unsupported:", err)
		}
	}
}

func fifo(rel string) func(p proofEdit) {
	return func(p proofEdit) {
		p.remove(rel)
		if err := syscall.Mkfifo(p.path(rel), 0o644); err != nil {
			p.t.Skip("mkfifo unsupported:", err)
		}
	}
}

// badRows lists one malformed proof per bad-input class (docs/BAD_INPUT.md is generated from it).
func badRows() []badRow {
	ck := badCkpt
	m := proof.ManifestFile
	ix := proof.IndicesFile
	pl := proof.PayloadFile
	pt, lb := onePoint(0.25, 1)
	goodPayload := payloadBytes(1, 16, pt, lb)
	return []badRow{
		// Safetensors checkpoints (re-signed in the manifest, so the checks behind the hash run).
		{class: "safetensors header length", name: "header length past the end of the file", file: ck, want: "header length",
			mutate: ckptBytes(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, uint64(len(b))); return b })},
		{class: "safetensors header length", name: "header length 2^62 bytes", file: ck, want: "exceeds the 100000000-byte limit",
			mutate: ckptBytes(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, 1<<62); return b })},
		{class: "safetensors header length", name: "header length 90 MB (under the cap) in a 2 KB file", file: ck, want: "bytes after the length field",
			mutate: ckptBytes(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, 90_000_000); return b })},
		{class: "safetensors header length", name: "file shorter than the length field", file: ck, want: "manifest size 5, a f32 checkpoint of mlp:16-8-4:relu is 1384..1049960 bytes",
			mutate: ckptBytes(func(b []byte) []byte { return b[:5] })},
		{class: "safetensors JSON header", name: "header is not JSON", file: ck, want: "invalid JSON",
			mutate: ckptHeader(`"dtype":"F32"`, `"dtype":F32"`)},
		{class: "safetensors JSON header", name: "header is not UTF-8", file: ck, want: "not valid UTF-8",
			mutate: ckptHeader(`"fc1.bias"`, "\"fc1.\xffias\"")},
		{class: "safetensors JSON header", name: "unknown tensor field", file: ck, want: `unknown field "strides"`,
			mutate: ckptHeader(`"shape":[8],`, `"shape":[8],"strides":[1],`)},
		{class: "safetensors offsets", name: "overlapping tensors", file: ck, want: "overlaps",
			mutate: ckptHeader(`"data_offsets":[32,544]`, `"data_offsets":[16,528]`)},
		{class: "safetensors offsets", name: "gap between tensors", file: ck, want: "gap of 8 bytes",
			mutate: ckptHeader(`"data_offsets":[32,544]`, `"data_offsets":[40,552]`)},
		{class: "safetensors offsets", name: "tensor past the end of the buffer", file: ck, want: "past the 1372-byte buffer",
			mutate: ckptBytes(func(b []byte) []byte { return b[:len(b)-4] })},
		{class: "safetensors offsets", name: "negative offset", file: ck, want: "non-negative offsets",
			mutate: ckptHeader(`"data_offsets":[0,32]`, `"data_offsets":[-32,0]`)},
		{class: "safetensors offsets", name: "offsets near 2^63", file: ck, want: "gap of",
			mutate: ckptHeader(`"data_offsets":[1248,1376]`, `"data_offsets":[9223372036854775000,9223372036854775128]`)},
		{class: "safetensors offsets", name: "trailing bytes after the last tensor", file: ck, want: "8 trailing bytes",
			mutate: ckptBytes(func(b []byte) []byte { return append(b, make([]byte, 8)...) })},
		{class: "dtype not declared", name: "dtype I32 in an f32 run", file: ck, want: "has dtype I32, the run is F32",
			mutate: ckptHeader(`"dtype":"F32"`, `"dtype":"I32"`)},
		{class: "dtype not declared", name: "unknown dtype", file: ck, want: `unknown dtype "Q32"`,
			mutate: ckptHeader(`"dtype":"F32"`, `"dtype":"Q32"`)},
		{class: "shapes vs model spec", name: "transposed weight", file: ck, want: "has shape [16 8], model mlp:16-8-4:relu wants [8 16]",
			mutate: ckptHeader(`"shape":[8,16]`, `"shape":[16,8]`)},
		{class: "shapes vs model spec", name: "shape of 2^62 elements", file: ck, want: "needs 4611686018427387904 elements",
			mutate: ckptHeader(`"shape":[8]`, `"shape":[4611686018427387904]`)},
		{class: "shapes vs model spec", name: "negative dimension", file: ck, want: "negative dimension",
			mutate: ckptHeader(`"shape":[8]`, `"shape":[-8]`)},
		{class: "NaN/Inf weights", name: "NaN weight", file: ck, want: "not finite",
			mutate: ckptBytes(func(b []byte) []byte { return putF32(b, len(b)-4, math.NaN()) })},
		{class: "NaN/Inf weights", name: "infinite weight", file: ck, want: "not finite",
			mutate: ckptBytes(func(b []byte) []byte { return putF32(b, ckptBuffer(b), math.Inf(1)) })},
		{class: "NaN/Inf weights", name: "NaN lr in the metadata", file: ck, want: `metadata lr "NaN"`,
			mutate: ckptHeader(`"lr":"0.1"`, `"lr":"NaN"`)},
		{class: "duplicate tensors", name: "duplicate tensor name", file: ck, want: `duplicate key "fc2.bias"`,
			mutate: ckptHeader(`"momentum.fc2.bias"`, `"fc2.bias"`)},
		{class: "duplicate tensors", name: "foreign tensor instead of a momentum buffer", file: ck, want: `missing tensor "momentum.fc2.bias"`,
			mutate: ckptHeader(`"momentum.fc2.bias"`, `"momentum.fc9.bias"`)},
		{class: "checkpoint metadata", name: "metadata step differs from the manifest", file: ck, want: "metadata step 5, manifest lists it as step 4",
			mutate: ckptHeader(`"step":"4"`, `"step":"5"`)},
		{class: "checkpoint metadata", name: "metadata model differs", file: ck, want: `metadata model "mlp:16-8-4:tanh"`,
			mutate: ckptHeader(`"model":"mlp:16-8-4:relu"`, `"model":"mlp:16-8-4:tanh"`)},

		// Checkpoint files and the manifest's list of them.
		{class: "hash mismatches", name: "checkpoint changed without re-signing", file: ck, want: "SHA-256 mismatch",
			mutate: func(p proofEdit) { b := p.read(ck); b[len(b)-1] ^= 0x40; p.write(ck, b) }},
		{class: "hash mismatches", name: "checkpoint truncated without re-signing", file: ck, want: "manifest says 2048",
			mutate: func(p proofEdit) { p.write(ck, p.read(ck)[:2000]) }},
		{class: "checkpoint list", name: "manifest claims a 2^62-byte checkpoint", file: ck, want: "manifest size 4611686018427387904",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints[1].Size = 1 << 62 })},
		{class: "checkpoint list", name: "checkpoint of another step", file: proof.CheckpointName(8), want: "metadata step 8, manifest lists it as step 4",
			mutate: manifestEdit(func(m *proof.Manifest) {
				a, b := &m.Checkpoints[1], &m.Checkpoints[2]
				a.File, b.File, a.SHA256, b.SHA256 = b.File, a.File, b.SHA256, a.SHA256
			})},
		{class: "checkpoint list", name: "two checkpoints share a file", file: m, want: "is also the",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints[2].File = m.Checkpoints[1].File })},
		{class: "checkpoint list", name: "checkpoints out of order", file: m, want: "want step 4",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints[1], m.Checkpoints[2] = m.Checkpoints[2], m.Checkpoints[1] })},
		{class: "checkpoint list", name: "a checkpoint missing from the list", file: m, want: "4 checkpoints listed",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints = m.Checkpoints[:4] })},

		// Index table.
		{class: "index table dims vs file size", name: "header disagrees with the manifest", file: ix, want: "header says 15 steps",
			mutate: indices(func(b []byte) []byte { return putU32(b, 8, 15) })},
		{class: "index table dims vs file size", name: "header claims 2^31-1 steps", file: ix, want: "header says 2147483647 steps",
			mutate: indices(func(b []byte) []byte { return putU32(b, 8, math.MaxInt32) })},
		{class: "index table dims vs file size", name: "header field 2^32-1", file: ix, want: "above 2147483647",
			mutate: indices(func(b []byte) []byte { return putU32(b, 12, math.MaxUint32) })},
		{class: "index table dims vs file size", name: "manifest claims 2^31-1 steps of batch 1", file: ix, want: "its header fields need 8589934604",
			mutate: manifestEdit(func(m *proof.Manifest) {
				m.Steps, m.Batch, m.K = math.MaxInt32, 1, math.MaxInt32
				m.Epochs, m.Schedule = 1<<25, proof.SchedulePrefix // the fewest epochs of 64 points that hold T
				m.Checkpoints = []proof.CheckpointRef{m.Checkpoints[0], m.Checkpoints[4]}
				m.Checkpoints[1].Step = math.MaxInt32
			})},
		{class: "index table dims vs file size", name: "manifest claims 2^30 x 8 entries", file: m, want: "exceeds 2^31-1 entries",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Steps = 1 << 30 })},
		{class: "seed commitment", name: "commitment hash not 64 hex digits", file: m, want: `commitment sha256 "C0FFEE": want 64 lowercase hex digits`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Commitment = &proof.SeedCommitment{Nonce: "n", SHA256: "C0FFEE"} })},
		{class: "seed commitment", name: "commitment nonce with a control character", file: m, want: "holds a non-printable character",
			mutate: manifestEdit(func(m *proof.Manifest) {
				m.Commitment = &proof.SeedCommitment{Nonce: "a\x07b", SHA256: proof.CommitSeeds(m.Seeds, "a\x07b")}
			})},
		{class: "seed commitment", name: "commitment nonce of 257 bytes", file: m, want: "commitment nonce of 257 bytes: at most 256",
			mutate: manifestEdit(func(m *proof.Manifest) {
				m.Commitment = &proof.SeedCommitment{Nonce: strings.Repeat("n", 257), SHA256: strings.Repeat("0", 64)}
			})},
		{class: "index table dims vs file size", name: "table truncated and re-signed", file: ix, want: "its header fields need 528",
			mutate: indices(func(b []byte) []byte { return b[:len(b)-4] })},
		{class: "index table dims vs file size", name: "wrong magic", file: ix, want: `magic "XLIX"`,
			mutate: indices(func(b []byte) []byte { b[0] = 'X'; return b })},
		{class: "index table dims vs file size", name: "hashes table too short", file: proof.HashesFile, want: "its header fields need 524",
			mutate: func(p proofEdit) { b := p.read(proof.HashesFile); p.replace(proof.HashesFile, b[:len(b)-32]) }},
		{class: "out-of-range indices", name: "index beyond the dataset", file: ix, want: "is 64, dataset",
			mutate: indices(func(b []byte) []byte { return putU32(b, 16+4*5, honestN) })},
		{class: "out-of-range indices", name: "negative index without a payload", file: ix, want: "payload point 0 of 0",
			mutate: indices(func(b []byte) []byte { return putU32(b, 16, math.MaxUint32) })},
		{class: "out-of-range indices", name: "index -2^31", file: ix, want: "payload point 2147483647 of 0",
			mutate: indices(func(b []byte) []byte { return putU32(b, 16, 1<<31) })},
		{class: "hash mismatches", name: "index table changed without re-signing", file: ix, want: "SHA-256 mismatch",
			mutate: func(p proofEdit) { b := p.read(ix); b[20] ^= 1; p.write(ix, b) }},

		// Payload (crafted points).
		{class: "payload counts", name: "payload header claims 2^31-1 points", file: pl, want: "2147483647 points of dimension 16 need",
			mutate: withPayload(1, payloadBytes(math.MaxInt32, 16, pt, lb))},
		{class: "payload counts", name: "manifest claims 2^31-1 payload points", file: pl, want: "its header fields need 139586437071",
			mutate: withPayload(math.MaxInt32, goodPayload)},
		{class: "payload counts", name: "manifest claims 2^31 payload points", file: m, want: "payload count 2147483648 is not in 1..2147483647",
			mutate: withPayload(1<<31, goodPayload)},
		{class: "payload counts", name: "payload count zero", file: m, want: "payload count 0",
			mutate: withPayload(0, goodPayload)},
		{class: "payload counts", name: "payload point of the wrong dimension", file: pl, want: "point dimension 15, the model takes 16",
			mutate: withPayload(1, func() []byte { b := append([]byte(nil), goodPayload...); return putU32(b, 12, 15) }())},
		{class: "NaN/Inf weights", name: "NaN payload feature", file: pl, want: "not finite",
			mutate: withPayload(1, payloadBytes(1, 16, [][]float32{{float32(math.NaN()), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}, lb))},
		{class: "out-of-range indices", name: "payload label beyond the classes", file: pl, want: "label 9",
			mutate: withPayload(1, payloadBytes(1, 16, pt, []byte{9}))},

		// Manifest JSON.
		{class: "manifest JSON size/nesting", name: "manifest larger than 16 MB", file: m, want: "more than the 16777216 allowed",
			mutate: func(p proofEdit) {
				if err := os.Truncate(p.path(m), proof.MaxManifestBytes+1); err != nil {
					p.t.Fatal(err)
				}
			}},
		{class: "manifest JSON size/nesting", name: "nesting 100000 deep", file: m, want: "nested deeper than 32 levels",
			mutate: func(p proofEdit) {
				p.editText(`"producer"`, `"deep": `+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`, "producer"`)
			}},
		{class: "manifest duplicate keys", name: "key given twice (encoding/json would keep the last)", file: m, want: `duplicate key "k"`,
			mutate: func(p proofEdit) { p.editText(`"k": 4`, `"k": 400, "k": 4`) }},
		{class: "manifest duplicate keys", name: "keys differing only in case", file: m, want: `duplicate key "Steps"`,
			mutate: func(p proofEdit) { p.editText(`"steps": 16`, `"steps": 16, "Steps": 16`) }},
		{class: "manifest duplicate keys", name: "key given twice in a checkpoint entry", file: m, want: `duplicate key "step"`,
			mutate: func(p proofEdit) { p.editText(`"step": 4,`, `"step": 4, "step": 4,`) }},
		{class: "manifest JSON size/nesting", name: "manifest is not JSON", file: m, want: "manifest JSON",
			mutate: func(p proofEdit) { p.write(m, []byte(`{"format":`)) }},
		{class: "manifest JSON size/nesting", name: "empty manifest", file: m, want: "manifest JSON",
			mutate: func(p proofEdit) { p.write(m, nil) }},
		{class: "manifest JSON size/nesting", name: "data after the manifest object", file: m, want: "data after the manifest object",
			mutate: func(p proofEdit) { p.write(m, append(p.read(m), `{}`...)) }},
		{class: "manifest JSON size/nesting", name: "field of the wrong type", file: m, want: "manifest JSON",
			mutate: func(p proofEdit) { p.editText(`"k": 4`, `"k": "4"`) }},
		{class: "manifest JSON size/nesting", name: "NaN literal", file: m, want: "manifest JSON",
			mutate: func(p proofEdit) { p.editText(`"lr": 0.1`, `"lr": NaN`) }},
		{class: "manifest JSON size/nesting", name: "unknown format version", file: m, want: `format "pollab-proof/2"`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Format = "pollab-proof/2" })},

		// k, T, batch, epochs and the optimizer.
		{class: "negative or inconsistent k/T/batch", name: "k = 0", file: m, want: "k 0 is not positive",
			mutate: manifestEdit(func(m *proof.Manifest) { m.K = 0 })},
		{class: "negative or inconsistent k/T/batch", name: "k = -4", file: m, want: "k -4 is not positive",
			mutate: manifestEdit(func(m *proof.Manifest) { m.K = -4 })},
		{class: "negative or inconsistent k/T/batch", name: "k inconsistent with the checkpoint list", file: m, want: "5 checkpoints listed, steps 16 with k 3 need 7",
			mutate: manifestEdit(func(m *proof.Manifest) { m.K = 3 })},
		{class: "negative or inconsistent k/T/batch", name: "k = 2^40", file: m, want: "need 2",
			mutate: manifestEdit(func(m *proof.Manifest) { m.K = 1 << 40 })},
		{class: "negative or inconsistent k/T/batch", name: "T = -16", file: m, want: "steps -16",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Steps = -16 })},
		{class: "negative or inconsistent k/T/batch", name: "T inconsistent with the last checkpoint", file: m, want: "want step 15",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Steps, m.Schedule = 15, proof.SchedulePrefix })},
		{class: "negative or inconsistent k/T/batch", name: "batch = 0", file: m, want: "batch 0",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Batch = 0 })},
		{class: "negative or inconsistent k/T/batch", name: "batch = -8", file: m, want: "batch -8",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Batch = -8 })},
		{class: "negative or inconsistent k/T/batch", name: "batch = 2^40", file: m, want: "batch 1099511627776 is not in 1..2147483647",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Batch = 1 << 40 })},
		{class: "negative or inconsistent k/T/batch", name: "batch inconsistent with the index table", file: ix, want: "its header fields need 272",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Batch, m.Epochs, m.Schedule = 4, 1, proof.SchedulePrefix })},
		{class: "negative or inconsistent k/T/batch", name: "epochs = -1", file: m, want: "epochs -1",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Epochs = -1 })},
		{class: "negative or inconsistent k/T/batch", name: "augmentation padding 1000", file: m, want: "augment pad 1000",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Augment.Pad = 1000 })},
		{class: "negative or inconsistent k/T/batch", name: "augmentation seeds listed but augmentation off", file: m, want: "seeds_recorded",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Files.AugSeeds = &proof.FileRef{File: proof.AugSeedsFile} })},
		// The schedule rule ties steps to epochs, batch and dataset size (N 64, B 8, E 2, T 16).
		{class: "schedule rule", name: "3 epochs claimed for 16 steps", file: m, want: `schedule "pol": 3 epochs of 64 points at batch 8 give floor(E·N/B) = 24 steps, the manifest claims 16`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Epochs = 3 })},
		{class: "schedule rule", name: "dataset size disagrees with the steps", file: m, want: "2 epochs of 100 points at batch 8 give floor(E·N/B) = 25 steps",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.N = 100 })},
		{class: "schedule rule", name: "batch disagrees with the steps", file: m, want: "2 epochs of 64 points at batch 16 give floor(E·N/B) = 8 steps",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Batch = 16 })},
		{class: "schedule rule", name: "prefix schedule with too few epochs", file: m, want: `schedule "pol-prefix": 16 steps at batch 8 over 64 points`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Epochs, m.Schedule = 1, proof.SchedulePrefix })},
		{class: "schedule rule", name: "prefix schedule with more epochs than it needs", file: m, want: "claims 3 epochs (16 < T <= 24)",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Epochs, m.Schedule = 3, proof.SchedulePrefix })},
		{class: "schedule rule", name: "unknown schedule rule", file: m, want: `schedule "shuffled": want "pol" or "pol-prefix"`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Schedule = "shuffled" })},
		{class: "optimizer", name: "negative lr", file: m, want: "lr -0.1",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Optimizer.LR = -0.1 })},
		{class: "optimizer", name: "momentum 1", file: m, want: "momentum 1 is not in [0, 1)",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Optimizer.Momentum = 1 })},
		{class: "optimizer", name: "decreasing milestones", file: m, want: "milestones [8 4]",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Optimizer.Milestones = []int{8, 4} })},
		{class: "optimizer", name: "optimizer other than sgd", file: m, want: `optimizer "adam"`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Optimizer.Name = "adam" })},

		// Paths.
		{class: "path traversal ..", name: "checkpoint file ../x", file: m, want: "../x",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints[1].File = "../x" })},
		{class: "path traversal ..", name: "index file ckpt/../../indices.bin", file: m, want: "ckpt/../../indices.bin",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Files.Indices.File = "ckpt/../../indices.bin" })},
		{class: "path traversal ..", name: "backslash path", file: m, want: "backslash",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Checkpoints[1].File = `ckpt\000004.safetensors` })},
		{class: "path traversal ..", name: "empty path", file: m, want: "empty path",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Files.Hashes.File = "" })},
		{class: "absolute paths", name: "hashes file /etc/passwd", file: m, want: `path "/etc/passwd" is absolute`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Files.Hashes.File = "/etc/passwd" })},
		{class: "symlinks out of the proof dir", name: "checkpoint symlinked outside", file: ck, want: "outside the proof directory",
			mutate: symlinkOut(ck)},
		{class: "symlinks out of the proof dir", name: "manifest symlinked outside", file: m, want: "outside the proof directory",
			mutate: symlinkOut(m)},
		{class: "symlinks out of the proof dir", name: "ckpt directory symlinked outside", file: proof.CheckpointName(0), want: "outside the proof directory",
			mutate: func(p proofEdit) {
				outside := filepath.Join(p.t.TempDir(), "ckpt")
				if err := os.Rename(p.path(proof.CheckpointDir), outside); err != nil {
					p.t.Fatal(err)
				}
				if err := os.Symlink(outside, p.path(proof.CheckpointDir)); err != nil {
					p.t.Skip("symlinks unsupported:", err)
				}
			}},
		{class: "symlinks out of the proof dir", name: "symlink loop", file: ck, want: "too many links",
			mutate: func(p proofEdit) {
				p.remove(ck)
				if err := os.Symlink(filepath.Base(ck), p.path(ck)); err != nil {
					p.t.Skip("symlinks unsupported:", err)
				}
			}},
		{class: "not a regular file", name: "checkpoint is a directory", file: ck, want: "not a regular file",
			mutate: func(p proofEdit) { p.remove(ck); os.Mkdir(p.path(ck), 0o755) }},
		{class: "not a regular file", name: "checkpoint is a FIFO", file: ck, want: "not a regular file", mutate: fifo(ck)},
		{class: "not a regular file", name: "manifest is a FIFO", file: m, want: "not a regular file", mutate: fifo(m)},
		{class: "not a regular file", name: "provenance.json is a FIFO", ignored: true, mutate: fifo(proof.ProvenanceFile)},
		{class: "not a regular file", name: "provenance.json is a directory", ignored: true,
			mutate: func(p proofEdit) { p.remove(proof.ProvenanceFile); os.Mkdir(p.path(proof.ProvenanceFile), 0o755) }},
		{class: "informational files", name: "provenance.json over 1 MiB", ignored: true,
			mutate: func(p proofEdit) {
				big := `{"ledger":{"forward":1},"notes":"` + strings.Repeat("x", 1<<20) + `"}`
				p.write(proof.ProvenanceFile, []byte(big))
			}},
		{class: "informational files", name: "index file named provenance.json", file: m, want: `is also the reserved provenance.json file`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Files.Indices.File = proof.ProvenanceFile })},
		{class: "missing files", name: "missing manifest", file: m, want: "manifest.json: missing file",
			mutate: func(p proofEdit) { p.remove(m) }},
		{class: "missing files", name: "missing checkpoint", file: ck, want: "missing file",
			mutate: func(p proofEdit) { p.remove(ck) }},
		{class: "missing files", name: "missing index table", file: ix, want: "missing file",
			mutate: func(p proofEdit) { p.remove(ix) }},
		{class: "missing files", name: "missing hashes table", file: proof.HashesFile, want: "missing file",
			mutate: func(p proofEdit) { p.remove(proof.HashesFile) }},

		// The declared dataset and model.
		{class: "wrong dataset fingerprint", name: "fingerprint is not hex", file: m, want: "fingerprint",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Fingerprint = "xyz" })},
		{class: "wrong dataset fingerprint", name: "fingerprint of another dataset", verdict: true, want: "data check failed",
			file: "fingerprint", mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Fingerprint = strings.Repeat("ab", 32) })},
		{class: "wrong dataset fingerprint", name: "dataset size 65 for a 64-point dataset", verdict: true, want: "has 64 points, the manifest declares 65",
			file: "dataset", mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.N = 65 })},
		{class: "wrong dataset fingerprint", name: "dataset size 63 below an index", file: ix, want: "is 63, dataset",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.N, m.Epochs, m.Schedule = 63, 3, proof.SchedulePrefix })},
		{class: "wrong dataset fingerprint", name: "unknown dataset", datasetOnly: true, file: m, want: `load "imagenet": unknown dataset`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Name = "imagenet" })},
		{class: "wrong dataset fingerprint", name: "dataset options out of range", datasetOnly: true, file: m, want: "n=-1",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Name = "synthetic:n=-1" })},
		{class: "declared dataset too large", name: "synthetic dataset of 1 GB declared in a 4 KB manifest", datasetOnly: true, file: m,
			want:   "more than the 67108864 allowed",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Name = "synthetic:n=1048576,test=16,dim=1024,classes=4,seed=3" })},
		{class: "shapes vs model spec", name: "dataset shape disagrees with the model", file: m, want: "has 17 features",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Shape = []int{17} })},
		{class: "shapes vs model spec", name: "dataset classes disagree with the model", file: m, want: "dataset has 5 classes",
			mutate: manifestEdit(func(m *proof.Manifest) { m.Dataset.Classes = 5 })},
		{class: "unknown model spec", name: "unknown model", file: m, want: `model spec "resnet9000": unknown model (want`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Model = "resnet9000" })},
		{class: "unknown model spec", name: "model too large", file: m, want: `model spec "mlp:16-100000-100000-4:relu": width`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Model = "mlp:16-100000-100000-4:relu" })},
		{class: "shapes vs model spec", name: "another valid model", file: proof.CheckpointName(0), want: `metadata model "mlp:16-8-4:relu", manifest says "mlp:16-9-4:relu"`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.Model = "mlp:16-9-4:relu" })},
		{class: "dtype not declared", name: "manifest dtype f16", file: m, want: `dtype "f16": want f64`,
			mutate: manifestEdit(func(m *proof.Manifest) { m.DType = "f16" })},
		{class: "dtype not declared", name: "manifest dtype f64 over f32 checkpoints", file: proof.CheckpointName(0), want: "a f64 checkpoint",
			mutate: manifestEdit(func(m *proof.Manifest) { m.DType = "f64" })},

		// Well-formed proofs whose claims are false: a verdict, not an error.
		{class: "false claims", name: "weights changed and re-signed", verdict: true, want: "check failed at interval", file: "interval",
			mutate: ckptBytes(func(b []byte) []byte {
				at := ckptBuffer(b) + 40
				return putF32(b, at, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[at:])))+1)
			})},
		{class: "checkpoint content", name: "non-zero momentum buffer at step 0", file: proof.CheckpointName(0), want: "at step 0: before the first update every buffer is zero",
			mutate: func(p proofEdit) {
				name := proof.CheckpointName(0)
				b := append([]byte(nil), p.read(name)...)
				// momentum.fc1.bias follows the 172 parameters (688 bytes of f32).
				p.replace(name, putF32(b, ckptBuffer(b)+688, 0.5))
			}},
		{class: "false claims", name: "batch indices swapped and re-signed", verdict: true, want: "data check failed", file: "batch hash",
			mutate: indices(func(b []byte) []byte {
				a, c := 16+4*3, 16+4*(5*honestBatch+1)
				va, vc := binary.LittleEndian.Uint32(b[a:]), binary.LittleEndian.Uint32(b[c:])
				return putU32(putU32(b, a, vc), c, va)
			})},
	}
}

// TestBadInputTable runs pollab verify and pollab inspect on one malformed proof per row:
// exit 2 (1 for false claims, a verdict), exactly one line on stderr naming the file and the
// problem, no panic or goroutine dump, nothing written outside the output directory, and the
// proof itself left as it was. docs/BAD_INPUT.md lists every row; regenerate its table with
// POLLAB_WRITE_BAD_INPUT_DOC=1.
func TestBadInputTable(t *testing.T) {
	bin := pollabBinary(t)
	base := honestRun.dir(t)
	rows := badRows()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "BAD_INPUT.md"))
	writeDoc := os.Getenv("POLLAB_WRITE_BAD_INPUT_DOC") != ""
	if err != nil && !writeDoc {
		t.Errorf("docs/BAD_INPUT.md: %v", err)
	}
	seen := map[string]bool{}
	results := make([]string, len(rows))
	t.Run("rows", func(t *testing.T) {
		for i, row := range rows {
			if seen[row.name] {
				t.Fatalf("row %q twice", row.name)
			}
			seen[row.name] = true
			if !writeDoc && !strings.Contains(string(doc), "| "+row.name+" |") {
				t.Errorf("docs/BAD_INPUT.md has no row %q (regenerate with POLLAB_WRITE_BAD_INPUT_DOC=1)", row.name)
			}
			t.Run(row.name, func(t *testing.T) {
				t.Parallel()
				results[i] = runBadRow(t, bin, base, row)
			})
		}
	})
	if writeDoc {
		writeBadInputDoc(t, rows, results)
	}
}

// runBadRow checks one row and returns verify's message, with the proof directory as DIR.
func runBadRow(t *testing.T, bin, base string, row badRow) string {
	dir := prooftest.Copy(t, base)
	row.mutate(proofEdit{t, dir})
	box := newSandbox(t, bin, dir)
	if row.knownBug != "" {
		box.timeout = 5e9
	}
	wantVerify, wantInspect := row.exits()
	var verifyMsg string
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"verify", dir, "--quiet", "--workers", "1"}, wantVerify},
		{[]string{"inspect", dir}, wantInspect},
	} {
		r := box.run(c.args...)
		if r.hung && row.knownBug != "" {
			t.Skipf("known bug: %s", row.knownBug)
		}
		msg := checkOneLine(t, c.args, r, c.want)
		if c.want == exitOK {
			continue
		}
		if !strings.Contains(msg, row.want) || !strings.Contains(msg, row.file) {
			t.Errorf("%s: message %q does not name %q and %q", c.args[0], msg, row.file, row.want)
		}
		if q := repeatedQuote(msg); q != "" {
			t.Errorf("%s: message %q quotes %s more than once (a wrap repeats its callee's prefix)", c.args[0], msg, q)
		}
		if c.args[0] == "verify" {
			verifyMsg = strings.ReplaceAll(msg, dir, "DIR")
		}
	}
	if row.knownBug != "" && !t.Failed() {
		t.Errorf("known bug %q no longer shows: drop the note", row.knownBug)
	}
	return verifyMsg
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// repeatedQuote returns a quoted string that occurs twice in msg, or "". Each layer of an
// error names what it adds; a value quoted twice means two layers named the same thing.
func repeatedQuote(msg string) string {
	seen := map[string]bool{}
	for _, q := range quoted.FindAllString(msg, -1) {
		if seen[q] {
			return q
		}
		seen[q] = true
	}
	return ""
}

func TestRepeatedQuote(t *testing.T) {
	for msg, want := range map[string]string{
		`manifest.json: dtype "f16": dtype "f16": want f64`:                   `"f16"`,
		`model "x": model spec "x": unknown model`:                            `"x"`,
		`metadata model "a", manifest says "b"`:                               "",
		`tensor "a\"b": unknown field "a"`:                                    "",
		`load "synthetic:n=1": n=1, want 1..1048576`:                          "",
		`declared dataset "imagenet": load "imagenet": unknown dataset (...)`: `"imagenet"`,
	} {
		if got := repeatedQuote(msg); got != want {
			t.Errorf("repeatedQuote(%q) = %q, want %q", msg, got, want)
		}
	}
}

var (
	hexRun  = regexp.MustCompile(`[0-9a-f]{64}`)
	tempRun = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/Test[^/ ]*/[0-9]+/`)
)

// writeBadInputDoc regenerates the table of docs/BAD_INPUT.md between its markers.
func writeBadInputDoc(t *testing.T, rows []badRow, msgs []string) {
	path := filepath.Join("..", "..", "docs", "BAD_INPUT.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- begin generated table -->\n", "<!-- end generated table -->"
	head, rest, ok1 := strings.Cut(string(doc), begin)
	_, tail, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the generated-table markers", path)
	}
	var b strings.Builder
	b.WriteString("| class | malformed proof | verify | inspect | what the user sees (pollab verify, stderr) |\n|---|---|---|---|---|\n")
	for i, r := range rows {
		v, in := r.exits()
		msg := tempRun.ReplaceAllString(hexRun.ReplaceAllString(msgs[i], "<sha256>"), "/tmp/…/")
		switch {
		case r.ignored:
			msg = "(nothing: the file is informational and skipped)"
		case msg == "":
			msg = "(no message recorded)"
		default:
			msg = "`" + strings.ReplaceAll(msg, "|", `\|`) + "`"
		}
		if r.knownBug != "" {
			msg += " **known bug:** " + r.knownBug
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s |\n", r.class, r.name, v, in, msg)
	}
	if err := os.WriteFile(path, []byte(head+begin+b.String()+end+tail), 0o644); err != nil {
		t.Fatal(err)
	}
}
