package experiments

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"pollab/attacks"
	_ "pollab/attacks/all" // every attack shipped with the lab registers itself
	"pollab/internal/specfile"
	"pollab/stats"
)

// Metrics are the metric names in the order the CSV and the figures use (stats.Metrics).
var Metrics = stats.Metrics

// ReferenceNormalizedDelta is Fang et al.'s normalised threshold (stats.ReferenceNormalizedDelta).
const ReferenceNormalizedDelta = stats.ReferenceNormalizedDelta

// Kinds in the CSV's kind column: honest proofs, and the labels of the attacks the figures
// plot (every attack's proofs carry its Config.Label()).
const (
	KindHonest        = "honest"
	KindInfinitesimal = "infinitesimal"
	KindBlindfold     = "blindfold"
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

// AttackSpec is one spoofer configuration: an [[attack]] section whose kind names a
// registered attack (attacks.Lookup) and whose other keys are that attack's own configuration
// (its attacks.Config: TOML keys of its fields; unknown keys are errors, keys left out are
// unset). The runner forges one proof per honest seed and per point of the config's Plan
// (each listed T' and normalised delta).
type AttackSpec struct {
	Kind   string
	Config attacks.Config
}

// UnmarshalTOML decodes an [[attack]] section into the registered kind's configuration.
func (a *AttackSpec) UnmarshalTOML(v any) error {
	sec, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("attack: want a table, got %T", v)
	}
	kind, _ := sec["kind"].(string)
	k, err := attacks.Lookup(kind)
	if err != nil {
		return err
	}
	rest := maps.Clone(sec)
	delete(rest, "kind")
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(rest); err != nil {
		return fmt.Errorf("attack %s: %w", kind, err)
	}
	cfg := k.NewConfig()
	if _, err := specfile.Decode(buf.Bytes(), cfg, nil); err != nil {
		return fmt.Errorf("attack %s: %w", kind, err)
	}
	a.Kind, a.Config = kind, cfg
	return nil
}

// MarshalJSON writes the kind and the configuration's fields as one object (what the spec
// hash and provenance.json record).
func (a AttackSpec) MarshalJSON() ([]byte, error) {
	cfg, err := json.Marshal(a.Config)
	if err != nil {
		return nil, err
	}
	kind, _ := json.Marshal(a.Kind)
	if len(cfg) < 2 || cfg[0] != '{' {
		return nil, fmt.Errorf("attack %s: configuration is not a JSON object", a.Kind)
	}
	if string(cfg) == "{}" {
		return []byte(`{"kind":` + string(kind) + `}`), nil
	}
	return append([]byte(`{"kind":`+string(kind)+`,`), cfg[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes (a rerun reads the first run's provenance.json
// back): the kind selects the registered configuration, whose fields are the other keys.
func (a *AttackSpec) UnmarshalJSON(b []byte) error {
	var sec map[string]json.RawMessage
	if err := json.Unmarshal(b, &sec); err != nil {
		return err
	}
	var kind string
	if err := json.Unmarshal(sec["kind"], &kind); err != nil {
		return fmt.Errorf("attack: kind: %w", err)
	}
	k, err := attacks.Lookup(kind)
	if err != nil {
		return err
	}
	delete(sec, "kind")
	rest, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	cfg := k.NewConfig()
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("attack %s: %w", kind, err)
	}
	a.Kind, a.Config = kind, cfg
	return nil
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
	// Defences are the columns of the attack × defence matrix ([[verify.defence]]), each
	// decided on the same Evidence as the grid and reported in rows labelled by its name.
	Defences []DefenceSpec `toml:"defence" json:"defences,omitempty"`
	// CalibrationSeeds names the two honest seeds whose final weights define d_ref; empty
	// means the first two seeds.
	CalibrationSeeds []uint64 `toml:"calibration_seeds" json:"calibration_seeds,omitempty"`
	// Check configures registered checks by name ([verify.check.NAME], the keys of the
	// check's configuration, verifier.Kind): a list-valued key sweeps. The flat keys above
	// configure the lab's own checks (init_alpha, membership, hparams, metrics and deltas).
	Check map[string]map[string]any `toml:"check" json:"check,omitempty"`
}

//go:embed configs/*.toml
var embedded embed.FS

// EmbeddedNames lists the specs compiled into the binary, sorted.
func EmbeddedNames() []string { return specfile.Names(embedded, "configs") }

// LoadSpec reads a spec from a file path, or, when no such file exists, from the embedded
// spec of that name ("demo", "paper", "fig1", ...).
func LoadSpec(nameOrPath string) (*Spec, error) {
	s, err := loadRaw(nameOrPath, 0, false)
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

// loadRaw decodes a spec and its extends chain, without defaults.
func loadRaw(nameOrPath string, depth int, inEmbedded bool) (*Spec, error) {
	return specfile.Load(embedded, "configs", nameOrPath, inEmbedded, func(raw []byte, fromEmbedded bool) (*Spec, error) {
		return decodeSpec(raw, depth, fromEmbedded)
	})
}

// ParseSpec decodes a TOML spec, rejects unknown keys, fills defaults and validates it.
func ParseSpec(raw []byte) (*Spec, error) {
	s, err := decodeSpec(raw, 0, false)
	if err != nil {
		return nil, err
	}
	s.fillDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeSpec decodes raw; embeddedSpec: raw is an embedded spec, whose extends names an embedded spec.
func decodeSpec(raw []byte, depth int, embeddedSpec bool) (*Spec, error) {
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
		base, err := loadRaw(head.Extends, depth+1, embeddedSpec)
		if err != nil {
			return nil, fmt.Errorf("extends: %w", err)
		}
		s, baseAttacks = base, base.Attacks
		// An [[attack]] list in the overlay replaces the base's instead of merging into it.
		s.Attacks = nil
	}
	md, err := specfile.Decode(raw, s, func(k toml.Key) bool {
		// Nested tables of a check's section are decoded (strictly) into its configuration,
		// and so are a matrix defence's check sections ([[verify.defence]] check.NAME).
		return len(k) > 3 && k[0] == "verify" && k[1] == "check" ||
			len(k) > 4 && k[0] == "verify" && k[1] == "defence" && k[2] == "check"
	})
	if err != nil {
		return nil, err
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
	case len(s.Seeds) < 2:
		return fmt.Errorf("seeds %v: at least two honest seeds are required (d_ref is the distance between two honest runs)", s.Seeds)
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
	if err := specfile.UniqueSeeds(s.Seeds); err != nil {
		return err
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
		if err := stats.PositiveFinite("verify.absolute_delta."+m, ds); err != nil {
			return err
		}
	}
	if err := stats.PositiveFinite("verify.normalized_delta", s.Verify.NormalizedDelta); err != nil {
		return err
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
	if _, err := s.Verify.checkVariants(); err != nil {
		return err
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
	if err := s.Verify.validateDefences(); err != nil {
		return err
	}
	for i, a := range s.Attacks {
		if err := a.Config.Validate(); err != nil {
			return fmt.Errorf("attack[%d] (%s): %w", i, a.Kind, err)
		}
	}
	return nil
}

// Hash is the SHA-256 of the spec's canonical JSON (after defaults), hex-encoded: the
// provenance's spec hash. Workers is excluded: it changes speed, not results.
func (s *Spec) Hash() string { return specfile.Hash(s) }
