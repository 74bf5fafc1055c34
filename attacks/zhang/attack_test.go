package zhang

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/attacktest"
	"pollab/internal/prooftest"
	"pollab/models"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

const (
	synthName  = "synthetic:n=256,test=64,dim=12,classes=4,seed=3"
	synthModel = "mlp:12-8-4:tanh"
)

// honestTarget trains a tiny honest proof (plain SGD, or momentum + weight decay) and loads
// it as the attacker's target.
func honestTarget(t *testing.T, momentum bool) *attacks.Target {
	t.Helper()
	h := proof.Hyper{LR: 0.05}
	if momentum {
		h.Momentum, h.WeightDecay = 0.9, 1e-3
	}
	return attacktest.Target(t, prover.Config{Model: synthModel, Dataset: synthName, DType: autodiff.Float64, Hyper: h,
		Batch: 16, Epochs: 2, K: 4, Seed: 5})
}

// forge runs the attack with cfg on tgt into a fresh directory: the report and the directory.
func forge(t *testing.T, tgt *attacks.Target, cfg Config) (*Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "forged")
	rep, err := (&Attack{Config: cfg}).Run(context.Background(), tgt, out, attacks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep, out
}

// replayProof re-executes every interval of a proof with a fresh prover.Stepper, as a
// verifier does, and returns the distances between each replayed end and the proof's
// end checkpoint.
func replayProof(t *testing.T, dir string) []stats.Distances {
	t.Helper()
	p := prooftest.OpenAll(t, dir)
	m := p.Manifest()
	tgt, err := attacks.LoadTarget(dir) // same model and dataset loading as a verifier
	if err != nil {
		t.Fatalf("load forged proof: %v", err)
	}
	dt, _ := m.RunDType()
	st := prover.NewStepper(tgt.Model, dt, tgt.Train, p.Payload(), nil)
	var out []stats.Distances
	for i := 0; i+1 < p.NumCheckpoints(); i++ {
		c, err := p.Checkpoint(i)
		if err != nil {
			t.Fatal(err)
		}
		end, err := p.Checkpoint(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		s := &prover.State{Step: c.Step, LR: c.LR, Params: c.Params, Momentum: c.Momentum}
		if m.Optimizer.Momentum != 0 && s.Momentum == nil {
			s.Momentum = make([]float64, len(s.Params))
		}
		for s.Step < end.Step {
			if err := st.Step(s, m.Hyper(), p.Table().Row(s.Step), 0, false); err != nil {
				t.Fatal(err)
			}
		}
		if s.LR != end.LR {
			t.Errorf("interval %d: replayed lr %v, end checkpoint claims %v", i, s.LR, end.LR)
		}
		out = append(out, stats.Distance(s.Params, end.Params))
	}
	return out
}

// Every variant writes a proof whose independent replay lands exactly where the attack
// says it does, whose last checkpoint is W_T, whose first passes the init check, and whose
// crafted points are carried in the payload with matching batch hashes.
func TestVariantsReplayAsReported(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		momentum bool
	}{
		{"I", Config{Variant: VariantI, Iters: 20, Lambda: -1}, false},
		{"II", Config{Variant: VariantII, Lambda: -1}, true},
		{"III", Config{Variant: VariantIII, Lambda: -1}, false},
		{"III-large", Config{Variant: VariantIII, Lambda: -1, LargeBatch: true, AttackerData: AttackerHalf}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := honestTarget(t, tc.momentum)
			cfg := tc.cfg
			cfg.Steps, cfg.K, cfg.Retries, cfg.Seed = 8, 4, 2, 9
			rep, out := forge(t, tgt, cfg)
			got := replayProof(t, out)
			if len(got) != len(rep.Intervals) {
				t.Fatalf("%d intervals replayed, report has %d", len(got), len(rep.Intervals))
			}
			for i, d := range got {
				if want := rep.Intervals[i].Replay; d != want {
					t.Errorf("interval %d: independent replay at %+v, attack reported %+v", i, d, want)
				}
			}
			p := prooftest.OpenAll(t, out)
			last, err := p.Checkpoint(p.NumCheckpoints() - 1)
			if err != nil {
				t.Fatal(err)
			}
			if d := stats.Distance(last.Params, tgt.Final); d.Linf != 0 {
				t.Errorf("last checkpoint is %g (linf) from W_T, want W_T itself", d.Linf)
			}
			first, err := p.Checkpoint(0)
			if err != nil {
				t.Fatal(err)
			}
			checkInit(t, tgt, first.Params)
			checkBatches(t, p)
			if m := p.Manifest(); m.Producer != "attack:zhang/"+rep.Variant || m.Optimizer.LR != tgt.Manifest.Optimizer.LR {
				t.Errorf("manifest producer %q lr %v", m.Producer, m.Optimizer.LR)
			}
			if c, ok := p.Cost(); !ok || c.SecondOrder == 0 || c.FLOPs != rep.Cost.FLOPs {
				t.Errorf("provenance.json ledger %+v (present %v), report %+v", c, ok, rep.Cost)
			}
			t.Logf("%s: residual median %.3g max %.3g (real batch %.3g), |r|² max %.3g, failures %d/%d, max replay %v, %.1f grad-equiv/step",
				tc.name, rep.Residual.Median, rep.Residual.Max, rep.Start.Median, rep.NormR2.Max, rep.Failures, len(rep.StepStats), rep.MaxReplay, rep.GradEquivPerStep)
		})
	}
}

func checkInit(t *testing.T, tgt *attacks.Target, w0 []float64) {
	t.Helper()
	off := 0
	for _, ts := range tgt.Model.Tensors() {
		n := ts.Size()
		if ts.Tested {
			if _, p := stats.KSTest(w0[off:off+n], ts.Law.CDF); p < 0.01 {
				t.Errorf("W'0 tensor %s fails KS: p = %.3g", ts.Name, p)
			}
		}
		off += n
	}
}

// checkBatches recomputes every batch hash from the payload: every point is crafted.
func checkBatches(t *testing.T, p *proof.Proof) {
	t.Helper()
	pay := p.Payload()
	if pay == nil {
		t.Fatal("forged proof has no payload")
	}
	tab := p.Table()
	for s := 0; s < tab.Steps; s++ {
		var hs [][32]byte
		for _, idx := range tab.Row(s) {
			if idx >= 0 {
				t.Fatalf("step %d uses dataset point %d, want only crafted points", s, idx)
			}
			hs = append(hs, pay.PointHash(int(-idx-1)))
		}
		if data.BatchHash(hs) != p.BatchHashes()[s] {
			t.Errorf("step %d: batch hash does not match its payload points", s)
		}
	}
}

// Variant I's target gradient makes one SGD step land exactly on its aim, with momentum
// and weight decay.
func TestLandingGradient(t *testing.T) {
	h := proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-2}
	w := []float64{1, -2, 0.5}
	aim := []float64{0.9, -1.7, 0.5}
	buf := []float64{0.3, -0.1, 2}
	g := make([]float64, 3)
	if err := landingGradient(g, w, aim, buf, h.LR, h); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		d := g[i] + h.WeightDecay*w[i]
		b := h.Momentum*buf[i] + d
		if got := w[i] - h.LR*b; math.Abs(got-aim[i]) > 1e-12 {
			t.Errorf("coordinate %d lands on %v, aim %v", i, got, aim[i])
		}
	}
	if err := landingGradient(g, w, aim, buf, 0, h); err == nil {
		t.Error("lr 0 accepted")
	}
}

// firstOrderOnly is a model whose ops cannot differentiate twice (no model of the lab is one
// any more since pollab's own conv and pool ops).
type firstOrderOnly struct{ models.Model }

func (firstOrderOnly) Symbolic2nd() bool { return false }

// auto picks symbolic double backprop where the model's ops differentiate twice (every
// model: MLPs and CNNs) and central differences otherwise; symbolic is refused there.
func TestSecondOrderChoice(t *testing.T) {
	for _, tc := range []struct {
		spec, flag string
		firstOnly  bool
		want       autodiff.SecondOrder
		fails      bool
	}{
		{"mlp:12-8-4:relu", "auto", false, autodiff.Symbolic, false},
		{"lenet5", "auto", false, autodiff.Symbolic, false},
		{"lenet5", "central", false, autodiff.CentralDiff, false},
		{"lenet5", "symbolic", false, autodiff.Symbolic, false},
		{"lenet5", "auto", true, autodiff.CentralDiff, false},
		{"lenet5", "symbolic", true, 0, true},
		{"mlp:12-8-4:relu", "exact", false, 0, true},
	} {
		m, err := models.Parse(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if tc.firstOnly {
			m = firstOrderOnly{m}
		}
		got, err := Config{SecondOrder: tc.flag}.secondOrder(&attacks.Target{Model: m})
		if (err != nil) != tc.fails || (!tc.fails && got != tc.want) {
			t.Errorf("%s --second-order %s: %v, %v", tc.spec, tc.flag, got, err)
		}
	}
	for s, want := range map[string]Variant{"I": VariantI, "ii": VariantII, "3": VariantIII} {
		if v, err := ParseVariant(s); err != nil || v != want {
			t.Errorf("ParseVariant(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseVariant("IV"); err == nil {
		t.Error("variant IV accepted")
	}
}

// Zhang et al.'s proof goes through the shared forged-proof writer: it claims the target's
// augmentation (here with recorded seeds, one per step) and starts at the schedule's lr of
// step 0, which a milestone at step 0 lowers; the verifier re-executes it exactly as the attack
// replayed it.
func TestForgedThroughSharedWriterKeepsClaims(t *testing.T) {
	h := proof.Hyper{LR: 0.05, Milestones: []int{0, 6}, Gamma: 0.5}
	cfg := prover.Config{Model: synthModel, Dataset: synthName, DType: autodiff.Float64, Hyper: h,
		Batch: 16, Epochs: 1, K: 4, Seed: 5, Augment: true, RecordAugSeeds: true}
	tgt := attacktest.Target(t, cfg)
	rep, out := forge(t, tgt, Config{Variant: VariantII, Lambda: -1, Steps: 8, K: 4, Retries: 1, Seed: 3})
	p := prooftest.OpenAll(t, out)
	m := p.Manifest()
	if m.Augment != tgt.Manifest.Augment || !m.Augment.Enabled || len(p.AugSeeds()) != 8 {
		t.Errorf("augmentation claims %+v with %d seeds, target claims %+v", m.Augment, len(p.AugSeeds()), tgt.Manifest.Augment)
	}
	c0, err := p.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.LRAt(0); c0.LR != want || want != 0.025 {
		t.Errorf("checkpoint 0 claims lr %v, want LRAt(0) = %v (0.05 halved by the milestone at 0)", c0.LR, want)
	}
	// The verifier re-executes every interval exactly as the attack replayed it.
	all := verifier.DefaultPolicy()
	all.Select.Q = 0
	ev, _ := verifyForged(t, out, []verifier.Policy{all})
	for i, iv := range ev.Intervals {
		r := iv.Repro[verifier.HparamsTrustCheckpoint]
		if r == nil || r.Raw != rep.Intervals[i].Replay {
			t.Errorf("interval %d: verifier's re-execution %+v, the attack's replay %v", i, r, rep.Intervals[i].Replay)
		}
	}
}
