// Package prover is pollab's honest Proof-of-Learning prover: it trains a model with SGD and
// records the proof (Jia et al., S&P 2021) while training runs.
//
// Stepper is one SGD step with PyTorch semantics (torch.optim.SGD with momentum, dampening 0,
// no Nesterov, L2 weight decay added to the gradient, then a MultiStepLR stepped once per
// iteration). The verifier re-executes proofs with the same Stepper, so its deliberate
// deviations live here as options: Microbatches (another reduction order of the same
// gradient), Noise (seeded Gaussian gradient noise scaled to the gradient's RMS) and the dtype
// of the engine (an f64 Stepper re-executes an f32 proof). An f32 Stepper rounds every stored
// value to float32 after each operation, as a float32 trainer stores it.
//
// Two choices that make a proof re-executable bit for bit on the same machine:
//   - Momentum buffers start as zeros in checkpoint 0. PyTorch has no buffer before the first
//     step and sets buf = d; with zeros, mu·0 + d = d, the same value.
//   - The lr in force is part of the state: Step uses State.LR and advances it with
//     IntervalLR (one multiplication by gamma per milestone reached, in order, as PyTorch
//     and proof.Hyper.LRAt do), so a re-execution that starts from a checkpoint's stored lr
//     reproduces the prover's lrs exactly.
//
// Train derives everything from one root seed: W0 = models.Init(m, SubSeed(seed, "init", 0)),
// the batch table data.Schedule(N, B, E, SubSeed(seed, "data", 0)), and the augmentation seed
// of step t, SubSeed(seed, "augment", t), which is written to the proof only when asked
// (otherwise, as in the reference code, an honest re-execution cannot reproduce it). The proof
// streams to disk through proof.Writer: checkpoints at t = 0, k, 2k, ..., T hold the state
// before update t. Memory is O(model) plus the batch table. The final test accuracy goes into
// provenance.json's notes ("test_accuracy=..."), the gradient work into its ledger; the file is
// not hashed, and it is the only one that differs between two runs of the same config.
//
// Resume: a run killed at any moment (checkpoints are written atomically) continues with
// Options.Resume from its last valid checkpoint, recomputing schedule and seeds from the
// config, and produces the same bytes as an uninterrupted run in every file except
// provenance.json, whose ledger's wall time covers this process only (its pass and FLOP counts
// do include the steps the killed process ran).
//
// Calibrate runs two honest trainings that differ only in their seed, for the distance d_ref
// that normalised verification thresholds divide by.
package prover
