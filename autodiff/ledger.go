package autodiff

import (
	"sync"
	"time"
)

// Cost is an exact count of the gradient work that ran, plus estimated FLOPs and wall time.
// It marshals to JSON with snake_case keys; Wall is encoded as integer nanoseconds
// ("wall_ns"), which is how encoding/json encodes a time.Duration.
type Cost struct {
	// Passes. A LossGrad or InputGrad is 1 forward + 1 backward; Logits is 1 forward; a
	// symbolic GradMatch is 1 forward + 1 backward + 1 second-order (the backward through the
	// gradient); a central-difference GradMatch is 3 forward + 3 backward and no second-order.
	Forward     int64 `json:"forward"`
	Backward    int64 `json:"backward"`
	SecondOrder int64 `json:"second_order"`
	// Samples pushed through forward passes.
	Samples int64 `json:"samples"`
	// FLOPs is estimated from the net's FLOPsPerSample F and batch size B: a forward pass is
	// F·B, a backward pass 2F·B, a symbolic second-order pass 9F·B in total (three gradient
	// computations, Zhang et al.'s accounting).
	FLOPs float64 `json:"flops"`
	// Wall is the wall time spent inside engine calls plus what callers add with AddOther.
	Wall time.Duration `json:"wall_ns"`
	// Other is FLOPs of non-gradient work (axpy, distances) that callers add with AddOther.
	Other float64 `json:"other_flops"`
}

// Add returns the field-wise sum of c and d.
func (c Cost) Add(d Cost) Cost {
	return Cost{
		Forward:     c.Forward + d.Forward,
		Backward:    c.Backward + d.Backward,
		SecondOrder: c.SecondOrder + d.SecondOrder,
		Samples:     c.Samples + d.Samples,
		FLOPs:       c.FLOPs + d.FLOPs,
		Wall:        c.Wall + d.Wall,
		Other:       c.Other + d.Other,
	}
}

// Sub is c − d, field by field: the work recorded between two readings of one Ledger.
func (c Cost) Sub(d Cost) Cost {
	return Cost{
		Forward:     c.Forward - d.Forward,
		Backward:    c.Backward - d.Backward,
		SecondOrder: c.SecondOrder - d.SecondOrder,
		Samples:     c.Samples - d.Samples,
		FLOPs:       c.FLOPs - d.FLOPs,
		Wall:        c.Wall - d.Wall,
		Other:       c.Other - d.Other,
	}
}

// GradEquivalents expresses the gradient FLOPs as a number of training-step gradients:
// FLOPs / (3·flopsPerStep), where flopsPerStep is the forward FLOPs of one training batch
// (F·B). Other is not included; add it yourself if the comparison calls for it.
// Returns 0 when flopsPerStep is not positive.
func (c Cost) GradEquivalents(flopsPerStep float64) float64 {
	if flopsPerStep <= 0 {
		return 0
	}
	return c.FLOPs / (3 * flopsPerStep)
}

// Ledger accumulates the Cost of every engine call that names it. It is safe for concurrent
// use; the zero value is ready. A nil *Ledger records nothing.
type Ledger struct {
	mu   sync.Mutex
	cost Cost
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{} }

// Cost returns a snapshot of everything recorded so far.
func (l *Ledger) Cost() Cost {
	if l == nil {
		return Cost{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cost
}

// AddOther records non-gradient work done by a caller.
func (l *Ledger) AddOther(flops float64, wall time.Duration) {
	l.add(Cost{Other: flops, Wall: wall})
}

func (l *Ledger) add(d Cost) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.cost = l.cost.Add(d)
	l.mu.Unlock()
}
