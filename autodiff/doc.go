// Package autodiff is pollab's automatic-differentiation core and the only package that
// imports Gorgonia.
//
// A Net (see package models) describes its forward pass with the Builder vocabulary
// (Linear, Conv2d, MaxPool2d, ReLU, Tanh, Flatten). An Engine compiles, for each program kind
// (logits, loss+parameter gradient, loss+input gradient, gradient matching) and batch size,
// one pruned Gorgonia graph (CompileFunction) and one TapeMachine, caches them, and reuses
// them across calls: parameters, inputs and one-hot labels are copied from flat []float64
// into the graph's input buffers, the machine is Reset and run, and the outputs are copied
// back. The loss is the mean cross-entropy, written from primitives with the max shift, so
// the same code serves first- and second-order differentiation.
//
// GradMatch computes R = |∂L/∂W - g*|² and ∂R/∂X, the objective of gradient-matching PoL
// spoofers, either symbolically (double backprop, MLPs only; requires clearing Gorgonia's
// cached derivatives between the two Grad calls, see derivreset.go) or by central
// differences of input gradients in float64 (any net).
//
// Every engine call records its passes, samples, estimated FLOPs and wall time in an
// optional Ledger shared by engines. Gorgonia panics during graph construction or on the
// calling goroutine are returned as errors. The ops themselves run on a goroutine of the
// TapeMachine, where a panic cannot be recovered, so every call is validated first: lengths,
// labels, and magnitudes — non-finite parameters or inputs, or values whose activations
// could overflow (an interval bound propagated through the Builder's ops), are rejected
// with ErrUnsafeValues, because a NaN reaching max-pool's backward crashes the process.
package autodiff
