package experiments

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"pollab/stats"
	"pollab/verifier"
)

// replayed is r labelled as decided under the replay check c for a model whose d_ref is
// dref (the check's own columns, as the harness labels its rows).
func replayed(r Row, c verifier.ReplayCheck, dref stats.Distances) Row {
	r.Extra = maps.Clone(r.Extra)
	r.setLabels(c.Labels(&dref))
	return r
}

// l2Replay is the replay check of the l2 distance at d, in units of d_ref or raw.
func l2Replay(d float64, normalized bool) verifier.ReplayCheck {
	return verifier.ReplayCheck{Delta: stats.Distances{L2: d}, Metrics: []string{stats.MetricL2}, Normalized: normalized}
}

// syntheticRows builds a small results table with known structure: honest proofs whose
// reproduction error depends on the env, forgeries whose error is fixed per kind, and
// Blindfold proofs that pass only while the verifier's Q <= the attacker's q and no audit runs;
// and the matrix's defence rows of three defences.
func syntheticRows() []Row {
	envErr := map[string]float64{"exact": 0, "dtype": 0.004, "noise:0.01": 0.05}
	dref := [4]float64{100, 2, 0.5, 0.3}
	drefs := stats.Distances{L1: dref[0], L2: dref[1], Linf: dref[2], Cos: dref[3]}
	var rows []Row
	proof := func(kind string, seed uint64, k, steps int, attackDelta float64, attackQ int, cost float64, errOf func(env string, q, audit int) float64) {
		id := fmt.Sprintf("%s-%d-%d-%d-%g", kind, seed, k, steps, attackDelta)
		ckpts := steps/k + 1
		for env := range envErr {
			base := func(env string, q, audit int) Row {
				e := errOf(env, q, audit)
				r := Row{Experiment: "synthetic", ProofID: id, Kind: kind, Seed: seed, Model: "mlp:4-3-2:relu",
					Dataset: "synthetic", DType: "f32", Params: 23, K: k, Steps: steps, Checkpoints: ckpts,
					TargetSteps: 64, TargetK: 4, AttackDelta: attackDelta, AttackQ: attackQ,
					Env: env, Q: q, Audit: audit, FailedInterval: -1, Checked: 3, ReexecSteps: 3 * k,
					CostFLOPs: cost * 1e6, CostWallS: cost, HonestFLOPs: 1e6, CostFraction: cost, FLOPsPerParam: cost * 1e6 / 23,
					ProofGradEquiv: cost * 64}
				for i := range Metrics {
					r.MaxReproNorm[i] = e * (1 + float64(seed)/10)
					r.MaxRepro[i] = r.MaxReproNorm[i] * dref[i]
				}
				return r
			}
			decide := func(r Row, norm float64) Row {
				r.Accepted = r.MaxReproNorm[1] <= norm
				if !r.Accepted {
					r.FailedCheck, r.FailedInterval = "reproduction", 1
				}
				return r
			}
			for _, q := range []int{1, 2, 0} {
				for _, audit := range []int{0, 2} {
					base := base(env, q, audit)
					for _, d := range []float64{1e-4, 1e-3, 0.008, 0.03, 0.1, 1} {
						rows = append(rows, decide(replayed(base, l2Replay(d, true), drefs), d))
					}
					for _, d := range []float64{1, 10} {
						rows = append(rows, decide(replayed(base, l2Replay(d, false), drefs), d/dref[1]))
					}
					all := slices.Clone(stats.Metrics)
					ref := verifier.ReplayCheck{Delta: stats.ReferenceDelta, Metrics: all}
					rows = append(rows, decide(replayed(base, ref, drefs), 10/dref[1]))
					norm := verifier.ReplayCheck{Delta: stats.Uniform(ReferenceNormalizedDelta), Metrics: all, Normalized: true}
					rows = append(rows, decide(replayed(base, norm, drefs), ReferenceNormalizedDelta))
				}
			}
			// The matrix's defence rows (top-1, l2 at 0.008): top-Q alone; membership, which
			// rejects Zhang et al.'s crafted points; two audits per epoch.
			for _, d := range []string{"top-Q", "membership", "audit 2"} {
				r := base(env, 1, 0)
				if d == "audit 2" {
					r = base(env, 1, 2)
				}
				r.Extra = map[string]string{ColumnDefence: d}
				r = decide(replayed(r, l2Replay(ReferenceNormalizedDelta, true), drefs), ReferenceNormalizedDelta)
				if d == "membership" && kind == "zhang-II" {
					r.Accepted, r.FailedCheck, r.FailedInterval = false, "membership", -1
				}
				rows = append(rows, r)
			}
		}
	}
	for _, seed := range []uint64{1, 2} {
		for _, k := range []int{4, 8} {
			proof(KindHonest, seed, k, 64, math.NaN(), 0, 1, func(env string, q, audit int) float64 { return envErr[env] * float64(k) / 4 })
		}
		for _, steps := range []int{4, 8} {
			proof("zhang-II", seed, 4, steps, math.NaN(), 0, 0.31*float64(steps)/64*10, func(string, int, int) float64 { return 0.02 })
		}
		for _, d := range []float64{0.002, 0.008} {
			proof(KindInfinitesimal, seed, 4, 64, d, 0, 1e-6/d, func(string, int, int) float64 { return d / 4 })
		}
		proof(KindBlindfold, seed, 4, 64, ReferenceNormalizedDelta, 1, 0.05, func(env string, q, audit int) float64 {
			if (q == 1) && audit == 0 {
				return 0.001
			}
			return 5
		})
	}
	SortRows(rows)
	return rows
}
