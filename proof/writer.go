package proof

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/atomicfile"
	"pollab/internal/buildinfo"
)

// tempPrefix starts the name of every file the writer has not yet renamed into place, so a
// crash leaves only files that no reader looks at and that Resume deletes.
const tempPrefix = atomicfile.TempPrefix

// pendingFile records the manifest given to Create, so Resume can refuse a different run.
const pendingFile = ".pending-manifest.json"

// ErrFinished is returned by Resume when the directory already holds a complete proof.
var ErrFinished = errors.New("proof already finished (manifest.json exists)")

// Provenance describes how a proof was produced, not what it claims. It is written to
// provenance.json, which is neither hashed nor trusted, and is the only file of a proof that
// differs between two runs of the same seed and configuration (times, host, wall time).
type Provenance struct {
	Pollab    string    `json:"pollab"`
	GoVersion string    `json:"go"`
	Command   []string  `json:"command,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Host      string    `json:"host,omitempty"`
	Notes     string    `json:"notes,omitempty"`
	// Ledger is the producer's cost (passes, FLOPs, wall time). Finish sets it from its cost
	// argument; Proof.Cost reads it back.
	Ledger *autodiff.Cost `json:"ledger,omitempty"`
	// Evaluation is work the producer did beside making the proof (an honest prover's final
	// test-set accuracy), kept out of Ledger so that costs compare training with forging.
	Evaluation *autodiff.Cost `json:"evaluation,omitempty"`
	// Build is the producer's build (engine semantics, BLAS, GOARCH, Go); Finish sets it to
	// autodiff.ThisBuild() when nil.
	Build *autodiff.Build `json:"build,omitempty"`
}

// tempFile is the part of *os.File the writer uses; tests substitute failing ones.
type tempFile = atomicfile.File

// Writer writes one proof directory. Every file appears under its final name only once it is
// complete and synced (package atomicfile: temp file in the same directory, fsync, rename,
// fsync of the directory; mode 0644), and manifest.json is written last. A Writer is not safe for concurrent use.
type Writer struct {
	dir    string
	m      *Manifest
	ctx    *manifestContext
	layout checkpointLayout

	ckpts    map[int]CheckpointRef
	indices  *FileRef
	hashes   *FileRef
	augSeeds *FileRef
	minIndex int32 // most negative batch-table entry (payload reference)

	payload      *os.File // temp file: header placeholder, then points
	payloadCount int
	payloadBuf   []byte

	finished bool
	// newTemp creates a temp file in dir; tests replace it to inject write errors.
	newTemp func(dir, pattern string) (tempFile, error)
}

func osCreateTemp(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// Create starts a new proof in dir (created if needed). m must be complete except for Files
// and Checkpoints, which the writer fills. It refuses a directory that already holds a
// manifest.json or an unfinished proof (use Resume for that).
func Create(dir string, m *Manifest) (*Writer, error) {
	if _, err := os.Lstat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("create proof %s: %s already exists", dir, ManifestFile)
	}
	if _, err := os.Lstat(filepath.Join(dir, pendingFile)); err == nil {
		return nil, fmt.Errorf("create proof %s: an unfinished proof is there (continue it with pollab train ... --resume, or remove the directory)", dir)
	}
	w, err := newWriter(dir, m)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, CheckpointDir), 0o755); err != nil {
		return nil, fmt.Errorf("create proof %s: %w", dir, err)
	}
	pending, err := encodeManifest(w.m)
	if err != nil {
		return nil, err
	}
	if _, err := w.writeAtomic(pendingFile, func(f io.Writer) error { _, err := f.Write(pending); return err }); err != nil {
		return nil, fmt.Errorf("create proof %s: %w", dir, err)
	}
	return w, nil
}

// newWriter validates m and copies it, clearing the parts the writer owns.
func newWriter(dir string, m *Manifest) (*Writer, error) {
	mc := *m
	mc.Files = Files{}
	mc.Checkpoints = nil
	mc.Optimizer.Milestones = append([]int(nil), m.Optimizer.Milestones...)
	ctx, err := mc.validateHeader()
	if err != nil {
		return nil, fmt.Errorf("proof manifest: %w", err)
	}
	return &Writer{
		dir:     dir,
		m:       &mc,
		ctx:     ctx,
		layout:  checkpointLayout{model: ctx.model, dtype: ctx.dtype, momentum: mc.Optimizer.Momentum != 0},
		ckpts:   map[int]CheckpointRef{},
		newTemp: osCreateTemp,
	}, nil
}

// Resume reopens an unfinished proof in dir for the same run m. It deletes temp files left by
// an interrupted write, validates every checkpoint already on disk (parse, model, shapes,
// dtype, finiteness, step), and returns the steps of the valid ones in increasing order: a
// contiguous prefix 0, k, ..., from whose last the caller continues. Invalid checkpoints, and
// any after the first missing or invalid one, are deleted. Tables and payload are not resumed:
// write them again. It returns ErrFinished if the proof is complete, and an error if m
// differs from the manifest given to Create.
func Resume(dir string, m *Manifest) (*Writer, []int, error) {
	if _, err := os.Lstat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, nil, fmt.Errorf("resume proof %s: %w", dir, ErrFinished)
	}
	w, err := newWriter(dir, m)
	if err != nil {
		return nil, nil, err
	}
	prev, err := os.ReadFile(filepath.Join(dir, pendingFile))
	if err != nil {
		return nil, nil, fmt.Errorf("resume proof %s: no unfinished proof: %w", dir, err)
	}
	mine, err := encodeManifest(w.m)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(prev, mine) {
		return nil, nil, fmt.Errorf("resume proof %s: the run's manifest differs from the one it was created with", dir)
	}
	for _, sub := range []string{".", CheckpointDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, nil, fmt.Errorf("resume proof %s: %w", dir, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				if err := os.Remove(filepath.Join(dir, sub, e.Name())); err != nil {
					return nil, nil, fmt.Errorf("resume proof %s: removing stale temp file: %w", dir, err)
				}
			}
		}
	}
	var steps []int
	gap := false // a checkpoint before this one is missing or invalid
	for _, step := range CheckpointSteps(w.m.Steps, w.m.K) {
		name := CheckpointName(step)
		full := filepath.Join(dir, filepath.FromSlash(name))
		b, err := ReadBounded(full, w.layout.maxFileBytes())
		if errors.Is(err, os.ErrNotExist) {
			gap = true
			continue
		}
		if err == nil {
			_, err = decodeCheckpoint(b, w.layout, w.layout.model.Spec(), step)
		}
		if err == nil && gap {
			err = errors.New("follows a missing checkpoint")
		}
		if err != nil {
			// Atomic writes make an invalid file unlikely (a disk error, a foreign file); a
			// checkpoint after a gap is recomputed anyway. Drop it so the prover writes it again.
			if rmErr := os.Remove(full); rmErr != nil {
				return nil, nil, fmt.Errorf("resume proof %s: invalid %s (%v) cannot be removed: %w", dir, name, err, rmErr)
			}
			gap = true
			continue
		}
		sum := sha256.Sum256(b)
		w.ckpts[step] = CheckpointRef{Step: step, File: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
		steps = append(steps, step)
	}
	return w, steps, nil
}

// Checkpoint reads back a checkpoint this writer wrote or found on Resume.
func (w *Writer) Checkpoint(step int) (*Checkpoint, error) {
	ref, ok := w.ckpts[step]
	if !ok {
		return nil, fmt.Errorf("proof %s: no checkpoint for step %d", w.dir, step)
	}
	b, err := ReadBounded(filepath.Join(w.dir, filepath.FromSlash(ref.File)), w.layout.maxFileBytes())
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ref.File, err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("checkpoint %s: changed on disk since it was written", ref.File)
	}
	c, err := decodeCheckpoint(b, w.layout, w.layout.model.Spec(), step)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ref.File, err)
	}
	return c, nil
}

// Manifest returns the writer's copy of the manifest (Files and Checkpoints are filled in by
// Finish).
func (w *Writer) Manifest() *Manifest { return w.m }

// WriteCheckpoint writes the checkpoint of step c.Step, which must be one of 0, k, 2k, ..., T.
// Params must have the model's size; Momentum too when the run's momentum is non-zero (nil
// is written as zeros, PyTorch's state before the first update), and must be empty otherwise.
// f32 runs store values rounded to float32. Writing the same step again replaces the file.
func (w *Writer) WriteCheckpoint(c *Checkpoint) error {
	if err := w.usable(); err != nil {
		return err
	}
	if !IsCheckpointStep(c.Step, w.m.Steps, w.m.K) {
		return fmt.Errorf("checkpoint step %d: not one of 0, k, 2k, ..., T for k=%d, T=%d", c.Step, w.m.K, w.m.Steps)
	}
	name := CheckpointName(c.Step)
	ref, err := w.writeAtomic(name, func(f io.Writer) error { return encodeCheckpoint(f, w.layout, c) })
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	w.ckpts[c.Step] = CheckpointRef{Step: c.Step, File: ref.File, Size: ref.Size, SHA256: ref.SHA256}
	return nil
}

// WriteIndices writes the batch table (indices.bin), the per-step batch hashes (hashes.bin)
// and, when the manifest says augmentation seeds are recorded, the per-step seeds
// (augseeds.bin; augSeeds must be nil otherwise). Negative entries reference payload points
// and are checked against the payload count in Finish.
func (w *Writer) WriteIndices(t data.Table, hashes [][32]byte, augSeeds []uint64) error {
	if err := w.usable(); err != nil {
		return err
	}
	if t.Steps != w.m.Steps || t.Batch != w.m.Batch || len(t.Idx) != t.Steps*t.Batch {
		return fmt.Errorf("indices: table is %d steps × %d (%d entries), manifest says %d × %d", t.Steps, t.Batch, len(t.Idx), w.m.Steps, w.m.Batch)
	}
	if len(hashes) != t.Steps {
		return fmt.Errorf("hashes: %d batch hashes for %d steps", len(hashes), t.Steps)
	}
	if w.m.Augment.SeedsRecorded != (augSeeds != nil) {
		return fmt.Errorf("augseeds: manifest says seeds recorded = %v, got %d seeds", w.m.Augment.SeedsRecorded, len(augSeeds))
	}
	if augSeeds != nil && len(augSeeds) != t.Steps {
		return fmt.Errorf("augseeds: %d seeds for %d steps", len(augSeeds), t.Steps)
	}
	var minIdx int32
	for i, v := range t.Idx {
		if int(v) >= w.m.Dataset.N {
			return fmt.Errorf("indices: entry %d is %d, dataset %s has %d points", i, v, w.m.Dataset.Name, w.m.Dataset.N)
		}
		minIdx = min(minIdx, v)
	}
	ref, err := w.writeAtomic(IndicesFile, func(f io.Writer) error { return writeIndices(f, t.Steps, t.Batch, t.Idx) })
	if err != nil {
		return fmt.Errorf("indices: %w", err)
	}
	href, err := w.writeAtomic(HashesFile, func(f io.Writer) error { return writeHashes(f, hashes) })
	if err != nil {
		return fmt.Errorf("hashes: %w", err)
	}
	w.indices, w.hashes, w.minIndex = &ref, &href, minIdx
	if augSeeds != nil {
		aref, err := w.writeAtomic(AugSeedsFile, func(f io.Writer) error { return writeAugSeeds(f, augSeeds) })
		if err != nil {
			return fmt.Errorf("augseeds: %w", err)
		}
		w.augSeeds = &aref
	}
	return nil
}

// AppendPayload streams one crafted point (the model's input dimension, rounded to float32)
// to the payload and returns the batch-table entry that refers to it: -(p+1) for the p-th
// point (0-based).
func (w *Writer) AppendPayload(x []float64, label int) (int32, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	if len(x) != w.ctx.dim {
		return 0, fmt.Errorf("payload point: %d features, the model takes %d", len(x), w.ctx.dim)
	}
	if label < 0 || label >= w.ctx.classes {
		return 0, fmt.Errorf("payload point: label %d not in [0, %d)", label, w.ctx.classes)
	}
	if w.payloadCount >= maxTableDim {
		return 0, errors.New("payload point: payload is full")
	}
	buf, err := encodePayloadPoint(w.payloadBuf[:0], x, label)
	if err != nil {
		return 0, fmt.Errorf("payload point: %w", err)
	}
	w.payloadBuf = buf
	if w.payload == nil {
		f, err := atomicfile.Create(filepath.Join(w.dir, PayloadFile))
		if err != nil {
			return 0, fmt.Errorf("payload: %w", err)
		}
		w.payload = f
		if _, err := f.Write(make([]byte, payloadHeaderLen)); err != nil { // header written in Finish
			return 0, w.failPayload(err)
		}
	}
	if _, err := w.payload.Write(buf); err != nil {
		return 0, w.failPayload(err)
	}
	w.payloadCount++
	return -int32(w.payloadCount), nil
}

// failPayload drops a payload whose temp file could not be written: its content is unknown.
func (w *Writer) failPayload(err error) error {
	name := w.payload.Name()
	w.payload.Close()
	os.Remove(name)
	w.payload = nil
	w.finished = true // the proof cannot be completed consistently any more
	return fmt.Errorf("payload: %w (writer closed)", err)
}

// finishPayload writes the payload header into the temp file, syncs it and renames it into
// place, hashing the final bytes.
func (w *Writer) finishPayload() (*PayloadRef, error) {
	f := w.payload
	var hdr bytes.Buffer
	putHeader(&hdr, payloadMagic, w.payloadCount, w.ctx.dim)
	if _, err := f.WriteAt(hdr.Bytes(), 0); err != nil {
		return nil, w.failPayload(err)
	}
	if err := f.Sync(); err != nil {
		return nil, w.failPayload(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, w.failPayload(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReader(f))
	if err != nil {
		return nil, w.failPayload(err)
	}
	if want := payloadFileSize(w.payloadCount, w.ctx.dim); n != want {
		return nil, w.failPayload(fmt.Errorf("temp file has %d bytes, want %d", n, want))
	}
	w.payload = nil
	if err := atomicfile.Commit(f, filepath.Join(w.dir, PayloadFile)); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return &PayloadRef{FileRef: FileRef{File: PayloadFile, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, Count: w.payloadCount}, nil
}

// Finish completes the proof: payload, provenance.json (with cost as its ledger) and, last,
// manifest.json with every file's size and SHA-256. It fails if a checkpoint or the tables are
// missing or the batch table references payload points that were never appended. prov may be
// nil; its Pollab and GoVersion are filled in when empty, and its Ledger is replaced by cost.
func (w *Writer) Finish(prov *Provenance, cost autodiff.Cost) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.indices == nil || w.hashes == nil {
		return errors.New("finish proof: WriteIndices was not called")
	}
	if w.m.Augment.SeedsRecorded && w.augSeeds == nil {
		return errors.New("finish proof: augmentation seeds were not written")
	}
	if need := -int(w.minIndex); need > w.payloadCount {
		return fmt.Errorf("finish proof: the batch table references payload point %d, only %d appended", need-1, w.payloadCount)
	}
	m := w.m
	m.Checkpoints = nil
	for _, step := range CheckpointSteps(m.Steps, m.K) {
		ref, ok := w.ckpts[step]
		if !ok {
			return fmt.Errorf("finish proof: checkpoint for step %d was not written", step)
		}
		m.Checkpoints = append(m.Checkpoints, ref)
	}
	sort.Slice(m.Checkpoints, func(i, j int) bool { return m.Checkpoints[i].Step < m.Checkpoints[j].Step })
	m.Files = Files{Indices: *w.indices, Hashes: *w.hashes, AugSeeds: w.augSeeds}
	if w.payload != nil {
		p, err := w.finishPayload()
		if err != nil {
			return err
		}
		m.Files.Payload = p
	}
	if _, err := m.validate(); err != nil {
		return fmt.Errorf("finish proof: manifest would not validate: %w", err)
	}
	p := Provenance{}
	if prov != nil {
		p = *prov
	}
	if p.Pollab == "" {
		p.Pollab = pollabVersion()
	}
	if p.GoVersion == "" {
		p.GoVersion = runtime.Version()
	}
	p.Ledger = &cost
	if p.Build == nil {
		b := autodiff.ThisBuild()
		p.Build = &b
	}
	if p.Host == "" {
		p.Host = buildinfo.Host().String() // what the ledger's wall times were measured on
	}
	provJSON, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if _, err := w.writeAtomic(ProvenanceFile, func(f io.Writer) error { _, err := f.Write(append(provJSON, '\n')); return err }); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	man, err := encodeManifest(m)
	if err != nil {
		return err
	}
	if _, err := w.writeAtomic(ManifestFile, func(f io.Writer) error { _, err := f.Write(man); return err }); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	w.finished = true
	if err := os.Remove(filepath.Join(w.dir, pendingFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("finish proof: removing %s: %w", pendingFile, err)
	}
	return atomicfile.SyncDir(w.dir)
}

// Close abandons an unfinished writer, deleting its payload temp file; the checkpoints and
// tables already written stay, so the run can be resumed. Closing a finished writer is a
// no-op.
func (w *Writer) Close() error {
	if w.payload != nil {
		name := w.payload.Name()
		w.payload.Close()
		w.payload = nil
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("proof %s: removing payload temp file: %w", w.dir, err)
		}
	}
	w.finished = true
	return nil
}

func (w *Writer) usable() error {
	if w.finished {
		return fmt.Errorf("proof %s: writer is finished or closed", w.dir)
	}
	return nil
}

// writeAtomic writes dir/rel through fill (atomicfile, with w.newTemp), hashing and counting
// the bytes as written. On any error nothing appears under rel.
func (w *Writer) writeAtomic(rel string, fill func(io.Writer) error) (FileRef, error) {
	h := sha256.New()
	cw := &countingWriter{}
	err := atomicfile.Writer{CreateTemp: w.newTemp}.Write(filepath.Join(w.dir, filepath.FromSlash(rel)), func(f io.Writer) error {
		cw.w = io.MultiWriter(f, h)
		return fill(cw)
	})
	if err != nil {
		return FileRef{}, err
	}
	return FileRef{File: rel, Size: cw.n, SHA256: hexSum(h)}, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func pollabVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
