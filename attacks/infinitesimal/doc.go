// Package infinitesimal implements Fang et al.'s infinitesimal update attack ("Proof-of-
// Learning is currently more broken than you think", EuroS&P 2023) against verifiers that
// trust the learning rate stored in a proof's checkpoints.
//
// The forged proof starts at W'0 from attacks.ForgeInit (drawn from the declared init law,
// KS-valid, correctly rank-matched to W_T) and places its checkpoints on the straight line
// W'0 → W_T, checkpoint t at W'0 + t/T'·(W_T − W'0), the last one W_T itself. T' is raised
// (to a multiple of k) until every gap k/T'·|W_T − W'0| is at most GapFraction·delta minus
// the rounding error of storing the weights in the run's dtype. The batch table is a genuine
// PoL schedule over the real, unmodified training points, so the data check passes.
//
// Every checkpoint claims the same tiny learning rate, chosen analytically so that
// re-executing any interval (k honest SGD steps from the checkpoint, as prover.Stepper does
// them) moves the weights by at most DriftFraction·delta: lr = budget/(k·(G + wd·|w|)/(1−mu)),
// where G is attacks.GradBound's bound on the gradient norm, computed from the tensors'
// Frobenius norms (the largest of W'0's and W_T's, which bound every point of the line, plus
// the drift itself). A re-execution then lands within gap + drift <= delta of the next
// checkpoint, whatever the verifier's Q. No gradient is ever computed: the Ledger records
// only the line's multiply-adds (2 FLOPs per parameter per checkpoint, AddOther), W'0's
// sampling and KS sorting (an estimate), and zero gradient passes. CheckFirst optionally
// re-executes the first interval to measure the drift (K gradient passes, recorded).
//
// The defence is a verifier that does not trust checkpoints' optimizer state: under
// verifier.HparamsEnforceManifest the claimed lr disagrees with the manifest's schedule and
// the proof is rejected at the hyperparameter check.
//
// Measured (go test -v, synthetic n=256, mlp:16-12-4, f32): |W_T − W'0| = 0.483, targeted
// l2 delta 0.040, T' raised from 40 to 65 steps (k = 5), largest gap 0.037, claimed lr 5.6e-7;
// accepted for Q = 1, 3 and all intervals in envs exact, dtype, microbatch:4 and noise:1e-6,
// rejected at delta below the gaps and under enforce-manifest; 0 gradient passes, cost 1.1%
// of the honest FLOPs of 65 steps (almost all of it W'0's KS redraws). Correct rank matching
// puts W'0 at l2 0.76 from W_T against 3.46 for the reference code's argsort indexing.
//
// At the published T' = 10,000, k = 10 (pollab attack infinitesimal --steps 10000 --k 10, target
// mlp:64-32-10 trained 160 steps on the default synthetic set, B = 64): 1,001 checkpoints, |W_T − W'0| = 3.14, gap
// 0.0031 (l2), claimed lr 6.8e-8, 0 gradient passes, 5.0e6 FLOPs (2 per parameter per
// checkpoint plus W'0's draws): 5.3e-4 of the FLOPs and 2.3e-3 of the engine wall time of
// honestly training 10,000 steps; accepted by pollab verify at normalised l2 delta 0.008
// (d_ref from pollab calibrate) with Q = 1, in envs exact and noise:1e-6.
package infinitesimal
