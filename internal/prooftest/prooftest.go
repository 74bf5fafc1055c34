// Package prooftest holds the test helpers shared by the packages that test against real
// proofs: training a small honest proof, opening one with every checkpoint read, copying
// one, and changing a copy as an attacker would (rewriting the manifest, re-signing a
// replaced file, editing a safetensors header). Every helper fails the test on an error.
//
// It imports proof and prover, so the internal tests of those two packages cannot use it
// (an import cycle); proof/badproof_test.go keeps its own copies for that reason.
package prooftest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"pollab/autodiff"
	"pollab/internal/bntest"
	"pollab/proof"
	"pollab/prover"
)

// Train runs the honest prover on cfg into a fresh directory of t and returns it.
func Train(t testing.TB, cfg prover.Config) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proof")
	if _, err := prover.Train(context.Background(), cfg, dir, prover.Options{}); err != nil {
		t.Fatalf("honest training: %v", err)
	}
	return dir
}

// Shared is an honest proof trained once per test binary and shared by the tests that ask
// for it (training is the slow part of their set-up); callers copy it before changing it.
type Shared struct {
	once sync.Once
	dir  string
	err  error
}

// Dir trains cfg into dir on the first call (dir must outlive the test that makes that call)
// and returns the proof's directory; every call fails its test if that training failed.
func (s *Shared) Dir(t testing.TB, cfg prover.Config, dir string) string {
	t.Helper()
	s.once.Do(func() {
		s.dir = dir
		_, s.err = prover.Train(context.Background(), cfg, dir, prover.Options{})
	})
	if s.err != nil {
		t.Fatalf("honest training: %v", s.err)
	}
	return s.dir
}

// BNConfig is a small honest run of a model with BatchNorm buffers (internal/bntest): f32,
// momentum 0.9, weight decay, batch 8 of 64 points, 4 epochs (T = 32), k = 4.
func BNConfig() prover.Config {
	return prover.Config{Model: bntest.Spec, Dataset: bntest.Dataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4}, Batch: 8, Epochs: 4, K: 4, Seed: 11}
}

// OpenAll opens the proof in dir and reads every checkpoint once, so a proof that a test
// goes on to use is known to be well-formed throughout.
func OpenAll(t testing.TB, dir string) *proof.Proof {
	t.Helper()
	p, err := proof.Open(dir)
	if err != nil {
		t.Fatalf("proof %s does not open: %v", dir, err)
	}
	for i := range p.NumCheckpoints() {
		if _, err := p.Checkpoint(i); err != nil {
			t.Fatalf("proof %s: checkpoint %d: %v", dir, i, err)
		}
	}
	return p
}

// Copy copies the proof directory src (its directories and regular files) into a fresh
// directory of t, so that a test can change the copy.
func Copy(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "proof")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy proof %s: %v", src, err)
	}
	return dst
}

// ReadManifest decodes dir's manifest.json.
func ReadManifest(t testing.TB, dir string) *proof.Manifest {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, proof.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := proof.DecodeManifest(f)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return m
}

// WriteManifest replaces dir's manifest.json with m, indented as the writer does.
func WriteManifest(t testing.TB, dir string, m *proof.Manifest) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, proof.ManifestFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// EditManifest applies edit to dir's decoded manifest and writes it back.
func EditManifest(t testing.TB, dir string, edit func(m *proof.Manifest)) {
	t.Helper()
	m := ReadManifest(t, dir)
	edit(m)
	WriteManifest(t, dir, m)
}

// SHA256Hex is the lowercase hex SHA-256 of b, as the manifest records it.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// refsTo lists the manifest's size and SHA-256 fields that describe the file rel.
func refsTo(m *proof.Manifest, rel string) (sizes []*int64, sums []*string) {
	for i := range m.Checkpoints {
		if c := &m.Checkpoints[i]; c.File == rel {
			sizes, sums = append(sizes, &c.Size), append(sums, &c.SHA256)
		}
	}
	refs := []*proof.FileRef{&m.Files.Indices, &m.Files.Hashes, m.Files.AugSeeds}
	if m.Files.Payload != nil {
		refs = append(refs, &m.Files.Payload.FileRef)
	}
	for _, r := range refs {
		if r != nil && r.File == rel {
			sizes, sums = append(sizes, &r.Size), append(sums, &r.SHA256)
		}
	}
	return sizes, sums
}

// Lists reports whether dir's manifest lists the file rel (so that Resign can re-sign it).
func Lists(t testing.TB, dir, rel string) bool {
	t.Helper()
	sizes, _ := refsTo(ReadManifest(t, dir), rel)
	return len(sizes) > 0
}

// Resign writes b as the file rel of the proof in dir and updates its size and SHA-256
// wherever the manifest lists rel, as an attacker who re-signs a changed file would, so the
// change reaches the checks behind the hash. rel must be listed.
func Resign(t testing.TB, dir, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	EditManifest(t, dir, func(m *proof.Manifest) {
		sizes, sums := refsTo(m, rel)
		if len(sizes) == 0 {
			t.Fatalf("resign: %s is not listed in the manifest of %s", rel, dir)
		}
		for i := range sizes {
			*sizes[i], *sums[i] = int64(len(b)), SHA256Hex(b)
		}
	})
}

// EditHeader rewrites the JSON header of the safetensors file in b, keeping its data buffer,
// and re-packs the length prefix. An edit that changes nothing fails the test (the mutation
// it was meant to make did not happen).
func EditHeader(t testing.TB, b []byte, edit func(header string) string) []byte {
	t.Helper()
	if len(b) < 8 || binary.LittleEndian.Uint64(b) > uint64(len(b)-8) {
		t.Fatalf("not a safetensors file (%d bytes)", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	old := string(b[8 : 8+n])
	h := edit(old)
	if h == old {
		t.Fatal("header edit changed nothing")
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), b[8+n:]...)
}
