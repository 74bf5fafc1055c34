package verifier

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
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

// stTensor is a tensor entry of a safetensors header, as the tests need it.
type stTensor struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// readCheckpointHeader reads checkpoint i of the proof: its file name, its bytes and its
// safetensors header by entry.
func readCheckpointHeader(t testing.TB, dir string, i int) (string, []byte, map[string]json.RawMessage) {
	t.Helper()
	rel := prooftest.ReadManifest(t, dir).Checkpoints[i].File
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	return rel, b, header
}

// editCheckpoint applies edit to every element of the named tensors (all parameters when
// names is empty) of checkpoint i, in the checkpoint's dtype, and re-signs the proof.
func editCheckpoint(t testing.TB, dir string, i int, names []string, edit func(name string, j int, v float64) float64) {
	t.Helper()
	rel, b, header := readCheckpointHeader(t, dir, i)
	base := 8 + int(binary.LittleEndian.Uint64(b))
	want := map[string]bool{}
	for _, s := range names {
		want[s] = true
	}
	edited := 0
	for name, raw := range header {
		if name == "__metadata__" || (len(names) > 0 && !want[name]) || (len(names) == 0 && !isParameter(name)) {
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
	prooftest.Resign(t, dir, rel, b)
}

// isParameter: a checkpoint tensor that is a trainable parameter (not momentum, running
// statistics or num_batches_tracked).
func isParameter(name string) bool {
	for _, suffix := range []string{proof.RunningMeanSuffix, proof.RunningVarSuffix, proof.TrackedSuffix} {
		if strings.HasSuffix(name, suffix) {
			return false
		}
	}
	return !strings.HasPrefix(name, proof.MomentumPrefix)
}

// setCheckpointLR rewrites the lr metadata of checkpoint i (the header re-marshalled, padded to
// a multiple of 8 bytes) and re-signs the proof.
func setCheckpointLR(t testing.TB, dir string, i int, lr string) {
	t.Helper()
	rel, b, header := readCheckpointHeader(t, dir, i)
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
	prooftest.Resign(t, dir, rel, prooftest.EditHeader(t, b, func(string) string { return string(hb) }))
}

// swapIndices exchanges two entries of the batch table (indices.bin) and re-signs the file,
// leaving the recorded batch hashes as they were.
func swapIndices(t testing.TB, dir string, a, b int) {
	t.Helper()
	m := prooftest.ReadManifest(t, dir)
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
	prooftest.Resign(t, dir, rel, buf)
}
