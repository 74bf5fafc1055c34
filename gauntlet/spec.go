package gauntlet

import (
	"embed"
	"errors"
	"fmt"
	"math"
	"slices"

	"pollab/autodiff"
	"pollab/internal/specfile"
	"pollab/models"
)

//go:embed specs/*.toml
var embedded embed.FS

// Spec is one Gauntlet simulation (TOML; see specs/gauntlet.toml for every field).
type Spec struct {
	Name        string         `toml:"name" json:"name"`
	Description string         `toml:"description" json:"description,omitempty"`
	Model       string         `toml:"model" json:"model"`
	Dataset     string         `toml:"dataset" json:"dataset"`
	DType       string         `toml:"dtype" json:"dtype"`
	Seeds       []uint64       `toml:"seeds" json:"seeds"`
	Windows     int            `toml:"windows" json:"windows"`
	Workers     int            `toml:"workers" json:"-"` // how many (scenario, seed) runs at once; not part of the result
	Peer        PeerSpec       `toml:"peer" json:"peer"`
	Validator   ValidatorSpec  `toml:"validator" json:"validator"`
	Peers       PopulationSpec `toml:"peers" json:"peers"`
}

// PeerSpec is what every training peer does in a window.
type PeerSpec struct {
	InnerSteps int     `toml:"inner_steps" json:"inner_steps"`
	Batch      int     `toml:"batch" json:"batch"`
	LR         float64 `toml:"lr" json:"lr"`
}

// ValidatorSpec holds the Gauntlet's scoring and aggregation parameters.
type ValidatorSpec struct {
	UIDsPerWindow int     `toml:"uids_per_window" json:"uids_per_window"`
	BinSize       int     `toml:"bin_size" json:"bin_size"`
	EvalPoints    int     `toml:"eval_points" json:"eval_points"`
	Beta          float64 `toml:"beta" json:"beta"`
	Clip          string  `toml:"clip" json:"clip"`
	EMA           float64 `toml:"ema" json:"ema"`
	Penalty       float64 `toml:"penalty" json:"penalty"`
	Power         float64 `toml:"power" json:"power"`
	Aggregation   string  `toml:"aggregation" json:"aggregation"`
	OuterLR       float64 `toml:"outer_lr" json:"outer_lr"`
	TestPoints    int     `toml:"test_points" json:"test_points"`
}

// PopulationSpec says how many peers of each kind the mixed scenario has.
type PopulationSpec struct {
	Honest         int       `toml:"honest" json:"honest"`
	FreeRiderNoise []float64 `toml:"free_rider_noise" json:"free_rider_noise"`
	Replayer       int       `toml:"replayer" json:"replayer"`
	LazyZero       int       `toml:"lazy_zero" json:"lazy_zero"`
	LazyRandom     int       `toml:"lazy_random" json:"lazy_random"`
	LazyRandomStd  float64   `toml:"lazy_random_std" json:"lazy_random_std"`
	OffAssignment  int       `toml:"off_assignment" json:"off_assignment"`
	ScaledCopier   []float64 `toml:"scaled_copier" json:"scaled_copier"`
	Malformed      int       `toml:"malformed" json:"malformed"`
}

// Embedded lists the specs compiled into pollab.
func Embedded() []string { return specfile.Names(embedded, "specs") }

// LoadSpec reads a spec file, or else an embedded spec by name.
func LoadSpec(nameOrPath string) (*Spec, error) {
	return specfile.Load(embedded, "specs", nameOrPath, false, func(raw []byte, _ bool) (*Spec, error) { return ParseSpec(raw) })
}

// ParseSpec decodes and validates a TOML spec; unknown keys are errors.
func ParseSpec(raw []byte) (*Spec, error) {
	var s Spec
	if _, err := specfile.Decode(raw, &s, nil); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Hash is the SHA-256 of the spec's canonical JSON (Workers excluded): equal hashes, equal results.
func (s *Spec) Hash() string { return specfile.Hash(s) }

func (s *Spec) validate() error {
	v, p := s.Validator, s.Peers
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	switch {
	case s.Name == "" || s.Model == "" || s.Dataset == "":
		return errors.New("name, model and dataset are required")
	case len(s.Seeds) == 0:
		return errors.New("seeds: at least one seed is required")
	case s.Windows < 1 || s.Windows > 100000:
		return fmt.Errorf("windows %d: want 1..100000", s.Windows)
	case s.Workers < 0:
		return fmt.Errorf("workers %d must be >= 0", s.Workers)
	case s.Peer.InnerSteps < 1 || s.Peer.Batch < 1 || !(s.Peer.LR > 0) || bad(s.Peer.LR):
		return fmt.Errorf("peer: inner_steps %d and batch %d must be >= 1, lr %g > 0", s.Peer.InnerSteps, s.Peer.Batch, s.Peer.LR)
	case v.UIDsPerWindow < 2 || v.BinSize < v.UIDsPerWindow:
		return fmt.Errorf("validator: uids_per_window %d must be >= 2 and <= bin_size %d", v.UIDsPerWindow, v.BinSize)
	case v.EvalPoints < 1 || v.TestPoints < 1:
		return fmt.Errorf("validator: eval_points %d and test_points %d must be >= 1", v.EvalPoints, v.TestPoints)
	case !(v.Beta > 0) || bad(v.Beta) || !(v.OuterLR > 0) || bad(v.OuterLR):
		return fmt.Errorf("validator: beta %g and outer_lr %g must be > 0", v.Beta, v.OuterLR)
	case !(v.EMA >= 0 && v.EMA < 1) || !(v.Penalty >= 0 && v.Penalty <= 1) || !(v.Power > 0) || bad(v.Power):
		return fmt.Errorf("validator: ema %g in [0,1), penalty %g in [0,1], power %g > 0", v.EMA, v.Penalty, v.Power)
	case v.Clip != "median" && v.Clip != "none":
		return fmt.Errorf("validator.clip %q: want median or none", v.Clip)
	case v.Aggregation != "median" && v.Aggregation != "normalise":
		return fmt.Errorf("validator.aggregation %q: want median or normalise", v.Aggregation)
	case p.Honest < 1:
		return errors.New("peers.honest: at least one honest peer is required")
	case p.Replayer < 0 || p.LazyZero < 0 || p.LazyRandom < 0 || p.OffAssignment < 0 || p.Malformed < 0:
		return errors.New("peers: counts must be >= 0")
	case !(p.LazyRandomStd >= 0) || bad(p.LazyRandomStd):
		return fmt.Errorf("peers.lazy_random_std %g must be >= 0", p.LazyRandomStd)
	}
	for _, x := range append(slices.Clone(p.FreeRiderNoise), p.ScaledCopier...) {
		if !(x >= 0) || bad(x) {
			return fmt.Errorf("peers: noise level or scale %g must be finite and >= 0", x)
		}
	}
	if _, err := autodiff.ParseDType(s.DType); err != nil {
		return err
	}
	m, err := models.Parse(s.Model)
	if err != nil {
		return err
	}
	if len(models.InitBuffers(m)) > 0 {
		// Peers, validator and the global model exchange parameters only; BatchNorm's running
		// statistics would need their own aggregation rule, which Templar does not specify.
		return fmt.Errorf("model %s has BatchNorm running statistics: the simulation supports models without buffers (mlp, lenet5, cnn-cifar)", m.Spec())
	}
	return specfile.UniqueSeeds(s.Seeds)
}
