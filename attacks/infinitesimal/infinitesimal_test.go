package infinitesimal

import (
	"math"
	"sort"
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

// honestTarget trains a tiny honest run (64 steps) and loads it as the attack's target.
func honestTarget(t *testing.T, dt autodiff.DType, h proof.Hyper) *attacks.Target {
	return attacktest.TinyTarget(t, dt, h, 16)
}

func forge(t *testing.T, tg *attacks.Target, cfg Config) (*attacks.Result, *proof.Proof) {
	t.Helper()
	return attacktest.Forge(t, &Attack{Config: cfg}, tg)
}

func gather(t *testing.T, p *proof.Proof, envName string, pols []verifier.Policy) *verifier.Evidence {
	return attacktest.Gather(t, p, envName, pols...)
}

func l2Policy(delta float64, q int, hparams string) verifier.Policy {
	var checks []verifier.Check
	if hparams == verifier.HparamsEnforceManifest {
		checks = append(checks, verifier.HparamsCheck{})
	}
	return verifier.Reference(verifier.Selection{Metrics: []string{stats.MetricL2}, Q: q}, stats.Distances{L2: delta}, checks...)
}

// The forged proof is accepted by init + data + top-Q at the delta it targeted, for every
// Q, in the exact and the noisy envs; enforce-manifest rejects it; no gradient was computed.
func TestAcceptedAtTargetedDeltaAndRejectedByEnforceManifest(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	d0 := attacktest.InitDistance(t, tg, 1)
	// A delta that makes the requested 100 steps too few, so the attack must add steps.
	delta := d0 / 12
	b := attacktest.L2Budget(t, delta)
	res, p := forge(t, tg, Config{Budget: b, Steps: 40, K: 5, Seed: 1})
	if res.Cost.Forward != 0 || res.Cost.Backward != 0 || res.Cost.SecondOrder != 0 || res.Cost.FLOPs != 0 {
		t.Fatalf("the attack computed gradients: %+v", res.Cost)
	}
	if res.Cost.Other <= 0 {
		t.Fatal("the axpys were not recorded")
	}
	// 40 steps of k = 5 would leave gaps of d0/8 > delta: the attack adds checkpoints.
	if res.Steps <= 40 || res.Steps%5 != 0 || res.Notes["steps_raised"] == "" {
		t.Fatalf("steps %d (notes %v)", res.Steps, res.Notes)
	}
	if got, ok := p.Cost(); !ok || got.Backward != 0 {
		t.Fatalf("provenance.json ledger: %+v %v", got, ok)
	}
	// Gaps really are within the targeted delta, and W_T is the last checkpoint exactly.
	prev, _ := p.Checkpoint(0)
	var maxGap float64
	for i := 1; i < p.NumCheckpoints(); i++ {
		c, _ := p.Checkpoint(i)
		maxGap = math.Max(maxGap, stats.Distance(prev.Params, c.Params).L2)
		prev = c
	}
	if maxGap > delta || maxGap < delta/3 {
		t.Fatalf("largest gap %g, delta %g", maxGap, delta)
	}
	if stats.Distance(prev.Params, tg.Final).L2 != 0 {
		t.Fatal("last checkpoint is not W_T")
	}

	pols := []verifier.Policy{
		l2Policy(delta, 1, verifier.HparamsTrustCheckpoint),
		l2Policy(delta, 3, verifier.HparamsTrustCheckpoint),
		l2Policy(delta, 0, verifier.HparamsTrustCheckpoint),
	}
	for _, env := range []string{"exact", "dtype", "microbatch:4", "noise:1e-6"} {
		ev := gather(t, p, env, pols)
		for _, pol := range pols {
			if v := pol.Decide(ev); !v.Accepted {
				t.Errorf("env %s, %s: rejected: %s %s", env, pol, v.Check, v.Reason)
			}
		}
		// The same proof at a delta below its gaps is caught: the acceptance is earned.
		tight := l2Policy(maxGap*0.5, 0, verifier.HparamsTrustCheckpoint)
		if v := tight.Decide(gather(t, p, env, []verifier.Policy{tight})); v.Accepted {
			t.Errorf("env %s: accepted at delta %g below the gaps %g", env, maxGap*0.5, maxGap)
		}
	}
	enforce := l2Policy(delta, 0, verifier.HparamsEnforceManifest)
	v := enforce.Decide(gather(t, p, "exact", []verifier.Policy{enforce}))
	if v.Accepted || v.Check != verifier.CheckHparams {
		t.Fatalf("enforce-manifest: %+v", v)
	}
	t.Logf("d0 %.4g delta %.4g steps %d max gap %.4g lr %s cost fraction %.3g (FLOPs)", d0, delta, res.Steps, maxGap, res.Notes["claimed_lr"], res.CostFraction.FLOPs)
}

// With momentum and weight decay claimed, the analytic lr still keeps re-execution within
// delta, and the momentum buffers are written.
func TestMomentumAndWeightDecay(t *testing.T) {
	tg := honestTarget(t, autodiff.Float64, proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4})
	b, _ := attacks.NewBudget("linf", 0.05, nil)
	_, p := forge(t, tg, Config{Budget: b, Steps: 60, K: 6, Seed: 2, CheckFirst: true})
	pol := verifier.Reference(verifier.Selection{Metrics: []string{stats.MetricLinf}}, stats.Distances{Linf: 0.05})
	if v := pol.Decide(gather(t, p, "exact", []verifier.Policy{pol})); !v.Accepted {
		t.Fatalf("rejected: %s %s", v.Check, v.Reason)
	}
	c, _ := p.Checkpoint(1)
	if c.Momentum == nil {
		t.Fatal("no momentum buffers in a momentum run's checkpoint")
	}
}

// The analytic gradient bound really bounds gradients: the largest batch gradient norm seen
// along a run stays below it.
func TestGradBoundHolds(t *testing.T) {
	for spec, dataset := range map[string]string{
		attacktest.TinyModel: attacktest.TinyDataset,
		"mlp:16-8-8-4:tanh":  attacktest.TinyDataset,
		"lenet5":             "synthetic:n=64,test=8,dim=784,classes=10,seed=2",
	} {
		m, err := models.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		train, err := data.Load(dataset, data.Train)
		if err != nil {
			t.Fatal(err)
		}
		w := models.Init(m, 5)
		for i := range w {
			w[i] *= 3 // larger weights than at init, as after training
		}
		bound, err := attacks.GradBound(m, attacks.TensorNorms(m, w))
		if err != nil {
			t.Fatal(err)
		}
		st := prover.NewStepper(m, autodiff.Float64, train, nil, nil)
		for s := 0; s < 4; s++ {
			batch := make([]int32, 8)
			for j := range batch {
				batch[j] = int32(s*8 + j)
			}
			x, y, err := st.Gather(batch, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			g, _, err := st.Gradient(w, x, y, s)
			if err != nil {
				t.Fatal(err)
			}
			if n := stats.Distance(g, make([]float64, len(g))).L2; n > bound {
				t.Fatalf("%s: gradient norm %g exceeds the bound %g", spec, n, bound)
			}
		}
	}
}

// The reference code's "rank matching" (indexing the sample with argsort of W_T) is a random
// permutation: its W'0 is far further from W_T than a correctly rank-matched one.
func TestCorrectRankMatchingVersusReferenceIndexing(t *testing.T) {
	tg := honestTarget(t, autodiff.Float64, proof.Hyper{LR: 0.05})
	m := tg.Model
	w0, _, err := attacks.ForgeInit(m, tg.Final, 4, stats.DefaultInitAlpha)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float64, len(w0))
	off := models.Offsets(m)
	r := data.NewRNG(4)
	for i, ts := range m.Tensors() {
		lo, hi := off[i], off[i+1]
		if !ts.Tested {
			copy(ref[lo:hi], tg.Final[lo:hi])
			continue
		}
		sample := make([]float64, hi-lo)
		for j := range sample {
			sample[j] = ts.Law.Sample(r)
		}
		// e[argsort(wT)]: position j gets the sample at the index of wT's j-th smallest value.
		order := make([]int, hi-lo)
		for j := range order {
			order[j] = j
		}
		seg := tg.Final[lo:hi]
		sort.SliceStable(order, func(a, b int) bool { return seg[order[a]] < seg[order[b]] })
		for j, idx := range order {
			ref[lo+j] = sample[idx]
		}
	}
	correct := stats.Distance(w0, tg.Final).L2
	wrong := stats.Distance(ref, tg.Final).L2
	t.Logf("|W'0 - W_T|: rank-matched %.4g, reference indexing %.4g", correct, wrong)
	if !(wrong > 3*correct) {
		t.Fatalf("reference indexing %g is not much further than rank matching %g", wrong, correct)
	}
}

// The adaptive attacker against a seed commitment starts from the committed seed's honest W0:
// its proof keeps the commitment (W0 and batches), which the naive forgery breaks, and the
// verifier's init, data and top-Q checks accept it at the delta it aimed at; its line is
// longer, so it needs more checkpoints and costs more than the naive attack at the same delta.
func TestCommittedInitKeepsTheCommitmentAtAHigherCost(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	if w0OK, tabOK := attacktest.Commitment(t, prooftest.OpenAll(t, tg.Source)); !w0OK || !tabOK {
		t.Fatalf("the honest proof breaks its commitment (W0 %v, batches %v)", w0OK, tabOK)
	}
	d0 := attacktest.InitDistance(t, tg, 1)
	delta := d0 / 12
	b := attacktest.L2Budget(t, delta)
	naive, pn := forge(t, tg, Config{Budget: b, Steps: 40, K: 5, Seed: 1})
	committed, pc := forge(t, tg, Config{Budget: b, Steps: 40, K: 5, Seed: 1, Init: attacks.InitCommitted})

	if w0OK, tabOK := attacktest.Commitment(t, pn); w0OK || !tabOK {
		t.Errorf("naive forgery: W0 commitment %v (want false), batches %v (want true)", w0OK, tabOK)
	}
	if w0OK, tabOK := attacktest.Commitment(t, pc); !w0OK || !tabOK {
		t.Errorf("committed forgery breaks its commitment (W0 %v, batches %v)", w0OK, tabOK)
	}
	pol := l2Policy(delta, 1, verifier.HparamsTrustCheckpoint)
	ev := gather(t, pc, "exact", []verifier.Policy{pol})
	if v := pol.Decide(ev); !v.Accepted {
		t.Fatalf("committed forgery rejected: %s %s", v.Check, v.Reason)
	}
	if ev.Init.MinP < 0.01 {
		t.Errorf("the committed W0 fails the KS test: p %g", ev.Init.MinP)
	}
	// The cost of the defence to the attacker: a line several times longer, as many times
	// more checkpoints and arithmetic (still no gradient).
	if committed.Cost.Backward != 0 || committed.Cost.FLOPs != 0 {
		t.Fatalf("the committed attack computed gradients: %+v", committed.Cost)
	}
	if !(committed.Checkpoints > 2*naive.Checkpoints && committed.Cost.Other > 2*naive.Cost.Other) {
		t.Fatalf("committed: %d checkpoints, %g FLOPs; naive: %d, %g", committed.Checkpoints, committed.Cost.Other, naive.Checkpoints, naive.Cost.Other)
	}
	t.Logf("|W0 - W_T|: naive %s, committed %s; checkpoints %d -> %d; FLOPs x%.3g",
		naive.Notes["d0"], committed.Notes["d0"], naive.Checkpoints, committed.Checkpoints, committed.Cost.Other/naive.Cost.Other)
}
