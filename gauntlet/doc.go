// Package gauntlet simulates Templar's Gauntlet, the statistical scoring that decentralised
// training networks deploy instead of verifying proofs: peers send pseudo-gradients, a
// validator scores a few per window by the loss they remove on a random slice (LossScore),
// keeps an own-data fingerprint, rates peers with OpenSkill (Plackett–Luce), applies
// penalties, aggregates the updates into a global model and pays weights ∝ score^2.2.
//
// Everything runs on pollab's autodiff core through models (as prover does); every random
// choice derives from the spec's seed, and a run resumes bit-exactly from its last
// per-window state file.
package gauntlet
