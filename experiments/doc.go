// Package experiments is pollab's harness: it turns an experiment spec (a TOML file, see
// configs/README.md) into honest proofs, forgeries, verifier evidence and the tidy results
// that the figures and the summary table are computed from.
//
// A run has three stages, each a pool of independent jobs over the CPU cores (one autodiff
// graph per worker): honest proofs for every seed and checkpoint interval k (prover.Train),
// the three spoofers against every honest proof of the first k (Zhang et al.'s attacks I-III,
// Fang et al.'s infinitesimal update and Blindfold Top-Q attacks), and the verification of
// every proof in every env. Verification gathers Evidence once per proof and env for every
// policy point of the grid at once (the union of the intervals they need is re-executed a
// single time) and then decides each (metric, delta, Q, audit) point from that Evidence.
//
// Every artefact is cached on disk under a content hash: a proof directory under the hash of
// the configuration that produced it, an Evidence file under the hash of (proof manifest, env,
// policies). A rerun therefore re-executes only what is missing, and a killed run resumes.
// The run ledger counts the steps actually trained, forged and re-executed, so a cached rerun
// shows zero.
//
// The same work is also a plan (NewPlan) of independent jobs in five stages, honest ->
// calibrate -> forge -> verify -> merge, each named by a content hash and runnable by any
// process that sees the cache directory (RunJob): a job runs only when its inputs are cached
// and its output is not. Package slurm submits a plan's stages as Slurm array jobs; the merge
// job is Run itself on the complete cache, so the results equal a local run's.
//
// Results are one row per proof x env x policy point (results.csv, columns documented in
// results/README.md), summary.{json,md,csv} and provenance.json. The figures and the
// summary are computed from results.csv alone (BuildFigures, Summarize), so `pollab figures`
// can redraw them without any proof on disk.
package experiments
