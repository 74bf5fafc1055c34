// Package attacks holds what pollab's three spoofers share: the stolen Target (W_T, the
// honest proof's claims, the training data and honest training's cost), the forged initial
// checkpoint, the straight line W'0 → W_T, the forged-proof writer and the cost accounting.
//
// The attacker holds W_T as an honest proof (LoadTarget: its final checkpoint, manifest and
// ledger) or as a bare safetensors file with a model spec (LoadTargetFile: a checkpoint or a
// PyTorch state_dict read by proof.ReadWeights, the claimed hyperparameters given by the
// caller, and the analytic honest cost, there being no ledger).
//
// ForgeInit is Zhang et al.'s initialization forger, reused by Fang et al.: each KS-tested
// tensor is drawn from its declared law (redrawn until it passes stats.KSTest at alpha)
// and rank-matched to W_T, so W'0 passes the initialization check while lying close to W_T.
// (Fang et al.'s reference code indexes the sample with argsort the wrong way round, which is
// a random permutation; ForgeInit sorts both sides.)
//
// CreateForged writes every spoofer's proof the same way: the manifest copies the target's
// model, dataset, dtype, batch size, optimizer hyperparameters and augmentation setting, the
// batch table is a genuine PoL schedule over the real training set (Jia et al.'s per-epoch
// permutations, truncated to T' rows) with its batch hashes, and checkpoints carry whatever
// learning rate the spoofer claims. The ledger in a forged proof's provenance.json is the
// attacker's real autodiff.Cost: gradient passes counted by the engine, axpys and distances
// added with AddOther.
//
// CostFraction compares a spoof's cost with honest training of the same number of steps,
// using the target proof's ledger (per-step FLOPs and wall time) or, without one, the
// analytic 3·F·B + 6·params FLOPs per step.
//
// GradBound and TinyLR give the "infinitesimal" learning rate of Fang et al. without
// computing any gradient: an analytic bound on the gradient norm of a chain of linear and
// convolution layers with 1-Lipschitz activations, from the weights' Frobenius norms.
package attacks
