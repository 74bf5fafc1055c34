package proof

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/bntest"
	"pollab/internal/filetest"
	"pollab/models"
)

// fixture describes a small proof for tests.
type fixture struct {
	spec     string
	dtype    autodiff.DType
	momentum float64
	steps, k int
	batch    int
	n        int // dataset size
	payload  int // crafted points
	augSeeds bool
	dataset  string // "" for synthetic data of dim 4, 2 classes
}

// bnFixture is a model with buffers (BatchNorm running statistics), f32 with momentum.
var bnFixture = fixture{spec: bntest.Spec, dtype: autodiff.Float32, momentum: 0.9, steps: 5, k: 2, batch: 3, n: 10, payload: 1, augSeeds: true,
	dataset: "synthetic:n=10,dim=16,classes=4,seed=1"}

var smallFixture = fixture{spec: "mlp:4-3-2:relu", dtype: autodiff.Float64, momentum: 0.9, steps: 5, k: 2, batch: 3, n: 10, payload: 2, augSeeds: true}

// built is everything written into a fixture proof, to compare against what is read back.
type built struct {
	m        *Manifest
	ckpts    map[int]*Checkpoint
	table    data.Table
	hashes   [][32]byte
	augSeeds []uint64
	payload  [][]float64
	labels   []int
	cost     autodiff.Cost
}

func fixtureManifest(f fixture) *Manifest {
	ds := f.dataset
	if ds == "" {
		ds = "synthetic:n=10,dim=4,classes=2,seed=1"
	}
	m := NewManifest(f.spec, ds, f.dtype,
		Hyper{LR: 0.1, Momentum: f.momentum, WeightDecay: 1e-4, Milestones: []int{3}, Gamma: 0.1})
	m.Producer = "test"
	m.Dataset.N = f.n
	m.Dataset.Fingerprint = FingerprintHex(sha256.Sum256([]byte("dataset")))
	// The fewest epochs that hold the steps, declared as a prefix schedule.
	m.Batch, m.Epochs, m.Steps, m.K = f.batch, (f.steps*f.batch+f.n-1)/f.n, f.steps, f.k
	m.Schedule = SchedulePrefix
	m.Augment = AugmentInfo{Enabled: f.augSeeds, Pad: 2, SeedsRecorded: f.augSeeds}
	m.Seeds = Seeds{Init: 1, Data: 2, Augment: math.MaxUint64}
	return m
}

// buildProof writes a complete fixture proof into dir with values drawn from seed.
func buildProof(t testing.TB, dir string, f fixture, seed uint64) *built {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	model, err := models.Parse(f.spec)
	if err != nil {
		t.Fatal(err)
	}
	b := &built{m: fixtureManifest(f), ckpts: map[int]*Checkpoint{}}
	w, err := Create(dir, b.m)
	if err != nil {
		t.Fatal(err)
	}
	dim := 1
	for _, d := range model.InputShape() {
		dim *= d
	}
	var payloadRefs []int32
	for i := 0; i < f.payload; i++ {
		x := make([]float64, dim)
		for j := range x {
			x[j] = float64(float32(r.Float64()))
		}
		label := r.IntN(model.Classes())
		ref, err := w.AppendPayload(x, label)
		if err != nil {
			t.Fatal(err)
		}
		b.payload, b.labels, payloadRefs = append(b.payload, x), append(b.labels, label), append(payloadRefs, ref)
	}
	b.table = data.Schedule(f.n, f.batch, 100, seed)
	b.table.Steps = f.steps
	b.table.Idx = b.table.Idx[:f.steps*f.batch]
	copy(b.table.Idx, payloadRefs)
	for i := 0; i < f.steps; i++ {
		var h [32]byte
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		b.hashes = append(b.hashes, h)
		if f.augSeeds {
			b.augSeeds = append(b.augSeeds, r.Uint64())
		}
	}
	if err := w.WriteIndices(b.table, b.hashes, b.augSeeds); err != nil {
		t.Fatal(err)
	}
	for _, step := range CheckpointSteps(f.steps, f.k) {
		c := &Checkpoint{Step: step, LR: b.m.Hyper().LRAt(step), Params: make([]float64, model.NumParams())}
		for i := range c.Params {
			c.Params[i] = r.NormFloat64()
		}
		f.dtype.Round(c.Params)
		if f.momentum != 0 {
			c.Momentum = make([]float64, model.NumParams())
			for i := range c.Momentum {
				c.Momentum[i] = r.NormFloat64() * 1e-3
				if step == 0 {
					c.Momentum[i] = 0 // the state before the first update (same draws, so later values are unchanged)
				}
			}
			f.dtype.Round(c.Momentum)
		}
		if nb := NumBuffers(model); nb > 0 {
			c.Buffers = make([]float64, nb)
			for i := range c.Buffers {
				c.Buffers[i] = math.Abs(r.NormFloat64()) // running variances are never negative
			}
			f.dtype.Round(c.Buffers)
		}
		if err := w.WriteCheckpoint(c); err != nil {
			t.Fatal(err)
		}
		b.ckpts[step] = c
	}
	// The wall time differs between runs, like a real producer's; it lives in provenance.json.
	start := time.Now()
	b.cost = autodiff.Cost{Forward: 10, Backward: 10, Samples: 30, FLOPs: 1234.5, Wall: time.Since(start) + time.Duration(start.UnixNano()%1000)}
	prov := &Provenance{Command: []string{"pollab", "test"}, Start: start, End: time.Now(), Host: "test"}
	if err := w.Finish(prov, b.cost); err != nil {
		t.Fatal(err)
	}
	return b
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// checkReadBack opens dir and compares every part with what buildProof wrote, bit for bit.
func checkReadBack(t *testing.T, dir string, b *built) {
	t.Helper()
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Manifest()
	if m.Model != b.m.Model || m.Steps != b.m.Steps || m.K != b.m.K || m.Seeds != b.m.Seeds ||
		m.Optimizer.LR != b.m.Optimizer.LR || m.Optimizer.WeightDecay != b.m.Optimizer.WeightDecay ||
		fmt.Sprint(m.Optimizer.Milestones) != fmt.Sprint(b.m.Optimizer.Milestones) || m.Producer != "test" {
		t.Fatalf("manifest read back differs:\n%+v\n%+v", m, b.m)
	}
	// The whole manifest survives decode + encode byte for byte.
	if enc, err := encodeManifest(m); err != nil || !bytes.Equal(enc, readFile(t, dir, ManifestFile)) {
		t.Fatalf("manifest does not re-encode to the bytes on disk (%v)", err)
	}
	if p.NumCheckpoints() != len(b.ckpts) {
		t.Fatalf("%d checkpoints, wrote %d", p.NumCheckpoints(), len(b.ckpts))
	}
	for i := 0; i < p.NumCheckpoints(); i++ {
		c, err := p.Checkpoint(i)
		if err != nil {
			t.Fatal(err)
		}
		w := b.ckpts[c.Step]
		if w == nil || c.Step != p.CheckpointStep(i) {
			t.Fatalf("checkpoint %d has step %d", i, c.Step)
		}
		if math.Float64bits(c.LR) != math.Float64bits(w.LR) || !equalFloats(c.Params, w.Params) || !equalFloats(c.Momentum, w.Momentum) ||
			!equalFloats(c.Buffers, w.Buffers) || (c.Buffers == nil) != (w.Buffers == nil) {
			t.Fatalf("checkpoint step %d differs after the round trip", c.Step)
		}
	}
	tab := p.Table()
	if tab.Steps != b.table.Steps || tab.Batch != b.table.Batch || !slices.Equal(tab.Idx, b.table.Idx) {
		t.Fatal("batch table differs")
	}
	if fmt.Sprint(p.BatchHashes()) != fmt.Sprint(b.hashes) {
		t.Fatal("batch hashes differ")
	}
	if fmt.Sprint(p.AugSeeds()) != fmt.Sprint(b.augSeeds) || (b.augSeeds == nil) != (p.AugSeeds() == nil) {
		t.Fatal("augmentation seeds differ")
	}
	pl := p.Payload()
	if len(b.payload) == 0 {
		if pl != nil {
			t.Fatal("payload present but none written")
		}
	} else {
		if pl == nil || pl.Len() != len(b.payload) || pl.Enc != data.F32 {
			t.Fatalf("payload %v, wrote %d points", pl, len(b.payload))
		}
		x := make([]float64, pl.Dim())
		for i := range b.payload {
			pl.Features(i, x)
			if !equalFloats(x, b.payload[i]) || pl.Label(i) != b.labels[i] {
				t.Fatalf("payload point %d differs: %v vs %v", i, x, b.payload[i])
			}
		}
	}
	cost, ok := p.Cost()
	if !ok || cost != b.cost {
		t.Fatalf("cost %+v, %v; wrote %+v", cost, ok, b.cost)
	}
}

func TestRoundTripBitForBit(t *testing.T) {
	for _, f := range []fixture{
		smallFixture,
		{spec: "mlp:4-3-2:tanh", dtype: autodiff.Float32, momentum: 0, steps: 4, k: 2, batch: 2, n: 10},
		{spec: "mlp:4-5-3-2:relu", dtype: autodiff.Float32, momentum: 0.5, steps: 1, k: 10, batch: 1, n: 3, payload: 1},
		bnFixture,
		{spec: bntest.Spec, dtype: autodiff.Float64, momentum: 0, steps: 3, k: 2, batch: 2, n: 10, dataset: bnFixture.dataset},
	} {
		t.Run(fmt.Sprintf("%s-%s-m%v", f.spec, f.dtype, f.momentum), func(t *testing.T) {
			dir := t.TempDir()
			b := buildProof(t, dir, f, 1)
			checkReadBack(t, dir, b)
			// Nothing but the proof's own files is left behind.
			leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
			tmpCkpt, _ := filepath.Glob(filepath.Join(dir, CheckpointDir, ".*"))
			if len(leftovers)+len(tmpCkpt) != 0 {
				t.Fatalf("temp or pending files left: %v %v", leftovers, tmpCkpt)
			}
			// Every file is readable by others (mode 0644, payload included).
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, _ := d.Info(); fi.Mode().Perm() != 0o644 {
						t.Errorf("%s has mode %v, want 0644", path, fi.Mode().Perm())
					}
				}
				return nil
			})
		})
	}
}

// Two runs with the same inputs give the same set of files, byte-identical except
// provenance.json, which alone carries times and the ledger (whose wall time differs).
func TestSameInputsGiveIdenticalFiles(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	b1 := buildProof(t, d1, smallFixture, 3)
	time.Sleep(2 * time.Millisecond) // provenance times differ; nothing else may
	b2 := buildProof(t, d2, smallFixture, 3)
	f1, f2 := filetest.Files(t, d1), filetest.Files(t, d2)
	if fmt.Sprint(f1) != fmt.Sprint(f2) {
		t.Fatalf("identical runs wrote different files:\n%v\n%v", f1, f2)
	}
	var n int
	for _, rel := range f1 {
		if rel == "ledger.json" {
			t.Errorf("%s written: the ledger belongs in %s", rel, ProvenanceFile)
		}
		if rel == ProvenanceFile {
			continue
		}
		if !bytes.Equal(readFile(t, d1, rel), readFile(t, d2, rel)) {
			t.Errorf("%s differs between identical runs", rel)
		}
		n++
	}
	if n < 8 {
		t.Fatalf("compared %d files: %v", n, f1)
	}
	// The ledger travels in provenance.json, wall time included.
	for _, c := range []struct {
		dir  string
		want autodiff.Cost
	}{{d1, b1.cost}, {d2, b2.cost}} {
		p, err := Open(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		prov, ok := p.Provenance()
		if !ok || prov.Ledger == nil || *prov.Ledger != c.want || prov.Host != "test" {
			t.Fatalf("provenance %+v (ok %v), want ledger %+v", prov, ok, c.want)
		}
	}
}

func TestLRAtIsMultiStepLRPerIteration(t *testing.T) {
	h := Hyper{LR: 0.1, Gamma: 0.5, Milestones: []int{2, 4}}
	want := []float64{0.1, 0.1, 0.05, 0.05, 0.025, 0.025}
	for step, w := range want {
		if got := h.LRAt(step); math.Abs(got-w) > 1e-15 {
			t.Fatalf("LRAt(%d) = %v, want %v", step, got, w)
		}
	}
	if got := CheckpointSteps(5, 2); fmt.Sprint(got) != "[0 2 4 5]" {
		t.Fatalf("CheckpointSteps(5,2) = %v", got)
	}
	if got := CheckpointSteps(4, 2); fmt.Sprint(got) != "[0 2 4]" {
		t.Fatalf("CheckpointSteps(4,2) = %v", got)
	}
}

// failingTemp is a temp file that fails after limit bytes, like a full disk.
type failingTemp struct {
	*os.File
	limit int
}

func (f *failingTemp) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.File.Write(p[:f.limit])
		f.limit = 0
		return n, errors.New("simulated: no space left on device")
	}
	f.limit -= len(p)
	return f.File.Write(p)
}

func TestInterruptedWriteLeavesNoFinalFile(t *testing.T) {
	dir := t.TempDir()
	f := smallFixture
	f.payload = 0
	m := fixtureManifest(f)
	w, err := Create(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	model, _ := models.Parse(f.spec)
	c := &Checkpoint{Step: 0, LR: 0.1, Params: make([]float64, model.NumParams())}
	for _, limit := range []int{0, 7, 60, 100} {
		w.newTemp = func(dir, pattern string) (tempFile, error) {
			fh, err := os.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err
			}
			return &failingTemp{File: fh, limit: limit}, nil
		}
		if err := w.WriteCheckpoint(c); err == nil || !strings.Contains(err.Error(), "no space") {
			t.Fatalf("limit %d: error %v, want the simulated disk-full error", limit, err)
		}
		if err := w.WriteIndices(data.Table{Steps: f.steps, Batch: f.batch, Idx: make([]int32, f.steps*f.batch)}, make([][32]byte, f.steps), make([]uint64, f.steps)); err == nil {
			t.Fatalf("limit %d: indices write succeeded on a full disk", limit)
		}
		for _, sub := range []string{".", CheckpointDir} {
			entries, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, e := range entries {
				switch {
				case e.Name() == pendingFile || e.Name() == CheckpointDir:
				case e.Name() == IndicesFile || e.Name() == HashesFile:
					// A table written whole before a later table failed is complete.
					if fi, _ := e.Info(); fi.Size() > int64(limit) {
						t.Fatalf("limit %d: %s has %d bytes, more than the disk took", limit, e.Name(), fi.Size())
					}
				default:
					t.Fatalf("limit %d: %s/%s left behind by a failed write", limit, sub, e.Name())
				}
			}
		}
	}
	// A failed write must not poison the writer: the same checkpoint can be written again.
	w.newTemp = osCreateTemp
	if err := w.WriteCheckpoint(c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointName(0))); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(nil, autodiff.Cost{}); err == nil {
		t.Fatal("Finish succeeded without indices and checkpoints")
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed Finish wrote manifest.json")
	}
}

func TestCheckpointSize(t *testing.T) {
	for _, f := range []struct {
		spec     string
		dt       autodiff.DType
		momentum float64
	}{{"mlp:784-128-10:relu", autodiff.Float32, 0.9}, {"lenet5", autodiff.Float64, 0}, {"cnn-cifar", autodiff.Float32, 0}} {
		model, err := models.Parse(f.spec)
		if err != nil {
			t.Fatal(err)
		}
		l := checkpointLayout{model: model, dtype: f.dt, momentum: f.momentum != 0}
		c := &Checkpoint{Params: make([]float64, model.NumParams())}
		var buf bytes.Buffer
		if err := encodeCheckpoint(&buf, l, c); err != nil {
			t.Fatal(err)
		}
		bytesPer := 8
		if f.dt == autodiff.Float32 {
			bytesPer = 4
		}
		copies := 1
		if f.momentum != 0 {
			copies = 2
		}
		want := float64(model.NumParams() * bytesPer * copies)
		if got := float64(buf.Len()); got < want || got > want*1.01 {
			t.Fatalf("%s %s: checkpoint %v bytes, params×bytes×copies = %v", f.spec, f.dt, got, want)
		}
		t.Logf("%s %s momentum=%v: %d params, %d bytes (header %d)", f.spec, f.dt, f.momentum, model.NumParams(), buf.Len(), buf.Len()-int(want))
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	dir := t.TempDir()
	buildProof(t, dir, smallFixture, 1)
	// A flipped weight byte in checkpoint 2: Open succeeds (checkpoints are lazy), reading it
	// names the file and the hash mismatch; the others still read.
	flipByte(t, filepath.Join(dir, CheckpointName(4)), -3)
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Checkpoint(1); err != nil {
		t.Fatal(err)
	}
	_, err = p.Checkpoint(2)
	if err == nil || !strings.Contains(err.Error(), CheckpointName(4)) || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Fatalf("tampered checkpoint: %v", err)
	}
	for _, name := range []string{IndicesFile, HashesFile, AugSeedsFile, PayloadFile} {
		d := t.TempDir()
		buildProof(t, d, smallFixture, 1)
		flipByte(t, filepath.Join(d, name), -1)
		_, err := Open(d)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "SHA-256 mismatch") {
			t.Fatalf("tampered %s: %v", name, err)
		}
	}
}

func TestResumeContinuesAnInterruptedRun(t *testing.T) {
	dir := t.TempDir()
	f := smallFixture
	f.payload = 0
	m := fixtureManifest(f)
	model, _ := models.Parse(f.spec)
	w, err := Create(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	write := func(w *Writer, step int) *Checkpoint {
		c := &Checkpoint{Step: step, LR: m.Hyper().LRAt(step), Params: make([]float64, model.NumParams()), Momentum: make([]float64, model.NumParams())}
		for i := range c.Params {
			c.Params[i] = float64(step) + float64(i)/8
		}
		if err := w.WriteCheckpoint(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	write(w, 0)
	c2 := write(w, 2)
	// The crash: a temp file from a write in progress and a foreign file under a final name.
	os.WriteFile(filepath.Join(dir, CheckpointDir, tempPrefix+"000004.safetensors-123"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(dir, CheckpointName(4)), []byte("garbage"), 0o644)
	// A valid checkpoint after the invalid one: the run continues from step 2, so it goes too.
	write(w, 5)

	if _, err := Create(dir, m); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("Create over an unfinished proof: %v (want a refusal naming --resume)", err)
	}
	other := *m
	other.Batch = 4
	if _, _, err := Resume(dir, &other); err == nil {
		t.Fatal("Resume with a different run succeeded")
	}
	w2, steps, err := Resume(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[0 2]" {
		t.Fatalf("resumed steps %v, want [0 2]", steps)
	}
	back, err := w2.Checkpoint(2)
	if err != nil || !equalFloats(back.Params, c2.Params) || back.LR != c2.LR {
		t.Fatalf("reading back checkpoint 2: %v", err)
	}
	for _, s := range []int{4, 5} {
		if _, err := os.Stat(filepath.Join(dir, CheckpointName(s))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("checkpoint %d (invalid or after a gap) was kept", s)
		}
	}
	write(w2, 4)
	write(w2, 5)
	tab := data.Table{Steps: f.steps, Batch: f.batch, Idx: make([]int32, f.steps*f.batch)}
	if err := w2.WriteIndices(tab, make([][32]byte, f.steps), make([]uint64, f.steps)); err != nil {
		t.Fatal(err)
	}
	if err := w2.Finish(nil, autodiff.Cost{}); err != nil {
		t.Fatal(err)
	}
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Without a provenance from the caller, Finish records this machine (what the ledger's
	// wall times were measured on) and this build.
	if prov, ok := p.Provenance(); !ok || !strings.HasPrefix(prov.Host, runtime.GOOS+"/"+runtime.GOARCH+", ") || prov.Build == nil {
		t.Errorf("default provenance %+v (ok %v), want this machine and build", prov, ok)
	}
	for i := 0; i < p.NumCheckpoints(); i++ {
		if _, err := p.Checkpoint(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Resume(dir, m); !errors.Is(err, ErrFinished) {
		t.Fatalf("Resume of a finished proof: %v", err)
	}
	if _, err := Create(dir, m); err == nil {
		t.Fatal("Create over a finished proof succeeded")
	}
}

func TestWriterRejectsInconsistentInput(t *testing.T) {
	dir := t.TempDir()
	f := smallFixture
	m := fixtureManifest(f)
	w, err := Create(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	model, _ := models.Parse(f.spec)
	n := model.NumParams()
	for name, c := range map[string]*Checkpoint{
		"step not on the grid": {Step: 1, Params: make([]float64, n)},
		"short params":         {Step: 0, Params: make([]float64, n-1)},
		"NaN":                  {Step: 0, Params: append(make([]float64, n-1), math.NaN())},
		"short momentum":       {Step: 0, Params: make([]float64, n), Momentum: make([]float64, 1)},
		"infinite lr":          {Step: 0, LR: math.Inf(1), Params: make([]float64, n)},
	} {
		if err := w.WriteCheckpoint(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := w.AppendPayload([]float64{1, 2}, 0); err == nil {
		t.Error("payload point of the wrong dimension accepted")
	}
	if _, err := w.AppendPayload([]float64{1, 2, 3, 4}, 2); err == nil {
		t.Error("payload label 2 of 2 classes accepted")
	}
	bad := data.Table{Steps: f.steps, Batch: f.batch, Idx: make([]int32, f.steps*f.batch)}
	bad.Idx[3] = int32(f.n)
	if err := w.WriteIndices(bad, make([][32]byte, f.steps), make([]uint64, f.steps)); err == nil {
		t.Error("index beyond the dataset accepted")
	}
	bad.Idx[3] = -1 // references a payload point never appended
	if err := w.WriteIndices(bad, make([][32]byte, f.steps), make([]uint64, f.steps)); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(nil, autodiff.Cost{}); err == nil || !strings.Contains(err.Error(), "payload") {
		t.Errorf("Finish with a dangling payload reference: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(t.TempDir(), &Manifest{Format: FormatVersion, Model: "nope"}); err == nil {
		t.Error("Create accepted an invalid manifest")
	}
}

func TestCheckpointStepHelpersAgree(t *testing.T) {
	for steps := 1; steps < 12; steps++ {
		for k := 1; k < 7; k++ {
			list := CheckpointSteps(steps, k)
			if len(list) != numCheckpoints(steps, k) {
				t.Fatalf("T=%d k=%d: %d steps listed, numCheckpoints %d", steps, k, len(list), numCheckpoints(steps, k))
			}
			in := map[int]bool{}
			for _, s := range list {
				in[s] = true
			}
			for s := -1; s <= steps+1; s++ {
				if IsCheckpointStep(s, steps, k) != in[s] {
					t.Fatalf("T=%d k=%d: IsCheckpointStep(%d) disagrees with %v", steps, k, s, list)
				}
			}
		}
	}
}
