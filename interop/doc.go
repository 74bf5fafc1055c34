// Package interop tests pollab against an independent implementation of the same protocol:
// PyTorch, through the Python package python/pollab_torch (Debian's python3-torch, run with
// /usr/bin/python3). The tests check that pollab's proofs re-execute in PyTorch, that proofs
// recorded by a PyTorch training loop verify in pollab, and that proofs in the layout of Jia et
// al.'s reference code convert and verify, each within the measured cross-implementation band
// (results/torch-noise). Without torch they skip with a one-line reason. The package has no
// code of its own.
package interop
