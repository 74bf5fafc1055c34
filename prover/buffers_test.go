package prover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/bntest"
	"pollab/models"
	"pollab/proof"
)

// bnConfig is testConfig on a model with BatchNorm buffers: T = 16, k = 5.
func bnConfig(dt autodiff.DType) Config {
	c := testConfig()
	c.Model, c.Dataset, c.DType = bntest.Spec, bntest.Dataset, dt
	c.Batch, c.Hyper.Milestones = 8, []int{12}
	return c
}

// replayIntervals re-executes every interval of p with s from its starting checkpoint's state
// (step, lr, parameters, momentum and buffers, copied) to the next checkpoint's step and hands
// check the interval's index, both checkpoints and the replayed state.
func replayIntervals(t *testing.T, p *proof.Proof, s *Stepper, check func(i int, c, next *proof.Checkpoint, st *State)) {
	t.Helper()
	h := p.Manifest().Hyper()
	c, err := p.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < p.NumCheckpoints(); i++ {
		next, err := p.Checkpoint(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		st := &State{Step: c.Step, LR: c.LR, Params: slices.Clone(c.Params), Momentum: slices.Clone(c.Momentum), Buffers: slices.Clone(c.Buffers)}
		for st.Step < next.Step {
			if err := s.Step(st, h, p.Table().Row(st.Step), 0, false); err != nil {
				t.Fatal(err)
			}
		}
		check(i, c, next, st)
		c = next
	}
}

// An honest proof of a model with buffers: the running statistics move with training, each
// checkpoint holds them, and re-executing every interval from its checkpoint (parameters,
// momentum and buffers) gives the next checkpoint bit for bit, buffers included. The test
// accuracy is evaluated in eval mode on the final running statistics and changes none of them.
func TestBufferedProofReplaysBitExactly(t *testing.T) {
	for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			cfg := bnConfig(dt)
			res, p := trainOpen(t, cfg)
			m, _ := models.Parse(cfg.Model)
			train, err := data.Load(cfg.Dataset, data.Train)
			if err != nil {
				t.Fatal(err)
			}
			s := NewStepper(m, dt, train, nil, nil)
			var prev []float64
			replayIntervals(t, p, s, func(i int, c, next *proof.Checkpoint, st *State) {
				if i == 0 && !slices.Equal(c.Buffers, models.InitBuffers(m)) {
					t.Fatalf("checkpoint 0 buffers %v, want the initial ones", c.Buffers)
				}
				if slices.Equal(c.Buffers, prev) {
					t.Errorf("checkpoint %d: buffers did not move", c.Step)
				}
				prev = c.Buffers
				if !slices.Equal(st.Params, next.Params) || !slices.Equal(st.Momentum, next.Momentum) || !slices.Equal(st.Buffers, next.Buffers) {
					t.Errorf("interval %d: re-execution differs from checkpoint %d (buffers %v vs %v)", i, next.Step, st.Buffers, next.Buffers)
				}
			})

			last, err := p.Checkpoint(p.NumCheckpoints() - 1)
			if err != nil {
				t.Fatal(err)
			}
			test, err := data.Load(cfg.Dataset, data.Test)
			if err != nil {
				t.Fatal(err)
			}
			e := autodiff.NewEngine(m, dt, nil)
			acc, err := Accuracy(e, m, last.Params, last.Buffers, test)
			if err != nil {
				t.Fatal(err)
			}
			if acc != res.TestAccuracy || !slices.Equal(e.Buffers(), last.Buffers) {
				t.Errorf("accuracy %v on the final buffers (left %v), the proof's %v", acc, e.Buffers(), res.TestAccuracy)
			}
			// Eval mode really reads the buffers: other running statistics classify otherwise.
			other := slices.Clone(last.Buffers)
			for i := range other {
				other[i] *= 40
			}
			logits := func(buf []float64) []float64 {
				x := make([]float64, test.Dim())
				test.Features(0, x)
				if err := e.SetBuffers(buf); err != nil {
					t.Fatal(err)
				}
				out := make([]float64, m.Classes())
				if err := e.Logits(last.Params, x, out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if slices.Equal(logits(other), logits(last.Buffers)) {
				t.Error("eval-mode logits do not depend on the running statistics")
			}
			if _, err := Accuracy(e, m, last.Params, nil, test); err == nil || !strings.Contains(err.Error(), "buffer") {
				t.Errorf("accuracy without buffers: %v", err)
			}
		})
	}
}

// Resuming a proof with buffers restores them from the last checkpoint: the proof is the
// uninterrupted one, byte for byte.
func TestBufferedResumeGivesTheSameProof(t *testing.T) {
	cfg := bnConfig(autodiff.Float32)
	full := t.TempDir()
	if _, err := Train(context.Background(), cfg, full, Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Train(context.Background(), cfg, dir, Options{StopAfter: 6}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	if res, err := Train(context.Background(), cfg, dir, Options{Resume: true}); err != nil || res.ResumedFrom != 10 {
		t.Fatalf("resume: %v (from %v)", err, res)
	}
	sameProof(t, full, dir)
}

// bnStep is the f64 bnConfig's model, training set and one batch.
func bnStep(t *testing.T) (Config, models.Model, *data.Dataset, []int32) {
	cfg := bnConfig(autodiff.Float64)
	m, _ := models.Parse(cfg.Model)
	train, err := data.Load(cfg.Dataset, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, m, train, []int32{3, 1, 4, 1, 5, 9, 2, 6}
}

// Stepper.Gradient is an extra pass (an attacker's probe): it never changes the running
// statistics, so a Step after it is the same as a Step alone. A state without buffers for a
// model with them is an error, not a silent restart from the initial statistics.
func TestGradientNeverTrainsBuffers(t *testing.T) {
	cfg, m, train, batch := bnStep(t)
	step := func(probe bool) *State {
		s := NewStepper(m, cfg.DType, train, nil, nil)
		st := &State{LR: 0.1, Params: models.Init(m, 5), Buffers: models.InitBuffers(m)}
		x, y, err := s.Gather(batch, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if probe {
			if _, _, err := s.Gradient(st.Params, x, y, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Step(st, proof.Hyper{LR: 0.1}, batch, 0, false); err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b := step(false), step(true)
	if !slices.Equal(a.Params, b.Params) || !slices.Equal(a.Buffers, b.Buffers) {
		t.Error("a Gradient before the Step changed its result")
	}
	if slices.Equal(a.Buffers, models.InitBuffers(m)) {
		t.Error("Step did not update the running statistics")
	}
	s := NewStepper(m, cfg.DType, train, nil, nil)
	err := s.Step(&State{LR: 0.1, Params: models.Init(m, 5)}, proof.Hyper{LR: 0.1}, batch, 0, false)
	if err == nil || !strings.Contains(err.Error(), "16 buffer values (running statistics), state has 0") {
		t.Errorf("state without buffers: %v", err)
	}
}

// With micro-batches a BatchNorm model does what PyTorch's gradient accumulation does: each
// micro-batch is normalised by its own statistics and commits them to the running statistics
// in turn (M momentum updates per step); the gradient is the size-weighted sum.
func TestMicrobatchesCommitEveryMicroBatch(t *testing.T) {
	cfg, m, train, batch := bnStep(t)
	s := NewStepper(m, cfg.DType, train, nil, nil)
	s.Microbatches = 2
	st := &State{LR: 0.1, Params: models.Init(m, 5), Buffers: models.InitBuffers(m)}
	w0 := slices.Clone(st.Params)
	if err := s.Step(st, proof.Hyper{LR: 0.1}, batch, 0, false); err != nil {
		t.Fatal(err)
	}

	e := autodiff.NewEngine(m, cfg.DType, nil)
	if err := e.SetBuffers(models.InitBuffers(m)); err != nil {
		t.Fatal(err)
	}
	x, y, err := NewStepper(m, cfg.DType, train, nil, nil).Gather(batch, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(w0)
	g := make([]float64, len(w0))
	for j := range 2 {
		if _, err := e.TrainGrad(w0, x[j*4*16:(j+1)*4*16], y[j*4:(j+1)*4], g); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i] -= float64(0.1 * float64(0.5*g[i]))
		}
	}
	if !slices.Equal(st.Buffers, e.Buffers()) {
		t.Errorf("buffers after a 2-micro-batch step %v, want two commits %v", st.Buffers, e.Buffers())
	}
	var d float64
	for i := range want {
		d = max(d, abs(want[i]-st.Params[i]))
	}
	if d > 1e-15 {
		t.Errorf("parameters differ from the accumulated micro-batch gradients by %g", d)
	}
	whole := &State{LR: 0.1, Params: slices.Clone(w0), Buffers: models.InitBuffers(m)}
	if err := NewStepper(m, cfg.DType, train, nil, nil).Step(whole, proof.Hyper{LR: 0.1}, batch, 0, false); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(whole.Buffers) == fmt.Sprint(st.Buffers) {
		t.Error("micro-batches gave the whole batch's running statistics")
	}
}

func abs(x float64) float64 { return max(x, -x) }
