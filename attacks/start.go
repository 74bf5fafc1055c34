package attacks

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/stats"
)

// Where a spoofer's line starts: the init strategies every attack takes as its `init` option.
// They are the adaptive attacker's answers to the initialization defences.
const (
	// InitForged is ForgeInit: a KS-valid draw rank-matched to W_T (Zhang et al., Fang et
	// al.); it passes the KS check but not a seed commitment.
	InitForged = "forged"
	// InitSmall is ForgeInit, except that every small tested tensor (at most SmallTensorMax
	// values) takes W_T's own values, scaled down as little as the KS test allows: a KS test
	// over a handful of values has little power (docs/INIT_FLOOR.md), so those tensors need
	// no line at all. Against the KS check only.
	InitSmall = "small"
	// InitCommitted is the honest W0 of a seed the attacker commits to, exactly as the
	// prover draws it: models.Init(m, SubSeed(seed, "init", 0)), and the proof records that
	// init seed (ForgedSpec.CommittedInit). It passes a seed commitment; the line from it to
	// W_T is as long as honest training's distance.
	InitCommitted = "committed"
)

// InitModes lists the init strategies, the default first.
var InitModes = []string{InitForged, InitSmall, InitCommitted}

// SmallTensorMax is the largest tensor InitSmall copies from W_T.
const SmallTensorMax = 32

// smallScales are the factors InitSmall tries on W_T's small tensors, largest first.
var smallScales = []float64{1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}

// Start is where a spoofer's line starts.
type Start struct {
	W0 []float64 // in the target's dtype
	// Buffers are W'0's buffers (BatchNorm running statistics; nil for a model without):
	// W_T's for InitForged and InitSmall, copied as the reference attacks copy BatchNorm
	// state; the model's initial buffers for InitCommitted (an honest init).
	Buffers []float64
	Draws   int // KS draws of ForgeInit (0 for InitCommitted)
	// Notes describe the choice for the forged proof's result (per small tensor: its scale
	// and KS p-value).
	Notes map[string]string
}

// StartLine returns W0 for mode (InitForged when empty) with seed, records its arithmetic in
// ledger (non-gradient work) and rounds it to the target's dtype. Committed reports whether
// the proof must record the init seed (ForgedSpec.CommittedInit).
func (t *Target) StartLine(mode string, seed uint64, alpha float64, ledger *autodiff.Ledger) (*Start, error) {
	began := time.Now()
	s := &Start{Notes: map[string]string{"init": InitModeOr(mode)}}
	var err error
	switch InitModeOr(mode) {
	case InitForged:
		s.W0, s.Draws, err = ForgeInit(t.Model, t.Final, seed, alpha)
		ledger.AddOther(InitFLOPs(t.Model, s.Draws), 0)
	case InitSmall:
		s.W0, s.Draws, err = ForgeInit(t.Model, t.Final, seed, alpha)
		if err == nil {
			ledger.AddOther(InitFLOPs(t.Model, s.Draws), 0)
			ledger.AddOther(copySmallTensors(t.Model, t.Final, s.W0, alpha, s.Notes), 0)
		}
	case InitCommitted:
		s.W0 = models.Init(t.Model, CommittedInitSeed(seed))
		s.Buffers = models.InitBuffers(t.Model)
		ledger.AddOther(float64(len(s.W0)), 0) // one draw per parameter, as the prover's
	default:
		return nil, fmt.Errorf("init %q: want %s, %s or %s", mode, InitForged, InitSmall, InitCommitted)
	}
	if err != nil {
		return nil, err
	}
	if s.Buffers == nil {
		s.Buffers = slices.Clone(t.Buffers)
	}
	t.DType.Round(s.W0)
	t.DType.Round(s.Buffers)
	ledger.AddOther(0, time.Since(began))
	s.Notes["init_to_final_l2"] = strconv.FormatFloat(stats.Distance(s.W0, t.Final).L2, 'g', 6, 64)
	return s, nil
}

// InitModeOr is mode, or InitForged when empty.
func InitModeOr(mode string) string {
	if mode == "" {
		return InitForged
	}
	return mode
}

// CommittedInitSeed is the init seed an honest prover with root seed derives and records
// (prover.Train: seeds.init = SubSeed(seed, "init", 0)).
func CommittedInitSeed(seed uint64) uint64 { return data.SubSeed(seed, "init", 0) }

// copySmallTensors replaces every tested tensor of w0 with at most SmallTensorMax values by
// c·W_T's, c the largest of smallScales whose KS p-value (against the tensor's law) is at
// least alpha; a tensor none passes keeps its rank-matched draw. It returns the FLOPs spent
// (a KS test per try) and notes each tensor's choice.
func copySmallTensors(m models.Model, wT, w0 []float64, alpha float64, notes map[string]string) float64 {
	off := models.Offsets(m)
	flops := 0.0
	buf := make([]float64, SmallTensorMax)
	for ti, ts := range m.Tensors() {
		lo, hi := off[ti], off[ti+1]
		if !ts.Tested || hi-lo > SmallTensorMax {
			continue
		}
		note := "kept the draw: no scale passed"
		for _, c := range smallScales {
			v := buf[:hi-lo]
			for i := range v {
				v[i] = float64(c * wT[lo+i])
			}
			n := float64(len(v))
			flops += float64(n*math.Log2(n+1)) + 2*n
			if _, p := stats.KSTest(v, ts.Law.CDF); p >= alpha {
				copy(w0[lo:hi], v)
				note = fmt.Sprintf("scale %g of W_T, KS p %.3g", c, p)
				break
			}
		}
		notes["small_tensor:"+ts.Name] = note
	}
	return flops
}

// InitLabel is an attack's proof kind with its init strategy: label itself for InitForged,
// label+"-small-init" or label+"-committed" otherwise (results.csv's kind column).
func InitLabel(label, mode string) string {
	switch InitModeOr(mode) {
	case InitSmall:
		return label + "-small-init"
	case InitCommitted:
		return label + "-committed"
	}
	return label
}

// InitFlag is the `init` option every attack shares (its flag; the TOML key is "init").
func InitFlag(p *Opt[string]) Flag {
	return Flag{Name: "init", Usage: "where the line starts: forged (KS-valid, rank-matched to W_T; default), small (forged, small tensors copied from W_T) or committed (the honest init of a committed seed)", Value: p}
}

// ValidInit checks an `init` option.
func ValidInit(p Opt[string]) error { return OneOf("init", p.Or(InitForged), InitModes...) }
