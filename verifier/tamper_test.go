package verifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"pollab/autodiff"
	"pollab/proof"
	"pollab/prover"
)

// Test proofs: a tiny MLP on a small synthetic set, trained by the real honest prover.
const (
	testModel   = "mlp:16-12-4:relu"
	testDataset = "synthetic:n=128,test=32,dim=16,classes=4,seed=3"
	testBatch   = 16 // S = 8 steps per epoch
)

func testConfig(k, epochs int, dt autodiff.DType) prover.Config {
	return prover.Config{
		Model: testModel, Dataset: testDataset, DType: dt,
		Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, Gamma: 0.1},
		Batch: testBatch, Epochs: epochs, K: k, Seed: 11,
	}
}

// trainProof writes an honest proof into a fresh temp dir and returns the dir.
func trainProof(t testing.TB, cfg prover.Config) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proof")
	if _, err := prover.Train(context.Background(), cfg, dir, prover.Options{}); err != nil {
		t.Fatalf("train: %v", err)
	}
	return dir
}

// copyProof duplicates a proof directory so that a test can tamper with its copy.
func copyProof(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readManifest(t testing.TB, dir string) *proof.Manifest {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, proof.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := proof.DecodeManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeManifest(t testing.TB, dir string, m *proof.Manifest) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, proof.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// rehash rewrites file rel of the proof with b and updates its size and SHA-256 in the
// manifest, as an attacker who re-signs the proof would.
func rehash(t testing.TB, dir, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir)
	found := false
	for i := range m.Checkpoints {
		if m.Checkpoints[i].File == rel {
			m.Checkpoints[i].SHA256, m.Checkpoints[i].Size = fileHash(b), int64(len(b))
			found = true
		}
	}
	for _, r := range []*proof.FileRef{&m.Files.Indices, &m.Files.Hashes} {
		if r.File == rel {
			r.SHA256, r.Size = fileHash(b), int64(len(b))
			found = true
		}
	}
	if !found {
		t.Fatalf("rehash: %s is not listed in the manifest", rel)
	}
	writeManifest(t, dir, m)
}

// stTensor is a tensor entry of a safetensors header, as the tests need it.
type stTensor struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// editCheckpoint applies edit to every element of the named tensors (all parameters when
// names is empty) of checkpoint i, in the checkpoint's dtype, and re-signs the proof.
func editCheckpoint(t testing.TB, dir string, i int, names []string, edit func(name string, j int, v float64) float64) {
	t.Helper()
	m := readManifest(t, dir)
	rel := m.Checkpoints[i].File
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	base := 8 + int(n)
	want := map[string]bool{}
	for _, s := range names {
		want[s] = true
	}
	edited := 0
	for name, raw := range header {
		if name == "__metadata__" || (len(names) > 0 && !want[name]) || (len(names) == 0 && bytes.HasPrefix([]byte(name), []byte(proof.MomentumPrefix))) {
			continue
		}
		var ti stTensor
		if err := json.Unmarshal(raw, &ti); err != nil {
			t.Fatal(err)
		}
		buf := b[base+ti.Offsets[0] : base+ti.Offsets[1]]
		switch ti.DType {
		case "F64":
			for j := 0; j < len(buf)/8; j++ {
				v := math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:]))
				binary.LittleEndian.PutUint64(buf[8*j:], math.Float64bits(edit(name, j, v)))
			}
		case "F32":
			for j := 0; j < len(buf)/4; j++ {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:])))
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(edit(name, j, v))))
			}
		default:
			t.Fatalf("tensor %s has dtype %s", name, ti.DType)
		}
		edited++
	}
	if edited == 0 {
		t.Fatalf("editCheckpoint: no tensor named %v", names)
	}
	rehash(t, dir, rel, b)
}

// setCheckpointLR rewrites the lr metadata of checkpoint i and re-signs the proof.
func setCheckpointLR(t testing.TB, dir string, i int, lr string) {
	t.Helper()
	m := readManifest(t, dir)
	rel := m.Checkpoints[i].File
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	meta["lr"] = lr
	header["__metadata__"], _ = json.Marshal(meta)
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for (8+len(hb))%8 != 0 {
		hb = append(hb, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	out = append(append(out, hb...), b[8+n:]...)
	rehash(t, dir, rel, out)
}

// swapIndices exchanges two entries of the batch table (indices.bin) and re-signs the file,
// leaving the recorded batch hashes as they were.
func swapIndices(t testing.TB, dir string, a, b int) {
	t.Helper()
	m := readManifest(t, dir)
	rel := m.Files.Indices.File
	buf, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	const headerLen = 16 // "PLIX", version, steps, batch
	pa, pb := buf[headerLen+4*a:headerLen+4*a+4], buf[headerLen+4*b:headerLen+4*b+4]
	var tmp [4]byte
	copy(tmp[:], pa)
	copy(pa, pb)
	copy(pb, tmp[:])
	rehash(t, dir, rel, buf)
}
