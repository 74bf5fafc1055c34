package proof

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// The fuzz targets check that no input panics and that whatever a decoder accepts re-encodes
// consistently. Seed corpora live in testdata/fuzz/<target>/; regenerate them from a fresh
// fixture proof with POLLAB_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus ./proof.

// fuzzProof builds a valid fixture proof in a fresh temp dir of tb and lists its files,
// manifest first.
func fuzzProof(tb testing.TB) (string, []string) {
	dir := tb.TempDir()
	buildProof(tb, dir, smallFixture, 1)
	files := []string{ManifestFile, IndicesFile, HashesFile, AugSeedsFile, PayloadFile, ProvenanceFile}
	for _, s := range CheckpointSteps(smallFixture.steps, smallFixture.k) {
		files = append(files, CheckpointName(s))
	}
	return dir, files
}

func fixtureLayout(tb testing.TB) checkpointLayout {
	model, err := models.Parse(smallFixture.spec)
	if err != nil {
		tb.Fatal(err)
	}
	return checkpointLayout{model: model, dtype: autodiff.Float64, momentum: true}
}

func FuzzSafetensors(f *testing.F) {
	dir, _ := fuzzProof(f)
	ck := readFile(f, dir, CheckpointName(0))
	f.Add(ck)
	bnDir := f.TempDir()
	buildProof(f, bnDir, bnFixture, 1)
	bnCk, err := os.ReadFile(filepath.Join(bnDir, CheckpointName(2)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bnCk)
	bnModel, err := models.Parse(bnFixture.spec)
	if err != nil {
		f.Fatal(err)
	}
	bnLayout := checkpointLayout{model: bnModel, dtype: autodiff.Float32, momentum: true}
	f.Add(handMade(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 0, f32le(1)))
	layout := fixtureLayout(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var pos int64
		for _, ti := range h.Tensors {
			if ti.Begin != pos {
				t.Fatalf("accepted a layout with a gap or overlap at %q", ti.Name)
			}
			pos = ti.End
			if ti.DType == "F32" || ti.DType == "F64" {
				n := (ti.End - ti.Begin) / stDTypeSizes[ti.DType]
				decodeFloats(b[h.BufferBase+ti.Begin:h.BufferBase+ti.End], ti.DType, make([]float64, n))
			}
		}
		if h.BufferBase+pos != int64(len(b)) {
			t.Fatalf("accepted %d trailing bytes", int64(len(b))-h.BufferBase-pos)
		}
		decodeCheckpoint(b, layout, layout.model.Spec(), 0)
		if c, err := decodeCheckpoint(b, bnLayout, bnModel.Spec(), 2); err == nil && len(c.Buffers) != NumBuffers(bnModel) {
			t.Fatalf("accepted %d buffer values, the model has %d", len(c.Buffers), NumBuffers(bnModel))
		}
		if w, err := decodeWeights(b, bnModel); err == nil && len(w.Buffers) != NumBuffers(bnModel) {
			t.Fatalf("accepted weights with %d buffer values, the model has %d", len(w.Buffers), NumBuffers(bnModel))
		}
		if w, err := decodeWeights(b, layout.model); err == nil && len(w.Params) != layout.model.NumParams() {
			t.Fatalf("accepted weights of %d values, the model has %d", len(w.Params), layout.model.NumParams())
		}
	})
}

func FuzzManifest(f *testing.F) {
	dir, _ := fuzzProof(f)
	mb := readFile(f, dir, ManifestFile)
	f.Add(mb)
	f.Add([]byte(`{"format":"pollab-proof/1","model":"lenet5","k":-1}`))
	// With a seed commitment (valid, then with a malformed hash and nonce).
	committed := bytes.Replace(mb, []byte(`"seeds":`), []byte(`"commitment":{"nonce":"n","sha256":"`+CommitSeeds(Seeds{}, "n")+`"},"seeds":`), 1)
	f.Add(committed)
	f.Add(bytes.Replace(committed, []byte(`"nonce":"n"`), []byte(`"nonce":"\u0007"`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if _, err := m.validate(); err != nil {
			return
		}
		// An accepted manifest survives a re-encode unchanged.
		enc, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		if _, err := m2.validate(); err != nil {
			t.Fatalf("re-encoded manifest does not validate: %v", err)
		}
		enc2, _ := encodeManifest(m2)
		if !bytes.Equal(enc, enc2) {
			t.Fatal("manifest encoding is not stable")
		}
	})
}

func FuzzIndexTable(f *testing.F) {
	dir, _ := fuzzProof(f)
	ib := readFile(f, dir, IndicesFile)
	f.Add(ib)
	f.Add([]byte("PLIX\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		steps, batch, idx, err := decodeIndices(b, -1, -1)
		if err == nil {
			var out bytes.Buffer
			if err := writeIndices(&out, steps, batch, idx); err != nil {
				t.Fatalf("re-encoding an accepted table: %v", err)
			}
			if !bytes.Equal(out.Bytes(), b) {
				t.Fatal("accepted table does not re-encode to the same bytes")
			}
		}
		// The other tables share the header code; they must not panic either.
		decodeHashes(b, -1)
		decodeAugSeeds(b, -1)
		decodePayload(b, -1, 10)
	})
}

func FuzzOpenProof(f *testing.F) {
	// One working proof per fuzz process: each input overwrites one file (and, for a
	// "rehashed" input, the manifest entry), and the originals are restored afterwards, which
	// keeps an execution to a few small file writes.
	dir, files := fuzzProof(f)
	orig := map[string][]byte{}
	for i, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		orig[name] = b
		f.Add(uint8(i), b)
		f.Add(uint8(i|0x80), b[:len(b)/2])
	}
	restore := func(t *testing.T, name string) {
		if err := os.WriteFile(filepath.Join(dir, name), orig[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		name := files[int(which&0x7f)%len(files)]
		defer restore(t, ManifestFile)
		defer restore(t, name)
		if which&0x80 != 0 && name != ManifestFile {
			replaceFile(t, dir, name, b) // hash matches: exercise the checks behind it
		} else if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := openAndReadAll(dir); err != nil && strings.HasPrefix(err.Error(), "PANIC") {
			t.Fatal(err)
		}
		if p, err := Open(dir); err == nil {
			p.Cost()
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpora (only when asked).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("POLLAB_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set POLLAB_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	base, files := fuzzProof(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(base, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(target, name string, values ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := "go test fuzz v1\n"
		for _, v := range values {
			content += v + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesLit := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	write("FuzzSafetensors", "valid-checkpoint", bytesLit(read(CheckpointName(0))))
	write("FuzzSafetensors", "hand-made", bytesLit(handMade(`{"__metadata__":{"k":"v"},"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 0, f64le(1))))
	write("FuzzManifest", "valid", bytesLit(read(ManifestFile)))
	write("FuzzIndexTable", "valid", bytesLit(read(IndicesFile)))
	write("FuzzIndexTable", "payload", bytesLit(read(PayloadFile)))
	for i, name := range files {
		b := read(name)
		write("FuzzOpenProof", fmt.Sprintf("file-%d", i), fmt.Sprintf("byte(%d)", i), bytesLit(b))
		write("FuzzOpenProof", fmt.Sprintf("rehashed-half-%d", i), fmt.Sprintf("byte(%d)", i|0x80), bytesLit(b[:len(b)/2]))
	}
}
