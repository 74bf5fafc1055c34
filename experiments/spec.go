package experiments

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"pollab/stats"
)

// Metrics are the metric names in the order the CSV and the figures use (stats.Metrics).
var Metrics = stats.Metrics

// ReferenceNormalizedDelta is Fang et al.'s normalised threshold (stats.ReferenceNormalizedDelta).
const ReferenceNormalizedDelta = stats.ReferenceNormalizedDelta

// Attack kinds as they appear in the CSV's kind column.
const (
	KindHonest        = "honest"
	KindInfinitesimal = "infinitesimal"
	KindBlindfold     = "blindfold"
	kindZhangPrefix   = "zhang-" // followed by the variant: zhang-I, zhang-II, zhang-III
)

// Spec is one experiment: what to train, which attacks to run against it, and the verifier
// grid every proof is checked under. It is read from TOML; experiments/configs/README.md
// documents every field.
type Spec struct {
	// Extends names a spec (embedded name or file path) whose values this one starts from;
	// keys given here replace the base's (an [[attack]] list replaces the whole list).
	Extends     string   `toml:"extends" json:"extends,omitempty"`
	Name        string   `toml:"name" json:"name"`
	Description string   `toml:"description" json:"description,omitempty"`
	Models      []string `toml:"models" json:"models"`
	Dataset     string   `toml:"dataset" json:"dataset"`
	Seeds       []uint64 `toml:"seeds" json:"seeds"`
	DType       string   `toml:"dtype" json:"dtype"`
	// Workers is the size of the worker pool; 0 means one per CPU.
	Workers int `toml:"workers" json:"-"`

	Train   TrainSpec    `toml:"train" json:"train"`
	Attacks []AttackSpec `toml:"attack" json:"attacks"`
	Verify  VerifySpec   `toml:"verify" json:"verify"`
}

// TrainSpec holds the honest prover's hyperparameters. K lists checkpoint intervals: an
// honest proof is trained per seed and per k; attacks target the proofs of K[0].
type TrainSpec struct {
	Epochs      int       `toml:"epochs" json:"epochs"`
	Batch       int       `toml:"batch" json:"batch"`
	LR          float64   `toml:"lr" json:"lr"`
	Momentum    float64   `toml:"momentum" json:"momentum"`
	WeightDecay float64   `toml:"weight_decay" json:"weight_decay"`
	Milestones  []float64 `toml:"milestones" json:"milestones,omitempty"` // in epochs
	Gamma       float64   `toml:"gamma" json:"gamma"`
	K           []int     `toml:"k" json:"k"`
	Augment     bool      `toml:"augment" json:"augment"`
	// RecordAugSeeds stores the augmentation seeds in the proof (the lab's fix of Jia et al.).
	RecordAugSeeds bool `toml:"record_aug_seeds" json:"record_aug_seeds"`
}

// AttackSpec is one spoofer configuration. Steps and Delta are lists: the runner expands
// them into one forged proof per value (and per honest seed).
type AttackSpec struct {
	// Kind is "zhang", "infinitesimal" or "blindfold".
	Kind string `toml:"kind" json:"kind"`
	// Zhang et al.: Variant "I", "II" or "III"; Iters L-BFGS iterations; Lambda the
	// perturbation penalty; SecondOrder "symbolic" or "central".
	Variant     string  `toml:"variant" json:"variant,omitempty"`
	Iters       int     `toml:"iters" json:"iters,omitempty"`
	Lambda      float64 `toml:"lambda" json:"lambda,omitempty"`
	SecondOrder string  `toml:"second_order" json:"second_order,omitempty"`
	// Steps lists the forged proof lengths T' (zhang, infinitesimal); empty means the honest T.
	Steps []int `toml:"steps" json:"steps,omitempty"`
	// K is the forged checkpoint interval; 0 means the target's k.
	K int `toml:"k" json:"k,omitempty"`
	// Delta lists the per-checkpoint gaps the infinitesimal and blindfold attacks aim under,
	// normalised by d_ref in l2 (Fang et al.'s 0.008).
	Delta []float64 `toml:"delta" json:"delta,omitempty"`
	// Blindfold: Epochs claimed epochs (0: the target's), Q genuinely computed intervals per
	// epoch, SpoofSteps interpolated steps per epoch (0: the rest of a claimed epoch), Interp
	// the lr claimed on interpolated intervals ("manifest", "tiny" or "genuine").
	Epochs     int    `toml:"epochs" json:"epochs,omitempty"`
	Q          int    `toml:"q" json:"q,omitempty"`
	SpoofSteps int    `toml:"spoof_steps" json:"spoof_steps,omitempty"`
	Interp     string `toml:"interp" json:"interp,omitempty"`
}

// VerifySpec is the verifier grid: every proof is re-executed once per env, and every
// (metric, delta, Q, audit) point is decided from that one Evidence.
type VerifySpec struct {
	Envs    []string `toml:"envs" json:"envs"`
	Metrics []string `toml:"metrics" json:"metrics"`
	// NormalizedDelta lists thresholds in units of d_ref (applied to every metric).
	NormalizedDelta []float64 `toml:"normalized_delta" json:"normalized_delta"`
	// AbsoluteDelta lists thresholds per metric in raw units (Jia et al.'s reference values
	// are always added).
	AbsoluteDelta map[string][]float64 `toml:"absolute_delta" json:"absolute_delta"`
	// Q lists top-Q values per epoch; 0 means every interval.
	Q []int `toml:"q" json:"q"`
	// Audit lists numbers of uniformly random extra intervals per proof; 0 means none.
	Audit     []int  `toml:"audit" json:"audit"`
	AuditSeed uint64 `toml:"audit_seed" json:"audit_seed"`
	// Membership requires crafted points to be in the declared dataset.
	Membership bool `toml:"membership" json:"membership"`
	// Hparams is "trust-checkpoint" (Jia et al.: the lr stored in the checkpoint is used) or
	// "enforce-manifest" (the verifier recomputes the lr from the manifest).
	Hparams string `toml:"hparams" json:"hparams"`
	// InitAlpha is the KS significance level of the initialization check (0: 0.01).
	InitAlpha float64 `toml:"init_alpha" json:"init_alpha"`
	// CalibrationSeeds names the two honest seeds whose final weights define d_ref; empty
	// means the first two seeds.
	CalibrationSeeds []uint64 `toml:"calibration_seeds" json:"calibration_seeds,omitempty"`
}

//go:embed configs/*.toml
var embedded embed.FS

// EmbeddedNames lists the specs compiled into the binary, sorted.
func EmbeddedNames() []string {
	entries, err := fs.ReadDir(embedded, "configs")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// LoadSpec reads a spec from a file path, or, when no such file exists, from the embedded
// spec of that name ("demo", "paper", "fig1", ...).
func LoadSpec(nameOrPath string) (*Spec, error) {
	s, err := loadRaw(nameOrPath, 0)
	if err != nil {
		return nil, err
	}
	s.fillDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("spec %s: %w", nameOrPath, err)
	}
	return s, nil
}

// maxExtends bounds the extends chain (and so rejects cycles).
const maxExtends = 4

func readSpecBytes(nameOrPath string) ([]byte, error) {
	raw, err := os.ReadFile(nameOrPath)
	if err == nil {
		return raw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("spec %s: %w", nameOrPath, err)
	}
	name := strings.TrimSuffix(path.Base(nameOrPath), ".toml")
	raw, err = embedded.ReadFile("configs/" + name + ".toml")
	if err != nil {
		return nil, fmt.Errorf("spec %q: no such file and no embedded spec of that name (embedded: %s)",
			nameOrPath, strings.Join(EmbeddedNames(), ", "))
	}
	return raw, nil
}

// loadRaw decodes a spec and its extends chain, without defaults.
func loadRaw(nameOrPath string, depth int) (*Spec, error) {
	raw, err := readSpecBytes(nameOrPath)
	if err != nil {
		return nil, err
	}
	s, err := decodeSpec(raw, depth)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", nameOrPath, err)
	}
	return s, nil
}

// ParseSpec decodes a TOML spec, rejects unknown keys, fills defaults and validates it.
func ParseSpec(raw []byte) (*Spec, error) {
	s, err := decodeSpec(raw, 0)
	if err != nil {
		return nil, err
	}
	s.fillDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeSpec(raw []byte, depth int) (*Spec, error) {
	var head struct {
		Extends string `toml:"extends"`
	}
	if _, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(&head); err != nil {
		return nil, fmt.Errorf("parse TOML: %w", err)
	}
	s := &Spec{}
	var baseAttacks []AttackSpec
	if head.Extends != "" {
		if depth >= maxExtends {
			return nil, fmt.Errorf("extends %q: chain longer than %d (a cycle?)", head.Extends, maxExtends)
		}
		base, err := loadRaw(head.Extends, depth+1)
		if err != nil {
			return nil, fmt.Errorf("extends: %w", err)
		}
		s, baseAttacks = base, base.Attacks
		// An [[attack]] list in the overlay replaces the base's instead of merging into it.
		s.Attacks = nil
	}
	md, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(s)
	if err != nil {
		return nil, fmt.Errorf("parse TOML: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown keys: %s", strings.Join(keys, ", "))
	}
	if !md.IsDefined("attack") {
		s.Attacks = baseAttacks
	}
	return s, nil
}

func (s *Spec) fillDefaults() {
	if s.DType == "" {
		s.DType = "f32"
	}
	if s.Train.Gamma == 0 {
		s.Train.Gamma = 0.1
	}
	if len(s.Verify.Metrics) == 0 {
		s.Verify.Metrics = slices.Clone(Metrics)
	}
	if len(s.Verify.Q) == 0 {
		s.Verify.Q = []int{0}
	}
	if len(s.Verify.Audit) == 0 {
		s.Verify.Audit = []int{0}
	}
	if s.Verify.Hparams == "" {
		s.Verify.Hparams = "trust-checkpoint"
	}
	if s.Verify.InitAlpha == 0 {
		s.Verify.InitAlpha = stats.DefaultInitAlpha
	}
	if len(s.Verify.CalibrationSeeds) == 0 && len(s.Seeds) >= 2 {
		s.Verify.CalibrationSeeds = []uint64{s.Seeds[0], s.Seeds[1]}
	}
	if s.Verify.AbsoluteDelta == nil {
		s.Verify.AbsoluteDelta = map[string][]float64{}
	}
	// The reference thresholds are always on the grid, so the summary can report them.
	for _, m := range s.Verify.Metrics {
		d := s.Verify.AbsoluteDelta[m]
		if ref, _ := stats.ReferenceDelta.Get(m); !slices.Contains(d, ref) {
			d = append(d, ref)
		}
		sort.Float64s(d)
		s.Verify.AbsoluteDelta[m] = d
	}
	if !slices.Contains(s.Verify.NormalizedDelta, ReferenceNormalizedDelta) {
		s.Verify.NormalizedDelta = append(s.Verify.NormalizedDelta, ReferenceNormalizedDelta)
	}
	sort.Float64s(s.Verify.NormalizedDelta)
	for i := range s.Attacks {
		a := &s.Attacks[i]
		switch a.Kind {
		case "zhang":
			if a.Iters == 0 {
				a.Iters = 10
			}
			if a.Lambda == 0 {
				a.Lambda = 1
			}
			if a.SecondOrder == "" {
				a.SecondOrder = "symbolic"
			}
		case "infinitesimal", "blindfold":
			if len(a.Delta) == 0 {
				a.Delta = []float64{ReferenceNormalizedDelta}
			}
			if a.Kind == "blindfold" && a.Q == 0 {
				a.Q = 1
			}
		}
	}
}

// Validate reports the first inconsistency in the spec.
func (s *Spec) Validate() error {
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, "/\\ ,\""):
		return fmt.Errorf("name %q: must be non-empty, without spaces, slashes, commas or quotes", s.Name)
	case len(s.Models) == 0:
		return errors.New("models: at least one model spec is required")
	case s.Dataset == "":
		return errors.New("dataset: required")
	case len(s.Seeds) == 0:
		return errors.New("seeds: at least one seed is required")
	case s.DType != "f32" && s.DType != "f64" && s.DType != "float32" && s.DType != "float64":
		return fmt.Errorf("dtype %q: want f32 or f64", s.DType)
	case s.Workers < 0:
		return fmt.Errorf("workers %d: must be >= 0", s.Workers)
	case s.Train.Epochs < 1 || s.Train.Batch < 1 || !(s.Train.LR > 0):
		return fmt.Errorf("train: epochs (%d), batch (%d) and lr (%g) must be positive",
			s.Train.Epochs, s.Train.Batch, s.Train.LR)
	case s.Train.Momentum < 0 || s.Train.Momentum >= 1 || s.Train.WeightDecay < 0:
		return fmt.Errorf("train: momentum %g must be in [0,1), weight_decay %g >= 0", s.Train.Momentum, s.Train.WeightDecay)
	case len(s.Train.K) == 0:
		return errors.New("train.k: at least one checkpoint interval is required")
	case len(s.Verify.Envs) == 0:
		return errors.New("verify.envs: at least one env is required")
	}
	if dup := firstDuplicate(s.Seeds); dup != nil {
		return fmt.Errorf("seeds: %d listed twice", *dup)
	}
	for _, k := range s.Train.K {
		if k < 1 {
			return fmt.Errorf("train.k: %d must be >= 1", k)
		}
	}
	for _, m := range s.Verify.Metrics {
		if !slices.Contains(Metrics, m) {
			return fmt.Errorf("verify.metrics: %q is not one of %v", m, Metrics)
		}
	}
	for m, ds := range s.Verify.AbsoluteDelta {
		if !slices.Contains(s.Verify.Metrics, m) {
			return fmt.Errorf("verify.absolute_delta: metric %q is not in verify.metrics", m)
		}
		if err := positiveFinite(ds); err != nil {
			return fmt.Errorf("verify.absolute_delta.%s: %w", m, err)
		}
	}
	if err := positiveFinite(s.Verify.NormalizedDelta); err != nil {
		return fmt.Errorf("verify.normalized_delta: %w", err)
	}
	for _, q := range s.Verify.Q {
		if q < 0 {
			return fmt.Errorf("verify.q: %d must be >= 0 (0 = every interval)", q)
		}
	}
	for _, a := range s.Verify.Audit {
		if a < 0 {
			return fmt.Errorf("verify.audit: %d must be >= 0", a)
		}
	}
	if s.Verify.Hparams != "trust-checkpoint" && s.Verify.Hparams != "enforce-manifest" {
		return fmt.Errorf("verify.hparams %q: want trust-checkpoint or enforce-manifest", s.Verify.Hparams)
	}
	if len(s.Verify.CalibrationSeeds) != 0 {
		if len(s.Verify.CalibrationSeeds) != 2 || s.Verify.CalibrationSeeds[0] == s.Verify.CalibrationSeeds[1] {
			return fmt.Errorf("verify.calibration_seeds: want two distinct seeds, got %v", s.Verify.CalibrationSeeds)
		}
		for _, c := range s.Verify.CalibrationSeeds {
			if !slices.Contains(s.Seeds, c) {
				return fmt.Errorf("verify.calibration_seeds: %d is not in seeds", c)
			}
		}
	}
	for i, a := range s.Attacks {
		if err := a.validate(); err != nil {
			return fmt.Errorf("attack[%d] (%s): %w", i, a.Kind, err)
		}
	}
	return nil
}

func (a AttackSpec) validate() error {
	for _, t := range a.Steps {
		if t < 1 {
			return fmt.Errorf("steps: %d must be >= 1", t)
		}
	}
	if a.K < 0 {
		return fmt.Errorf("k: %d must be >= 0", a.K)
	}
	switch a.Kind {
	case "zhang":
		if a.Variant != "I" && a.Variant != "II" && a.Variant != "III" {
			return fmt.Errorf("variant %q: want I, II or III", a.Variant)
		}
		if a.Iters < 1 || a.Lambda < 0 {
			return fmt.Errorf("iters %d must be >= 1 and lambda %g >= 0", a.Iters, a.Lambda)
		}
		if a.SecondOrder != "symbolic" && a.SecondOrder != "central" {
			return fmt.Errorf("second_order %q: want symbolic or central", a.SecondOrder)
		}
	case "infinitesimal":
		if err := positiveFinite(a.Delta); err != nil {
			return fmt.Errorf("delta: %w", err)
		}
	case "blindfold":
		if err := positiveFinite(a.Delta); err != nil {
			return fmt.Errorf("delta: %w", err)
		}
		if a.Q < 1 || a.Epochs < 0 || a.SpoofSteps < 0 {
			return fmt.Errorf("q %d must be >= 1, epochs %d and spoof_steps %d >= 0", a.Q, a.Epochs, a.SpoofSteps)
		}
		if a.Interp != "" && a.Interp != "manifest" && a.Interp != "tiny" && a.Interp != "genuine" {
			return fmt.Errorf("interp %q: want manifest, tiny or genuine", a.Interp)
		}
		if len(a.Steps) > 0 {
			return fmt.Errorf("steps: Blindfold's length follows from epochs, q, k and spoof_steps")
		}
	default:
		return fmt.Errorf("kind %q: want zhang, infinitesimal or blindfold", a.Kind)
	}
	return nil
}

// KindLabel is the CSV kind of proofs this attack produces.
func (a AttackSpec) KindLabel() string {
	if a.Kind == "zhang" {
		return kindZhangPrefix + a.Variant
	}
	return a.Kind
}

func positiveFinite(xs []float64) error {
	for _, x := range xs {
		if !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("%g must be positive and finite", x)
		}
	}
	return nil
}

func firstDuplicate[T comparable](xs []T) *T {
	seen := map[T]bool{}
	for i := range xs {
		if seen[xs[i]] {
			return &xs[i]
		}
		seen[xs[i]] = true
	}
	return nil
}

// Hash is the SHA-256 of the spec's canonical JSON (after defaults), hex-encoded: the
// provenance's spec hash. Workers is excluded: it changes speed, not results.
func (s *Spec) Hash() string { return hashJSON(s) }

// hashJSON is the hex SHA-256 of v's JSON encoding (map keys are sorted by encoding/json,
// so equal values hash equally).
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data is hashed here; a failure is a programming error.
		panic(fmt.Sprintf("experiments: hash %T: %v", v, err))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
