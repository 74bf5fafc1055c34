package prover

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/filetest"
	"pollab/models"
	"pollab/proof"
)

// Goldens of what pollab computes, as SHA-256 digests. They were recorded on amd64 and are
// asserted wherever the tests run: on amd64, under -tags purego and on arm64 (the
// cross-architecture test in cmd/pollab runs this package's test binary under qemu-aarch64),
// so a value computed differently on any of them fails here.
const (
	// goldenDataset is synthetic:n=256,test=64,dim=16,classes=4,seed=3 (train split):
	// every point's float64 features then its label, little-endian.
	goldenDataset = "12861063f207c95045d57d173e9af7c76492e3db35fac067a5617f5830ee2b0e"
	// goldenSchedule is data.Schedule(256, 32, 3, 11): the int32 indices, little-endian.
	goldenSchedule = "ea2415c75b3db14a11e5a6ee652edf7198d399fe0fed49cf7a988a58352b722b"
	// goldenInit is models.Init of mlp:16-8-4:relu and lenet5 with seed 7: float64 bits.
	goldenInit = "ab908d891769c8e2a4f217fe0e96623b0e4d9d4c248c6d90f301ac671d2187c1"
)

// goldenProofs pins, per engine semantics (autodiff.Semantics), the SHA-256 of a short honest
// proof's files (every file but provenance.json) in f32 and f64. When a change alters any
// result bit, TestSemanticsGolden fails: bump autodiff.Semantics (every cache key carries
// it, so nothing stale is reused) and add the new digests here.
var goldenProofs = map[int]map[string]string{
	2: {
		"f32": "b8f35dbb9347bfcfe4747f9cf00d64976d26a822bd5035a7cbb3a2049ba683df",
		"f64": "a5c611896ceacc746f5289a696f3cd2cfcf65624068b9fe89598f05527ba40fb",
	},
	// 3: the fused BatchNorm2d; these MLP proofs have no BatchNorm and keep their bytes.
	3: {
		"f32": "b8f35dbb9347bfcfe4747f9cf00d64976d26a822bd5035a7cbb3a2049ba683df",
		"f64": "a5c611896ceacc746f5289a696f3cd2cfcf65624068b9fe89598f05527ba40fb",
	},
	// 4 changed only normal-law (kaiming) initialisations: this uniform-law MLP is unchanged.
	4: {
		"f32": "b8f35dbb9347bfcfe4747f9cf00d64976d26a822bd5035a7cbb3a2049ba683df",
		"f64": "a5c611896ceacc746f5289a696f3cd2cfcf65624068b9fe89598f05527ba40fb",
	},
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func float64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func TestDataScheduleInitGoldens(t *testing.T) {
	ds, err := data.Load("synthetic:n=256,test=64,dim=16,classes=4,seed=3", data.Train)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	x := make([]float64, ds.Dim())
	for i := range ds.Len() {
		ds.Features(i, x)
		buf = append(buf, float64Bytes(x)...)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(ds.Label(i)))
	}
	tab := data.Schedule(256, 32, 3, 11)
	var sb []byte
	for _, v := range tab.Idx {
		sb = binary.LittleEndian.AppendUint32(sb, uint32(v))
	}
	var ib []byte
	for _, spec := range []string{"mlp:16-8-4:relu", "lenet5"} {
		m, err := models.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		ib = append(ib, float64Bytes(models.Init(m, 7))...)
	}
	for _, c := range []struct{ name, got, want string }{
		{"synthetic dataset", sha(buf), goldenDataset},
		{"schedule", sha(sb), goldenSchedule},
		{"init", sha(ib), goldenInit},
	} {
		if c.got != c.want {
			t.Errorf("%s: SHA-256 %s, golden %s", c.name, c.got, c.want)
		}
	}
}

// proofDigest is the SHA-256 over every file of the proof in dir but provenance.json:
// "path\x00sha256\n" lines in path order.
func proofDigest(t *testing.T, dir string) string {
	t.Helper()
	files := filetest.ReadTree(t, dir)
	delete(files, proof.ProvenanceFile)
	var list []byte
	for _, f := range slices.Sorted(maps.Keys(files)) {
		list = fmt.Appendf(list, "%s\x00%s\n", f, sha(files[f]))
	}
	return sha(list)
}

// goldenConfig is the short honest run of the proof goldens: momentum, weight decay and an
// lr milestone on, 24 steps of an MLP on synthetic data.
func goldenConfig(dt autodiff.DType) Config {
	return Config{
		Model: "mlp:16-8-4:tanh", Dataset: "synthetic:n=256,test=64,dim=16,classes=4,seed=3", DType: dt,
		Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Milestones: []int{12}, Gamma: 0.1},
		Batch: 32, Epochs: 3, K: 5, Seed: 11,
	}
}

func TestSemanticsGolden(t *testing.T) {
	want, ok := goldenProofs[autodiff.Semantics]
	if !ok {
		t.Fatalf("no proof goldens for autodiff.Semantics = %d: add them to goldenProofs", autodiff.Semantics)
	}
	for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		dir := filepath.Join(t.TempDir(), "proof")
		if _, err := Train(context.Background(), goldenConfig(dt), dir, Options{}); err != nil {
			t.Fatal(err)
		}
		if got := proofDigest(t, dir); got != want[dt.String()] {
			t.Errorf("%s proof digest %s, golden %s for semantics %d: results changed; if intended, bump autodiff.Semantics and record the new digests",
				dt, got, want[dt.String()], autodiff.Semantics)
		}
	}
}
