package proof

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"pollab/autodiff"
	"pollab/data"
)

// maxProvenanceBytes caps provenance.json, which holds a command line, a few strings and the
// ledger's handful of counters.
const maxProvenanceBytes = 1 << 20

// Proof is an opened, validated proof directory. The manifest and tables are read and checked
// by Open; checkpoints are read lazily, one at a time, by Checkpoint. Safe for concurrent use
// once opened (it is read-only).
type Proof struct {
	dir      string // as given
	root     string // dir with symlinks resolved, the prefix every file must stay under
	m        *Manifest
	ctx      *manifestContext
	layout   checkpointLayout
	table    data.Table
	hashes   [][32]byte
	augSeeds []uint64
	payload  *data.Dataset
}

// Open reads and validates the proof in dir: the manifest (format, model, dtype,
// hyperparameters, the checkpoint list 0, k, ..., T), that every listed file is a regular
// file inside dir with the listed size, and the tables (SHA-256, headers, index ranges,
// payload values). Sizes are checked before anything is allocated, so memory stays bounded by
// the files' real sizes. Errors name the file and the problem.
func Open(dir string) (*Proof, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("proof %s: %w", dir, err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("proof %s: %w", dir, err)
	}
	p := &Proof{dir: dir, root: root}

	mpath, err := p.resolve(ManifestFile)
	if err != nil {
		return nil, err
	}
	mb, err := ReadBounded(mpath, MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	m, err := decodeManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	ctx, err := m.validate()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	p.m, p.ctx = m, ctx
	p.layout = checkpointLayout{model: ctx.model, dtype: ctx.dtype, momentum: m.Optimizer.Momentum != 0}

	// Every checkpoint must exist with a plausible size now; its content is checked lazily.
	minCkpt, maxCkpt := 8+p.layout.bufferBytes(), p.layout.maxFileBytes()
	for _, c := range m.Checkpoints {
		if c.Size < minCkpt || c.Size > maxCkpt {
			return nil, fmt.Errorf("checkpoint %s: manifest size %d, a %s checkpoint of %s is %d..%d bytes", c.File, c.Size, m.DType, m.Model, minCkpt, maxCkpt)
		}
		if err := p.checkPresent(c.File, c.Size); err != nil {
			return nil, err
		}
	}

	ib, err := p.readRef(m.Files.Indices, indicesFileSize(m.Steps, m.Batch))
	if err != nil {
		return nil, err
	}
	steps, batch, idx, err := decodeIndices(ib, m.Steps, m.Batch)
	if err != nil {
		return nil, fmt.Errorf("indices %s: %w", m.Files.Indices.File, err)
	}
	p.table = data.Table{Steps: steps, Batch: batch, Idx: idx}
	payloadCount := 0
	if m.Files.Payload != nil {
		payloadCount = m.Files.Payload.Count
	}
	for i, v := range idx {
		if v >= 0 && int(v) >= m.Dataset.N {
			return nil, fmt.Errorf("indices %s: step %d entry %d is %d, dataset %s has %d points", m.Files.Indices.File, i/batch, i%batch, v, m.Dataset.Name, m.Dataset.N)
		}
		if v < 0 && -int64(v) > int64(payloadCount) {
			return nil, fmt.Errorf("indices %s: step %d entry %d is %d, payload point %d of %d", m.Files.Indices.File, i/batch, i%batch, v, -int64(v)-1, payloadCount)
		}
	}

	hb, err := p.readRef(m.Files.Hashes, hashesFileSize(m.Steps))
	if err != nil {
		return nil, err
	}
	if p.hashes, err = decodeHashes(hb, m.Steps); err != nil {
		return nil, fmt.Errorf("hashes %s: %w", m.Files.Hashes.File, err)
	}

	if ref := m.Files.AugSeeds; ref != nil {
		ab, err := p.readRef(*ref, augSeedsFileSize(m.Steps))
		if err != nil {
			return nil, err
		}
		if p.augSeeds, err = decodeAugSeeds(ab, m.Steps); err != nil {
			return nil, fmt.Errorf("augseeds %s: %w", ref.File, err)
		}
	}

	if ref := m.Files.Payload; ref != nil {
		pb, err := p.readRef(ref.FileRef, payloadFileSize(ref.Count, ctx.dim))
		if err != nil {
			return nil, err
		}
		pt, err := decodePayload(pb, ctx.dim, ctx.classes)
		if err != nil {
			return nil, fmt.Errorf("payload %s: %w", ref.File, err)
		}
		if pt.Count != ref.Count {
			return nil, fmt.Errorf("payload %s: %d points, manifest says %d", ref.File, pt.Count, ref.Count)
		}
		p.payload, err = data.NewDataset("payload", ctx.shape, ctx.classes, data.F32, pt.Raw, pt.Labels)
		if err != nil {
			return nil, fmt.Errorf("payload %s: %w", ref.File, err)
		}
	}
	return p, nil
}

// resolve maps a manifest path to a file path, refusing anything that leaves the proof
// directory, directly or through a symlink.
func (p *Proof) resolve(rel string) (string, error) {
	if err := checkRelPath(rel); err != nil {
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	full := filepath.Join(p.root, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s: missing file", rel)
		}
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	if r, err := filepath.Rel(p.root, real); err != nil || !filepath.IsLocal(r) {
		return "", fmt.Errorf("%s: resolves to %s, outside the proof directory", rel, real)
	}
	return real, nil
}

// checkPresent verifies that rel is a regular file inside the proof with the given size.
func (p *Proof) checkPresent(rel string, size int64) error {
	full, err := p.resolve(rel)
	if err != nil {
		return err
	}
	fi, err := os.Stat(full)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", rel)
	}
	if fi.Size() != size {
		return fmt.Errorf("%s: %d bytes, manifest says %d (truncated or replaced?)", rel, fi.Size(), size)
	}
	return nil
}

// readRef reads a table file whose exact size is implied by the manifest, checking the
// manifest's size, the implied size and the SHA-256 before returning its bytes.
func (p *Proof) readRef(ref FileRef, wantSize int64) ([]byte, error) {
	if wantSize < 0 {
		return nil, fmt.Errorf("%s: size out of range", ref.File)
	}
	if ref.Size != wantSize {
		return nil, fmt.Errorf("%s: manifest size %d, its header fields need %d", ref.File, ref.Size, wantSize)
	}
	if err := p.checkPresent(ref.File, ref.Size); err != nil {
		return nil, err
	}
	full, err := p.resolve(ref.File)
	if err != nil {
		return nil, err
	}
	b, err := ReadBounded(full, ref.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.File, err)
	}
	if int64(len(b)) != ref.Size {
		return nil, fmt.Errorf("%s: %d bytes, manifest says %d", ref.File, len(b), ref.Size)
	}
	if err := checkSum(ref.File, b, ref.SHA256); err != nil {
		return nil, err
	}
	return b, nil
}

func checkSum(name string, b []byte, want string) error {
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s: SHA-256 mismatch: file has %s, manifest says %s", name, got, want)
	}
	return nil
}

// ReadBounded reads a whole regular file of at most limit bytes, allocating only what the
// file really holds (a FIFO, or a file over the limit, is refused before reading).
func ReadBounded(path string, limit int64) ([]byte, error) {
	// Non-blocking: opening a FIFO planted in a proof would otherwise block forever before the
	// regular-file check below could refuse it (it has no effect on regular files).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", fi.Size(), limit)
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	// A file that grew after Stat is being modified under us.
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 {
		return nil, errors.New("file grew while being read")
	}
	return b, nil
}

// Manifest returns the proof's validated manifest; callers must not modify it.
func (p *Proof) Manifest() *Manifest { return p.m }

// Dir returns the directory the proof was opened from.
func (p *Proof) Dir() string { return p.dir }

// NumCheckpoints is the number of checkpoints (ceil(T/k) + 1).
func (p *Proof) NumCheckpoints() int { return len(p.m.Checkpoints) }

// CheckpointStep returns the step of checkpoint i without reading it.
func (p *Proof) CheckpointStep(i int) int {
	if i < 0 || i >= len(p.m.Checkpoints) {
		return -1
	}
	return p.m.Checkpoints[i].Step
}

// Scan reads every checkpoint once, in order (Checkpoint), and calls fn with it and the one
// before it (nil for checkpoint 0), so at most two are held at a time. It stops at the first
// error: a checkpoint that does not read (the error names its file), or fn's.
func (p *Proof) Scan(fn func(i int, prev, c *Checkpoint) error) error {
	var prev *Checkpoint
	for i := range p.NumCheckpoints() {
		c, err := p.Checkpoint(i)
		if err != nil {
			return err
		}
		if err := fn(i, prev, c); err != nil {
			return err
		}
		prev = c
	}
	return nil
}

// Checkpoint reads checkpoint i (0-based, in step order) and checks its SHA-256 against the
// manifest, then its tensors: exactly the model's parameters (plus every momentum buffer when
// momentum is non-zero), the model's shapes, the run's dtype, finite values, and metadata
// whose step matches the manifest and whose lr is a finite number.
func (p *Proof) Checkpoint(i int) (*Checkpoint, error) {
	if i < 0 || i >= len(p.m.Checkpoints) {
		return nil, fmt.Errorf("checkpoint %d: out of range [0, %d)", i, len(p.m.Checkpoints))
	}
	ref := p.m.Checkpoints[i]
	full, err := p.resolve(ref.File)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %w", err)
	}
	b, err := ReadBounded(full, p.layout.maxFileBytes())
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ref.File, err)
	}
	if int64(len(b)) != ref.Size {
		return nil, fmt.Errorf("checkpoint %s: %d bytes, manifest says %d", ref.File, len(b), ref.Size)
	}
	if err := checkSum(ref.File, b, ref.SHA256); err != nil {
		return nil, fmt.Errorf("checkpoint %w", err)
	}
	c, err := decodeCheckpoint(b, p.layout, p.layout.model.Spec(), ref.Step)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ref.File, err)
	}
	return c, nil
}

// Table returns the batch table; callers must not modify it.
func (p *Proof) Table() data.Table { return p.table }

// BatchHashes returns the per-step batch hashes recorded by the prover.
func (p *Proof) BatchHashes() [][32]byte { return p.hashes }

// AugSeeds returns the per-step augmentation seeds, nil when not recorded.
func (p *Proof) AugSeeds() []uint64 { return p.augSeeds }

// Payload returns the proof's crafted points (batch-table entry -i-1 is point i), nil when
// there are none.
func (p *Proof) Payload() *data.Dataset { return p.payload }

// Provenance returns provenance.json, and false when it is absent or unreadable (not a
// regular file inside the proof, over 1 MiB, or not valid JSON). It is informational: the
// producer wrote it and nothing checks it.
func (p *Proof) Provenance() (Provenance, bool) {
	full, err := p.resolve(ProvenanceFile)
	if err != nil {
		return Provenance{}, false
	}
	b, err := ReadBounded(full, maxProvenanceBytes)
	if err != nil {
		return Provenance{}, false
	}
	var prov Provenance
	if err := json.Unmarshal(b, &prov); err != nil {
		return Provenance{}, false
	}
	return prov, true
}

// Cost returns the producer's cost from provenance.json's ledger, and false when it is absent
// or unreadable. It is informational: the producer wrote it and nothing checks it.
func (p *Proof) Cost() (autodiff.Cost, bool) {
	prov, ok := p.Provenance()
	if !ok || prov.Ledger == nil {
		return autodiff.Cost{}, false
	}
	return *prov.Ledger, true
}
