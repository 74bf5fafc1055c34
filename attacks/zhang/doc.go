// Package zhang implements Zhang et al.'s gradient-matching spoof of Proof-of-Learning
// ("Adversarial examples for Proof-of-Learning", IEEE S&P 2022), Attacks I, II and III.
//
// Threat model: the attacker holds the final model W_T (the last checkpoint of an honest
// proof, attacks.LoadTarget) and the training data: all of it (AttackerFull) or a disjoint
// half, the even-indexed points (AttackerHalf).
//
// # Mechanism
//
//  1. W'0 = attacks.ForgeInit: drawn from the model's declared init law until every tested
//     tensor passes the KS test, then rank-matched to W_T, so the init check passes while
//     W'0 lies close to W_T.
//
//  2. Checkpoints on the straight line W'0 → W_T: the checkpoint at step s (s = 0, k, 2k, ...,
//     T') holds the weights W'0 + (s/T')(W_T − W'0); t = ⌈T'/k⌉ intervals, the last one W_T.
//
//  3. Every step trains on a crafted batch: a real batch X of the attacker's data (drawn by a
//     PCG seeded with data.SubSeed(seed, "zhang/batch", step)) with its true labels y, plus a
//     perturbation r minimising, with gonum's L-BFGS,
//
//     f(r) = |∇_W L(W_j; clamp(X+r), y) − g*|² + λ|r|²,
//
//     whose gradient is the mixed second-order product from autodiff.Engine.GradMatch
//     (symbolic double backprop where the model allows it — every model of the lab — else central differences of input gradients)
//     plus 2λr. The clamp keeps the points in the data range [0, 1]: r is optimised
//     unconstrained and the matching term's gradient is masked where X+r leaves [0, 1]
//     (boundaries count as inside, as torch.clamp's gradient does; most MNIST pixels are
//     exactly 0 and would otherwise never move). The crafted point is clamp(X+r).
//
//  4. Retry rule (published defaults): a fresh real batch while |g − g*|² > 15 or
//     |r|² > 20 (per batch of B points), at most 30 tries; if none passes, the try with the
//     smallest residual is kept and counted as a failure.
//
// # Targets g*
//
// For the step from state (w, momentum buffer b, lr η) under the claimed SGD
// (torch.optim.SGD: d = g + wd·w, b' = μb + d, w' = w − ηb'), the gradient that lands the
// step exactly on a point a is g*(a) = (w − a)/η − μb − wd·w (landingGradient).
//
//   - I: g* = g*(L(s+1)), the next point of the fine line L(u) = W'0 + (u/T')(W_T − W'0),
//     computed from the replayed state, so each step also corrects the previous steps' misses.
//     Defaults N = 100, λ = 1.
//   - II: g* = g*(W_start), the interval's start checkpoint: each step undoes the deviation
//     accumulated since the interval began (including what weight decay and momentum would
//     add), so the replay stays at the start and ends one line step |W_T − W'0|/t from the
//     next checkpoint. Defaults N = 10, λ = 1.
//   - III: g* = 0 (zero-gradient points), N = 10, λ = 0.1. With LargeBatch, one batch of
//     k·B points per interval is crafted so that its mean gradient is zero and is replayed as
//     the interval's k batches of B.
//
// # What the verifier re-executes
//
// The forged proof is written by proof.Writer like an honest one: crafted points in the
// payload (negative batch-table entries) with their batch hashes, the claimed hyperparameters
// (the target's lr, momentum, weight decay and schedule; the lr can be overridden) in the
// manifest and checkpoints, producer "attack:zhang/I" etc. Every crafted batch is stepped
// with prover.Stepper in the claimed dtype, on the same float32 payload bytes the verifier
// reads, from the interval's start checkpoint. So a re-execution reproduces the attacker's
// replay bit for bit, and the distance it measures is Report.Intervals[i].Replay. Each start
// checkpoint carries the momentum buffer and lr that the replay of the previous interval ended
// with, so the manifest-enforcing hyperparameter check passes too.
//
// Crafted points are not training points: the verifier's membership policy rejects every
// forged proof (the tests show it).
//
// # Cost
//
// The attack's autodiff.Ledger (forward, backward, second-order passes, FLOPs, wall time) is
// saved as the ledger of the proof's provenance.json. A symbolic GradMatch counts as three gradient
// computations (9·F·B), the replay step as one, so a step with N objective evaluations costs
// 3N+1 gradient-equivalents (31 at N = 10; the default evaluation budget is N). The report
// compares it with honest training of the same number of steps from the target's own ledger
// and gives the break-even T'/T below which spoofing is cheaper than training.
// Measured numbers are in README.md.
package zhang
