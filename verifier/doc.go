// Package verifier is pollab's one Proof-of-Learning verifier (Jia et al., IEEE S&P 2021,
// Algorithm 2): every proof in the lab, honest or forged, goes through it.
//
// Verification is split in two so that sweeping thresholds is cheap:
//
//   - Gather reads a proof and produces Evidence. It reads every checkpoint once, in order,
//     holding at most two besides W0 (the update magnitude of every interval, and W0 and
//     every checkpoint's optimizer state into a Source); then every check the policies hold
//     collects its finding from the Source (Check.Collect: the KS test of W0, the batch
//     hashes, payload membership, the checkpoints' hyperparameters, or a registered check's
//     own); then it re-executes the union of the intervals the policies select. Re-executions
//     run in parallel (one Stepper per worker) under a reproduction environment (Env) and are
//     cached by (manifest hash, interval, env, hyperparameter mode), in memory and optionally
//     on disk, so a δ x Q grid or a killed and rerun verification re-executes each interval
//     at most once.
//   - Policy.Decide turns Evidence into a Verdict without re-executing. A Policy is an
//     interval selection (Selection: top-Q, audits, epoch rule) and a list of checks, judged
//     in order (the lab's: init, data, membership, hparams, then the replay of the top-Q and
//     audited intervals against δ); the first failure names its check and interval.
//
// Checks are values registered by name (Register, Kind, Config): pollab verify's flags, a
// spec's [verify] keys and the sweep's grid come from the registered checks
// (docs/EXTENDING.md, "Adding a defence").
//
// Choices made explicit (the reference implementation's behaviour, and where pollab differs):
//
//   - stats.Distances (stats.Distance): l1, l2, linf norms of the difference of the flat parameter
//     vectors, and cosine distance 1 - <a,b>/(|a||b|) (the reference divides by |a|²).
//     Thresholds are absolute (reference: l1 1000, l2 10, linf 0.1, cos 0.01) or, with
//     ReplayCheck.Normalized, fractions of d_ref, the distance between the final weights of two
//     honest runs that differ only in seed (Fang et al. use 0.008).
//   - An interval fails when a chosen metric's distance is strictly greater than δ (NaN
//     fails).
//   - Top-Q (Policy.Selection, Selection): intervals are grouped by epoch, epoch = floor(start·B/N) (the
//     epoch of the first point of the interval's first batch; with the global drop-last a
//     batch may straddle two epochs), the Q largest updates per chosen metric are taken, and
//     the union over metrics is re-executed. Q <= 0 re-executes everything. Selection.EpochRule
//     stats.EpochRuleVerifyPy reproduces the reference verify.py's boundaries instead (stats.IntervalEpochs
//     documents both rules and where they differ).
//   - Audits: R more intervals per epoch, drawn uniformly from the epoch's remaining ones
//     with a seed derived from the manifest hash and a nonce the verifier draws from
//     crypto/rand after reading the proof, so a prover cannot know which intervals will be
//     audited (the defence against Fang et al.'s Blindfold attack). The seed is recorded in
//     every Verdict and can be replayed with Selection.AuditSeed.
//   - Initialization (stats.KSTest): two-sided D = max(D+, D-) (the reference uses a one-sided
//     statistic), exact p-values up to n = 10,000 and the asymptotic Kolmogorov law above,
//     rejected below α = 0.01 (InitCheck.Correction InitHolm: Holm's family-wise correction over
//     the tested tensors; docs/INIT_FLOOR.md measures both rules' honest false-reject floor).
//   - Hyperparameters: trust-checkpoint (reference) re-executes with the lr stored in the
//     start checkpoint; enforce-manifest recomputes the lr of every step from the manifest's
//     schedule and rejects a proof whose checkpoints disagree with it.
//
// A proof is attacker-controlled input: nothing in this package panics, hangs or allocates
// beyond the model size times the number of workers on a malformed proof; such a proof is an
// error (bad input) or a rejection.
package verifier
