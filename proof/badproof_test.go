package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// These helpers mirror internal/prooftest, which proof's internal tests cannot import (it
// imports proof).

// copyDir copies a proof directory (regular files and subdirectories only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
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
}

func readManifest(t testing.TB, dir string) *Manifest {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := DecodeManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeManifest(t testing.TB, dir string, m *Manifest) {
	t.Helper()
	b, err := encodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editManifest(t testing.TB, dir string, edit func(m *Manifest)) {
	m := readManifest(t, dir)
	edit(m)
	writeManifest(t, dir, m)
}

// replaceFile writes new content for rel and updates its size and SHA-256 in the manifest, so
// the mutation reaches the checks behind the hash.
func replaceFile(t testing.TB, dir, rel string, content []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	hexSum := hex.EncodeToString(sum[:])
	editManifest(t, dir, func(m *Manifest) {
		for i := range m.Checkpoints {
			if m.Checkpoints[i].File == rel {
				m.Checkpoints[i].Size, m.Checkpoints[i].SHA256 = int64(len(content)), hexSum
			}
		}
		refs := []*FileRef{&m.Files.Indices, &m.Files.Hashes, m.Files.AugSeeds}
		if m.Files.Payload != nil { // &m.Files.Payload.FileRef would panic on a proof without one
			refs = append(refs, &m.Files.Payload.FileRef)
		}
		for _, r := range refs {
			if r != nil && r.File == rel {
				r.Size, r.SHA256 = int64(len(content)), hexSum
			}
		}
	})
}

func readFile(t testing.TB, dir, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editHeader rewrites a safetensors file's JSON header (keeping its buffer) and re-packs the
// length prefix.
func editHeader(t testing.TB, file []byte, edit func(h string) string) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(file)
	h := edit(string(file[8 : 8+n]))
	if h == string(file[8:8+n]) {
		t.Fatal("header edit changed nothing")
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), file[8+n:]...)
}

// TestMalformedProofsAreRejected mutates a valid proof in one way per row and requires a
// clear error (mentioning want) from Open or from reading the checkpoints, and never a panic.
func TestMalformedProofsAreRejected(t *testing.T) {
	base := t.TempDir()
	buildProof(t, base, smallFixture, 1)
	ck := CheckpointName(2)
	ckBytes := readFile(t, base, ck)
	model, _ := models.Parse(smallFixture.spec)
	encodeWith := func(l checkpointLayout, step int) []byte {
		var b bytes.Buffer
		c := &Checkpoint{Step: step, LR: 0.1, Params: make([]float64, model.NumParams())}
		if err := encodeCheckpoint(&b, l, c); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	// inHeader replaces old by new in the checkpoint's safetensors header (once).
	inHeader := func(old, new string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			replaceFile(t, dir, ck, editHeader(t, ckBytes, func(h string) string { return strings.Replace(h, old, new, 1) }))
		}
	}

	rows := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"checkpoint header length past the file", func(t *testing.T, dir string) {
			b := append([]byte(nil), ckBytes...)
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			replaceFile(t, dir, ck, b)
		}, "header length"},
		{"checkpoint header length over 100MB", func(t *testing.T, dir string) {
			b := append([]byte(nil), ckBytes...)
			binary.LittleEndian.PutUint64(b, 1<<40)
			replaceFile(t, dir, ck, b)
		}, "limit"},
		{"overlapping offsets", inHeader(`"data_offsets":[24,120]`, `"data_offsets":[16,112]`), "overlaps"},
		{"NaN weight", func(t *testing.T, dir string) {
			b := append([]byte(nil), ckBytes...)
			binary.LittleEndian.PutUint64(b[len(b)-8:], math.Float64bits(math.NaN()))
			replaceFile(t, dir, ck, b)
		}, "not finite"},
		{"infinite weight", func(t *testing.T, dir string) {
			b := append([]byte(nil), ckBytes...)
			n := binary.LittleEndian.Uint64(b)
			binary.LittleEndian.PutUint64(b[8+n:], math.Float64bits(math.Inf(-1)))
			replaceFile(t, dir, ck, b)
		}, "not finite"},
		{"wrong dtype", func(t *testing.T, dir string) {
			replaceFile(t, dir, ck, encodeWith(checkpointLayout{model: model, dtype: autodiff.Float32, momentum: true}, 2))
		}, "dtype F32, the run is F64"},
		{"momentum buffers missing", func(t *testing.T, dir string) {
			replaceFile(t, dir, ck, encodeWith(checkpointLayout{model: model, dtype: autodiff.Float64}, 2))
		}, "tensors, want"},
		{"duplicate tensor", inHeader(`"momentum.fc2.bias"`, `"fc2.bias"`), "duplicate key"},
		{"foreign tensor", inHeader(`"momentum.fc2.bias"`, `"momentum.fc9.bias"`), `missing tensor "momentum.fc2.bias"`},
		{"shape mismatch", inHeader(`"shape":[3,4]`, `"shape":[4,3]`), "shape [4 3]"},
		{"metadata step differs", inHeader(`"step":"2"`, `"step":"3"`), "metadata step 3"},
		{"metadata lr not a number", inHeader(`"lr":"0.1"`, `"lr":"NaN"`), "metadata lr"},
		{"metadata model differs", inHeader(`"model":"mlp:4-3-2:relu"`, `"model":"mlp:4-3-2:tanh"`), "metadata model"},
		{"header is not JSON", inHeader(`}`, `]`), "invalid JSON"},
		{"truncated checkpoint", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ck), ckBytes[:len(ckBytes)-8], 0o644)
		}, "truncated"},
		{"truncated checkpoint with a matching hash", func(t *testing.T, dir string) {
			replaceFile(t, dir, ck, ckBytes[:len(ckBytes)-8])
		}, "past the"},
		{"trailing bytes after the checkpoint", func(t *testing.T, dir string) {
			replaceFile(t, dir, ck, append(append([]byte(nil), ckBytes...), 0, 0, 0, 0, 0, 0, 0, 0))
		}, "trailing bytes"},
		{"checkpoint from another step", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) {
				m.Checkpoints[1].File, m.Checkpoints[2].File = m.Checkpoints[2].File, m.Checkpoints[1].File
				m.Checkpoints[1].SHA256, m.Checkpoints[2].SHA256 = m.Checkpoints[2].SHA256, m.Checkpoints[1].SHA256
				m.Checkpoints[1].Size, m.Checkpoints[2].Size = m.Checkpoints[2].Size, m.Checkpoints[1].Size
			})
		}, "metadata step 4, manifest lists it as step 2"},
		{"checkpoints out of order", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Checkpoints[1], m.Checkpoints[2] = m.Checkpoints[2], m.Checkpoints[1] })
		}, "want step 2"},
		{"checkpoint missing from the list", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Checkpoints = m.Checkpoints[:len(m.Checkpoints)-1] })
		}, "checkpoints listed"},
		{"a huge T/k with a short list", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Steps, m.K, m.Epochs = 700_000_000, 1, 210_000_000 })
		}, "checkpoints listed"},
		{"two checkpoints share a file", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Checkpoints[2].File = m.Checkpoints[1].File })
		}, "is also the"},
		{"missing checkpoint file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, CheckpointName(5)))
		}, "missing file"},
		{"missing indices file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, IndicesFile))
		}, "indices.bin: missing file"},
		{"path traversal", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Checkpoints[1].File = "../x" })
		}, "inside the proof directory"},
		{"path traversal inside a path", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Files.Indices.File = "ckpt/../../indices.bin" })
		}, "inside the proof directory"},
		{"absolute path", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Files.Hashes.File = "/etc/passwd" })
		}, "absolute"},
		{"symlink out of the proof", func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "outside.safetensors")
			os.WriteFile(outside, ckBytes, 0o644)
			os.Remove(filepath.Join(dir, ck))
			if err := os.Symlink(outside, filepath.Join(dir, ck)); err != nil {
				t.Skip("symlinks unsupported:", err)
			}
		}, "outside the proof directory"},
		{"directory symlink out of the proof", func(t *testing.T, dir string) {
			outside := t.TempDir()
			copyDir(t, filepath.Join(dir, CheckpointDir), outside)
			os.RemoveAll(filepath.Join(dir, CheckpointDir))
			if err := os.Symlink(outside, filepath.Join(dir, CheckpointDir)); err != nil {
				t.Skip("symlinks unsupported:", err)
			}
		}, "outside the proof directory"},
		{"checkpoint is a directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ck))
			os.Mkdir(filepath.Join(dir, ck), 0o755)
		}, "not a regular file"},
		{"negative k", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.K = -1 }) }, "k -1"},
		{"zero batch", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.Batch = 0 }) }, "batch 0"},
		{"zero steps", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.Steps = 0 }) }, "steps 0"},
		{"zero epochs", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.Epochs = 0 }) }, "epochs 0"},
		{"unknown format", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Format = "pollab-proof/2" })
		}, "format"},
		{"unknown dtype", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.DType = "f16" }) }, "dtype"},
		{"unknown model", func(t *testing.T, dir string) { editManifest(t, dir, func(m *Manifest) { m.Model = "resnet9000" }) }, "model"},
		{"a huge model with small files", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Model = "mlp:4-8000-8000-2:relu" })
		}, "manifest size"},
		{"negative learning rate", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), bytes.Replace(readFile(t, dir, ManifestFile), []byte(`"lr": 0.1`), []byte(`"lr": -0.1`), 1), 0o644)
		}, "lr -0.1"},
		{"momentum of 1", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Optimizer.Momentum = 1 })
		}, "momentum"},
		{"bad fingerprint", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Dataset.Fingerprint = "xyz" })
		}, "fingerprint"},
		{"bad sha256", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Checkpoints[0].SHA256 = strings.ToUpper(m.Checkpoints[0].SHA256) })
		}, "lowercase hex"},
		{"manifest is not JSON", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"format":`), 0o644)
		}, "manifest JSON"},
		{"manifest has trailing data", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), append(readFile(t, dir, ManifestFile), `{}`...), 0o644)
		}, "data after"},
		{"manifest field of the wrong type", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ManifestFile), bytes.Replace(readFile(t, dir, ManifestFile), []byte(`"k": 2`), []byte(`"k": "2"`), 1), 0o644)
		}, "manifest JSON"},
		{"missing manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ManifestFile)) }, "manifest.json: missing file"},
		{"index beyond the dataset", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, IndicesFile)...)
			binary.LittleEndian.PutUint32(b[indicesHeaderLen+4*5:], uint32(smallFixture.n))
			replaceFile(t, dir, IndicesFile, b)
		}, "dataset"},
		{"index beyond the payload", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, IndicesFile)...)
			binary.LittleEndian.PutUint32(b[indicesHeaderLen+4*5:], uint32(0xffffffff-uint32(smallFixture.payload))) // -(payload+1)
			replaceFile(t, dir, IndicesFile, b)
		}, "payload point 2 of 2"},
		{"most negative index", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, IndicesFile)...)
			binary.LittleEndian.PutUint32(b[indicesHeaderLen:], 0x80000000)
			replaceFile(t, dir, IndicesFile, b)
		}, "payload point"},
		{"indices header disagrees with the manifest", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, IndicesFile)...)
			binary.LittleEndian.PutUint32(b[8:], 15)
			binary.LittleEndian.PutUint32(b[12:], 1)
			replaceFile(t, dir, IndicesFile, b)
		}, "header says 15 steps"},
		{"hashes table too short", func(t *testing.T, dir string) {
			b := readFile(t, dir, HashesFile)
			replaceFile(t, dir, HashesFile, b[:len(b)-32])
		}, "header fields need"},
		{"augseeds dropped", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Files.AugSeeds = nil })
		}, "seeds_recorded"},
		{"payload NaN", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, PayloadFile)...)
			binary.LittleEndian.PutUint32(b[payloadHeaderLen+4:], math.Float32bits(float32(math.NaN())))
			replaceFile(t, dir, PayloadFile, b)
		}, "not finite"},
		{"payload label out of range", func(t *testing.T, dir string) {
			b := append([]byte(nil), readFile(t, dir, PayloadFile)...)
			b[len(b)-1] = 9
			replaceFile(t, dir, PayloadFile, b)
		}, "label 9"},
		{"payload count disagrees", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Files.Payload.Count = 1 })
		}, "payload point 1 of 1"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			err := openMutated(t, base, row.mutate)
			if err == nil {
				t.Fatalf("malformed proof accepted")
			}
			if !strings.Contains(err.Error(), row.want) {
				t.Fatalf("error %q does not mention %q", err, row.want)
			}
		})
	}
}

// openMutated copies the proof base into a fresh directory, lets mutate change the copy and
// opens it with openAndReadAll.
func openMutated(t *testing.T, base string, mutate func(*testing.T, string)) error {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, base, dir)
	mutate(t, dir)
	return openAndReadAll(dir)
}

// openAndReadAll opens a proof and reads every checkpoint, turning a panic into an error so
// the test reports it as a failure of the row.
func openAndReadAll(dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC: %v", r)
		}
	}()
	p, err := Open(dir)
	if err != nil {
		return err
	}
	for i := 0; i < p.NumCheckpoints(); i++ {
		if _, err := p.Checkpoint(i); err != nil {
			return err
		}
	}
	return nil
}
