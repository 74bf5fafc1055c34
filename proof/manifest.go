package proof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"path/filepath"
	"strings"

	"pollab/autodiff"
	"pollab/models"
)

// FormatVersion names the proof format this package reads and writes.
const FormatVersion = "pollab-proof/1"

// CheckpointFormat is the "format" metadata of every checkpoint file.
const CheckpointFormat = "pollab-checkpoint/1"

// Fixed file names inside a proof directory.
const (
	ManifestFile   = "manifest.json"
	ProvenanceFile = "provenance.json"
	IndicesFile    = "indices.bin"
	HashesFile     = "hashes.bin"
	AugSeedsFile   = "augseeds.bin"
	PayloadFile    = "payload.bin"
	CheckpointDir  = "ckpt"
)

// MaxManifestBytes caps manifest.json. A manifest lists one entry of about 130 bytes per
// checkpoint: the paper's longest run (T = 78,125 steps at k = 10, 7,814 checkpoints) needs
// about 1 MB, and 16 MB is room for over 100,000 checkpoints. Opening a manifest at the cap
// peaks at about 70 MB RSS (a 64 MB cap allowed about 390 MB).
const MaxManifestBytes = 16 << 20

// maxManifestDepth bounds JSON nesting in the manifest; the format nests four deep.
const maxManifestDepth = 32

// Schedule rules a manifest declares (Manifest.Schedule). Both are about counts only: the
// verifier checks every batch against the declared data, never that the table follows the
// recorded data seed.
const (
	// ScheduleEpochs is Jia et al.'s batch schedule of E whole epochs with one global
	// drop-last: T = floor(E·N/B). An absent "schedule" means this rule.
	ScheduleEpochs = "pol"
	// SchedulePrefix is the first T rows of an E-epoch schedule, where E is the fewest
	// epochs that hold T rows: floor((E-1)·N/B) < T <= floor(E·N/B). Forged proofs that claim
	// fewer steps than a whole number of epochs declare it.
	SchedulePrefix = "pol-prefix"
)

// maxEpochs bounds a manifest's epochs so that E·N fits an int64 (N <= 2^31-1).
const maxEpochs = math.MaxInt32

// CheckSchedule checks that steps T, epochs E, batch B and dataset size N agree with the
// declared schedule rule; the error is one line naming all four.
func CheckSchedule(rule string, steps, epochs, batch, n int) error {
	if batch <= 0 || n <= 0 || epochs <= 0 || epochs > maxEpochs {
		return fmt.Errorf("schedule: epochs %d, batch %d and dataset size %d must be positive (epochs at most %d)", epochs, batch, n, maxEpochs)
	}
	full := int64(epochs) * int64(n) / int64(batch) // floor(E·N/B)
	prev := int64(epochs-1) * int64(n) / int64(batch)
	switch rule {
	case "", ScheduleEpochs:
		if int64(steps) != full {
			return fmt.Errorf("schedule %q: %d epochs of %d points at batch %d give floor(E·N/B) = %d steps, the manifest claims %d", ScheduleEpochs, epochs, n, batch, full, steps)
		}
	case SchedulePrefix:
		if int64(steps) > full || int64(steps) <= prev {
			return fmt.Errorf("schedule %q: %d steps at batch %d over %d points need the fewest epochs E with floor((E-1)·N/B) < T <= floor(E·N/B), the manifest claims %d epochs (%d < T <= %d)", SchedulePrefix, steps, batch, n, epochs, prev, full)
		}
	default:
		return fmt.Errorf("schedule %q: want %q or %q", rule, ScheduleEpochs, SchedulePrefix)
	}
	return nil
}

// Hyper holds the SGD hyperparameters (PyTorch torch.optim.SGD with a MultiStepLR scheduler
// stepped once per iteration).
type Hyper struct {
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Milestones  []int   `json:"milestones"` // in steps, increasing
	Gamma       float64 `json:"gamma"`
}

// LRAt is the learning rate used by update step (0-based): lr · gamma^(number of milestones
// m <= step), which is what MultiStepLR gives after `step` scheduler steps.
func (h Hyper) LRAt(step int) float64 {
	lr := h.LR
	for _, m := range h.Milestones {
		if m <= step {
			lr *= h.Gamma
		}
	}
	return lr
}

// Validate checks that the hyperparameters describe a runnable SGD.
func (h Hyper) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(h.LR) || h.LR < 0:
		return fmt.Errorf("lr %v is not a finite non-negative number", h.LR)
	case !finite(h.Momentum) || h.Momentum < 0 || h.Momentum >= 1:
		return fmt.Errorf("momentum %v is not in [0, 1)", h.Momentum)
	case !finite(h.WeightDecay) || h.WeightDecay < 0:
		return fmt.Errorf("weight_decay %v is not a finite non-negative number", h.WeightDecay)
	case !finite(h.Gamma) || (len(h.Milestones) > 0 && h.Gamma <= 0):
		return fmt.Errorf("gamma %v is not a finite positive number", h.Gamma)
	}
	for i, m := range h.Milestones {
		if m < 0 || (i > 0 && m <= h.Milestones[i-1]) {
			return fmt.Errorf("milestones %v are not increasing non-negative steps", h.Milestones)
		}
	}
	return nil
}

// Optimizer is the manifest's optimizer section: its name ("sgd") and hyperparameters.
type Optimizer struct {
	Name string `json:"name"`
	Hyper
}

// DatasetInfo identifies the training set the batch table indexes.
type DatasetInfo struct {
	Name        string `json:"name"`        // canonical, re-loadable (data.Load)
	N           int    `json:"n"`           // number of points
	Fingerprint string `json:"fingerprint"` // hex of data.Dataset.Fingerprint()
	// Shape and Classes describe a point (and so the payload's points); when omitted the
	// model's InputShape and Classes are used.
	Shape   []int `json:"shape,omitempty"`
	Classes int   `json:"classes,omitempty"`
}

// AugmentInfo says whether training augmented its batches and whether the per-step
// augmentation seeds are in the proof (augseeds.bin).
type AugmentInfo struct {
	Enabled       bool `json:"enabled"`
	Pad           int  `json:"pad"`
	SeedsRecorded bool `json:"seeds_recorded"`
}

// Seeds are the recorded root seeds of the run.
type Seeds struct {
	Init    uint64 `json:"init"`
	Data    uint64 `json:"data"`
	Augment uint64 `json:"augment"`
}

// FileRef names one file of the proof with its size and SHA-256 (lowercase hex).
type FileRef struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PayloadRef is a FileRef for payload.bin with its point count.
type PayloadRef struct {
	FileRef
	Count int `json:"count"`
}

// Files lists the proof's tables. AugSeeds is present exactly when augmentation seeds were
// recorded, Payload when the batch table references crafted points.
type Files struct {
	Indices  FileRef     `json:"indices"`
	Hashes   FileRef     `json:"hashes"`
	AugSeeds *FileRef    `json:"augseeds,omitempty"`
	Payload  *PayloadRef `json:"payload,omitempty"`
}

// CheckpointRef is one checkpoint of the proof: the state before update Step.
type CheckpointRef struct {
	Step   int    `json:"step"`
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest is manifest.json, the proof's table of contents. It is written last, so a
// directory with a manifest is a complete proof. Producer is descriptive only ("honest",
// "attack:zhang"): the verifier never trusts it.
type Manifest struct {
	Format    string      `json:"format"`
	Producer  string      `json:"producer,omitempty"`
	Model     string      `json:"model"`
	Dataset   DatasetInfo `json:"dataset"`
	DType     string      `json:"dtype"` // "f32" or "f64"
	Optimizer Optimizer   `json:"optimizer"`
	Batch     int         `json:"batch"`
	Epochs    int         `json:"epochs"`
	Steps     int         `json:"steps"` // T, the number of updates
	// Schedule is the rule that ties Steps to Epochs, Batch and Dataset.N (see CheckSchedule):
	// ScheduleEpochs (the default when absent) or SchedulePrefix.
	Schedule string      `json:"schedule,omitempty"`
	K        int         `json:"k"` // checkpoint interval
	Augment  AugmentInfo `json:"augment"`
	Seeds    Seeds       `json:"seeds"`
	// Commitment is the prover's seed commitment (optional; proofs without one still verify).
	Commitment  *SeedCommitment   `json:"commitment,omitempty"`
	Files       Files             `json:"files"`
	Checkpoints []CheckpointRef   `json:"checkpoints"`
	Extra       map[string]string `json:"extra,omitempty"` // free-form, descriptive
}

// NewManifest returns a manifest with the format and optimizer name filled in; the caller
// sets the rest (Create fills Files and Checkpoints).
func NewManifest(model, dataset string, dt autodiff.DType, h Hyper) *Manifest {
	return &Manifest{
		Format:    FormatVersion,
		Model:     model,
		Dataset:   DatasetInfo{Name: dataset},
		DType:     dt.String(),
		Optimizer: Optimizer{Name: "sgd", Hyper: h},
	}
}

// Hyper returns the optimizer's hyperparameters.
func (m *Manifest) Hyper() Hyper { return m.Optimizer.Hyper }

// RunDType parses the manifest's dtype.
func (m *Manifest) RunDType() (autodiff.DType, error) { return autodiff.ParseDType(m.DType) }

// CheckpointSteps lists the steps that must have a checkpoint: 0, k, 2k, ... below T, then T.
func CheckpointSteps(steps, k int) []int {
	if steps <= 0 || k <= 0 {
		return nil
	}
	out := make([]int, 0, (steps+k-1)/k+1)
	for t := 0; t < steps; t += k {
		out = append(out, t)
	}
	return append(out, steps)
}

// numCheckpoints is len(CheckpointSteps(steps, k)) without building the list.
func numCheckpoints(steps, k int) int {
	if steps <= 0 || k <= 0 {
		return 0
	}
	return (steps+k-1)/k + 1
}

// IsCheckpointStep reports whether step must have a checkpoint (0, k, 2k, ... below T, or T).
func IsCheckpointStep(step, steps, k int) bool {
	return k > 0 && steps > 0 && (step == steps || (step >= 0 && step < steps && step%k == 0))
}

// CheckpointName is the file name of the checkpoint at step t (at least 6 digits).
func CheckpointName(step int) string {
	return fmt.Sprintf("%s/%06d.safetensors", CheckpointDir, step)
}

// FingerprintHex formats a dataset fingerprint for the manifest.
func FingerprintHex(fp [32]byte) string { return hex.EncodeToString(fp[:]) }

// ParseFingerprint decodes the manifest's dataset fingerprint.
func (m *Manifest) ParseFingerprint() ([32]byte, error) {
	var fp [32]byte
	b, err := hex.DecodeString(m.Dataset.Fingerprint)
	if err != nil || len(b) != 32 {
		return fp, fmt.Errorf("dataset fingerprint %q is not 64 hex digits", m.Dataset.Fingerprint)
	}
	copy(fp[:], b)
	return fp, nil
}

// manifestContext is what validating a manifest derives from it.
type manifestContext struct {
	model   models.Model
	dtype   autodiff.DType
	dim     int // features per point
	shape   []int
	classes int
}

// validateHeader checks everything but the file and checkpoint lists: the fields Create
// needs before anything is written.
func (m *Manifest) validateHeader() (*manifestContext, error) {
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("format %q, want %q", m.Format, FormatVersion)
	}
	// Both parsers name the value they refuse ("model spec %q: ...", "dtype %q: ...").
	model, err := models.Parse(m.Model)
	if err != nil {
		return nil, err
	}
	dt, err := autodiff.ParseDType(m.DType)
	if err != nil {
		return nil, err
	}
	if m.Dataset.Name == "" {
		return nil, errors.New("dataset name is empty")
	}
	if m.Dataset.N <= 0 || m.Dataset.N > math.MaxInt32 {
		return nil, fmt.Errorf("dataset size %d is not in 1..%d", m.Dataset.N, math.MaxInt32)
	}
	if _, err := m.ParseFingerprint(); err != nil {
		return nil, err
	}
	if m.Optimizer.Name != "sgd" {
		return nil, fmt.Errorf("optimizer %q, only \"sgd\" is supported", m.Optimizer.Name)
	}
	if err := m.Optimizer.Hyper.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	switch {
	case m.Batch <= 0 || m.Batch > maxTableDim:
		return nil, fmt.Errorf("batch %d is not in 1..%d", m.Batch, maxTableDim)
	case m.Epochs <= 0:
		return nil, fmt.Errorf("epochs %d is not positive", m.Epochs)
	case m.Steps <= 0 || m.Steps > maxTableDim:
		return nil, fmt.Errorf("steps %d is not in 1..%d", m.Steps, maxTableDim)
	case m.K <= 0:
		return nil, fmt.Errorf("k %d is not positive", m.K)
	case indicesFileSize(m.Steps, m.Batch) < 0 || int64(m.Steps)*int64(m.Batch) > math.MaxInt32:
		return nil, fmt.Errorf("batch table of %d steps × %d exceeds 2^31-1 entries", m.Steps, m.Batch)
	case m.Augment.Pad < 0 || m.Augment.Pad > 64:
		return nil, fmt.Errorf("augment pad %d is not in 0..64", m.Augment.Pad)
	case m.Augment.SeedsRecorded && !m.Augment.Enabled:
		return nil, errors.New("augment seeds recorded but augmentation disabled")
	}
	if err := CheckSchedule(m.Schedule, m.Steps, m.Epochs, m.Batch, m.Dataset.N); err != nil {
		return nil, err
	}
	if m.Commitment != nil {
		if err := m.Commitment.validate(); err != nil {
			return nil, err
		}
	}
	ctx := &manifestContext{model: model, dtype: dt, shape: model.InputShape(), classes: model.Classes()}
	ctx.dim = 1
	for _, d := range ctx.shape {
		ctx.dim *= d
	}
	if len(m.Dataset.Shape) > 0 {
		dim := 1
		for _, d := range m.Dataset.Shape {
			if d <= 0 || d > maxTableDim || dim > maxTableDim/d {
				return nil, fmt.Errorf("dataset shape %v is not a positive shape", m.Dataset.Shape)
			}
			dim *= d
		}
		if dim != ctx.dim {
			return nil, fmt.Errorf("dataset shape %v has %d features, model %s takes %d", m.Dataset.Shape, dim, m.Model, ctx.dim)
		}
		ctx.shape = append([]int(nil), m.Dataset.Shape...)
	}
	if m.Dataset.Classes != 0 && m.Dataset.Classes != ctx.classes {
		return nil, fmt.Errorf("dataset has %d classes, model %s has %d", m.Dataset.Classes, m.Model, ctx.classes)
	}
	return ctx, nil
}

// validate checks the whole manifest (header, file references and checkpoint list) without
// touching the disk.
func (m *Manifest) validate() (*manifestContext, error) {
	ctx, err := m.validateHeader()
	if err != nil {
		return nil, err
	}
	used := map[string]string{}
	checkRef := func(what string, r FileRef) error {
		if err := checkRelPath(r.File); err != nil {
			return fmt.Errorf("%s file: %w", what, err)
		}
		if other, dup := used[r.File]; dup {
			return fmt.Errorf("%s file %q is also the %s file", what, r.File, other)
		}
		used[r.File] = what
		if r.Size < 0 {
			return fmt.Errorf("%s file %q: negative size %d", what, r.File, r.Size)
		}
		if _, err := parseSHA256(r.SHA256); err != nil {
			return fmt.Errorf("%s file %q: %w", what, r.File, err)
		}
		return nil
	}
	for _, reserved := range []string{ManifestFile, ProvenanceFile} {
		used[reserved] = "reserved " + reserved
	}
	if err := checkRef("indices", m.Files.Indices); err != nil {
		return nil, err
	}
	if err := checkRef("hashes", m.Files.Hashes); err != nil {
		return nil, err
	}
	if m.Augment.SeedsRecorded != (m.Files.AugSeeds != nil) {
		return nil, fmt.Errorf("augment.seeds_recorded is %v but the augseeds file is %s", m.Augment.SeedsRecorded, presence(m.Files.AugSeeds != nil))
	}
	if m.Files.AugSeeds != nil {
		if err := checkRef("augseeds", *m.Files.AugSeeds); err != nil {
			return nil, err
		}
	}
	if p := m.Files.Payload; p != nil {
		if err := checkRef("payload", p.FileRef); err != nil {
			return nil, err
		}
		if p.Count <= 0 || p.Count > maxTableDim {
			return nil, fmt.Errorf("payload count %d is not in 1..%d", p.Count, maxTableDim)
		}
	}
	// Count first: the list is bounded by the manifest's size, steps/k is not.
	if n := numCheckpoints(m.Steps, m.K); len(m.Checkpoints) != n {
		return nil, fmt.Errorf("%d checkpoints listed, steps %d with k %d need %d (0, k, 2k, ..., T)", len(m.Checkpoints), m.Steps, m.K, n)
	}
	for i, c := range m.Checkpoints {
		want := i * m.K
		if i == len(m.Checkpoints)-1 {
			want = m.Steps
		}
		if c.Step != want {
			return nil, fmt.Errorf("checkpoint %d is for step %d, want step %d (0, k, 2k, ..., T in order)", i, c.Step, want)
		}
		if err := checkRef(fmt.Sprintf("checkpoint %d", c.Step), FileRef{File: c.File, Size: c.Size, SHA256: c.SHA256}); err != nil {
			return nil, err
		}
	}
	return ctx, nil
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

// checkRelPath accepts only plain relative slash-separated paths that stay inside the proof
// directory: no absolute path, no "..", no empty or "." components, no backslashes.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > 1024:
		return fmt.Errorf("path of %d bytes is too long", len(p))
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("path %q is absolute", p)
	case strings.ContainsAny(p, "\\\x00:"):
		return fmt.Errorf("path %q contains a backslash, colon or NUL", p)
	case path.Clean(p) != p || !filepath.IsLocal(p):
		return fmt.Errorf("path %q is not a clean path inside the proof directory", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("path %q leaves or aliases the proof directory", p)
		}
	}
	return nil
}

func parseSHA256(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 || strings.ToLower(s) != s {
		return h, fmt.Errorf("sha256 %q is not 64 lowercase hex digits", s)
	}
	copy(h[:], b)
	return h, nil
}

// DecodeManifest parses manifest.json from r, reading at most MaxManifestBytes. Unknown
// fields are tolerated (newer writers may add descriptive ones); required fields are checked
// by Open. A key given twice in one object is an error: encoding/json would keep the last,
// while another parser may keep the first, so two readers could see different proofs.
func DecodeManifest(r io.Reader) (*Manifest, error) {
	lr := &io.LimitedReader{R: r, N: MaxManifestBytes + 1}
	raw, err := io.ReadAll(lr)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return decodeManifest(raw)
}

// decodeManifest is DecodeManifest on bytes already read (and bounded by the caller).
func decodeManifest(raw []byte) (*Manifest, error) {
	if len(raw) > MaxManifestBytes {
		return nil, fmt.Errorf("manifest exceeds %d bytes", MaxManifestBytes)
	}
	if err := checkJSONStructure(raw, maxManifestDepth); err != nil {
		return nil, fmt.Errorf("manifest JSON: %w", err)
	}
	var m Manifest
	// Unmarshal rather than a Decoder: a Decoder buffers a second copy of the whole value.
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest JSON: %w", err)
	}
	return &m, nil
}

// checkJSONStructure walks raw's tokens once, without building values: exactly one top-level
// value, nested at most maxDepth deep, and no object with two keys that encoding/json would
// match to the same field (it matches struct fields without regard to case).
func checkJSONStructure(raw []byte, maxDepth int) error {
	// One frame per open container; keys is nil for an array. In an object, tokens alternate
	// key and value, so wantKey says which one the next token is.
	type frame struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers stay text: this pass parses nothing
	for first := true; ; first = false {
		tok, err := dec.Token()
		switch {
		case err == io.EOF && first:
			return errors.New("empty manifest")
		case err == io.EOF:
			return io.ErrUnexpectedEOF // Token reports a value cut short as a plain EOF
		case err != nil:
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.keys != nil && top.wantKey {
			folded := strings.ToLower(key)
			if top.keys[folded] {
				return fmt.Errorf("duplicate key %q (keys match fields without regard to case)", key)
			}
			top.keys[folded] = true
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return fmt.Errorf("nested deeper than %d levels", maxDepth)
			}
			f := frame{wantKey: true}
			if tok == json.Delim('{') {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A whole value ended (a scalar or a closed container): the enclosing object wants
		// its next key; at the top level the document must end here.
		if len(stack) == 0 {
			break
		}
		stack[len(stack)-1].wantKey = true
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the manifest object")
	}
	return nil
}

// encodeManifest renders m deterministically (struct field order, sorted map keys).
func encodeManifest(m *Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return append(b, '\n'), nil
}
