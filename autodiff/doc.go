// Package autodiff is pollab's automatic-differentiation core and the only package that
// imports Gorgonia.
//
// A Net (see package models) describes its forward pass with the Builder vocabulary
// (Linear, Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool, BatchNorm2d, ReLU, Tanh, Flatten).
// Linear, conv, pooling, batch norm, ReLU, reshapes and elementwise arithmetic are pollab's
// own gorgonia ops (linear.go, conv.go, pool.go, channel.go, bn.go, pad.go, relu.go,
// reshape.go, ew.go; ops.go has what they share), each family closed under SymDiff so that double backprop works through
// whole CNNs; their kernels own and reuse their buffers and give the same bits for any
// GOMAXPROCS and with or without the SIMD GEMM kernels (-tags purego). A BufferedNet has
// buffers (BatchNorm2d's running statistics) that only TrainGrad updates.
//
// An Engine builds, for each program kind (logits, loss+parameter gradient, loss+input
// gradient, gradient matching) and batch size, one Gorgonia graph and pollab's executor for
// it (exec.go: the ops the outputs need, each once per run in a fixed order, nothing in
// place, outputs reused), caches them, and reuses them across calls: parameters, inputs
// and one-hot labels are copied from flat []float64 into the graph's input buffers, the
// executor runs, and the outputs are copied back. The loss is the mean cross-entropy with
// the max shift: a fused op with a fused first-order gradient (ce.go) in first-order
// programs, written from gorgonia primitives in the second-order one. A first-order
// training step allocates a few dozen small objects (TestTrainStepAllocations).
//
// GradMatch computes R = |∂L/∂W - g*|² and ∂R/∂X, the objective of gradient-matching PoL
// spoofers, either symbolically (double backprop through every op of the vocabulary; requires
// clearing Gorgonia's cached derivatives between the two Grad calls, see derivreset.go) or by central
// differences of input gradients in float64 (any net).
//
// Every engine call records its passes, samples, estimated FLOPs and wall time in an
// optional Ledger shared by engines. Gorgonia panics during graph construction or on the
// calling goroutine are returned as errors. The own ops' kernels run partly on helper
// goroutines, where a panic cannot be recovered, so every call is validated first: lengths,
// labels, and magnitudes — non-finite parameters or inputs, or values whose activations
// could overflow (an interval bound propagated through the Builder's ops), are rejected
// with ErrUnsafeValues, because a NaN reaching an op's kernel could crash the process.
package autodiff
