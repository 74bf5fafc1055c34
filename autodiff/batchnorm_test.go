package autodiff_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"pollab/autodiff"
)

// bnNet is a small net with buffers: BatchNorm2d on the input (2 channels, 5×4), conv 3@3×3
// pad 1, ReLU, global average pool, linear 3→4. Buffers: running mean and variance [2].
type bnNet struct{}

func (bnNet) InputShape() []int       { return []int{2, 5, 4} }
func (bnNet) Classes() int            { return 4 }
func (bnNet) FLOPsPerSample() float64 { return 2 * (3 * 2 * 9 * 20) }
func (bnNet) Symbolic2nd() bool       { return true }
func (bnNet) ParamShapes() [][]int {
	return [][]int{{2}, {2}, {3, 2, 3, 3}, {3}, {4, 3}, {4}}
}
func (bnNet) BufferShapes() [][]int { return [][]int{{2}, {2}} }
func (bnNet) Forward(b *autodiff.Builder, x autodiff.Node, p []autodiff.Node) autodiff.Node {
	y := b.BatchNorm2d(x, p[0], p[1], b.Buffer(0), b.Buffer(1), b.Training())
	y = b.ReLU(b.Conv2d(y, p[2], p[3], 1, 1))
	return b.Linear(b.Flatten(b.GlobalAvgPool(y)), p[4], p[5])
}

func bnSetup(B int) (w, x []float64, y []int) {
	r := rand.New(rand.NewPCG(41, 42))
	w = make([]float64, 2+2+54+3+12+4)
	for i := range w {
		w[i] = r.NormFloat64() * 0.5
	}
	w[0], w[1] = 1.2, 0.8 // gamma
	x = make([]float64, B*40)
	for i := range x {
		x[i] = 2 + float64(3*r.Float64()) // rounded: no fused multiply-add on arm64
	}
	y = make([]int, B)
	for i := range y {
		y[i] = r.IntN(4)
	}
	return w, x, y
}

// channelStats is the per-channel mean and biased variance of x [B,2,5,4].
func channelStats(x []float64, B int) (mean, variance []float64) {
	mean, variance = make([]float64, 2), make([]float64, 2)
	for c := 0; c < 2; c++ {
		var s, s2 float64
		for b := 0; b < B; b++ {
			for _, v := range x[(b*2+c)*20 : (b*2+c+1)*20] {
				s += v
			}
		}
		m := s / float64(B*20)
		for b := 0; b < B; b++ {
			for _, v := range x[(b*2+c)*20 : (b*2+c+1)*20] {
				s2 += (v - m) * (v - m)
			}
		}
		mean[c], variance[c] = m, s2/float64(B*20)
	}
	return mean, variance
}

func TestBatchNormNetGradients(t *testing.T) {
	w, x, y := bnSetup(3)
	e := autodiff.NewEngine(bnNet{}, autodiff.Float64, nil)
	checkLossGrads(t, e, w, x, y, subset(len(w), 40, 1), subset(len(x), 40, 2))
	checkGradMatch(t, e, w, x, y, matchTarget(t, e, w, x, y), 20)
}

// TestBatchNormBuffers: only TrainGrad commits running statistics (PyTorch's update rule);
// LossGrad, InputGrad and GradMatch (both methods) leave them alone; Logits runs in eval
// mode on them.
func TestBatchNormBuffers(t *testing.T) {
	const B = 3
	w, x, y := bnSetup(B)
	for _, dt := range []autodiff.DType{autodiff.Float64, autodiff.Float32} {
		e := autodiff.NewEngine(bnNet{}, dt, nil)
		if err := e.Logits(w, x, make([]float64, B*4)); err == nil || !strings.Contains(err.Error(), "SetBuffers") {
			t.Fatalf("Logits before SetBuffers: err = %v", err)
		}
		if e.NumBuffers() != 4 {
			t.Fatalf("NumBuffers = %d", e.NumBuffers())
		}
		start := []float64{0.5, -0.25, 1, 2}
		if err := e.SetBuffers(start); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, len(w))
		gx := make([]float64, len(x))
		if _, err := e.LossGrad(w, x, y, g); err != nil {
			t.Fatal(err)
		}
		if _, err := e.InputGrad(w, x, y, gx); err != nil {
			t.Fatal(err)
		}
		for _, m := range []autodiff.SecondOrder{autodiff.Symbolic, autodiff.CentralDiff} {
			if _, err := e.GradMatch(m, w, x, y, g, make([]float64, len(w)), gx); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.Buffers(); !slices.Equal(got, start) {
			t.Fatalf("%v: buffers changed by extra passes: %v", dt, got)
		}
		if _, err := e.TrainGrad(w, x, y, g); err != nil {
			t.Fatal(err)
		}
		mean, variance := channelStats(x, B)
		n := float64(B * 20)
		want := []float64{
			0.9*start[0] + 0.1*mean[0], 0.9*start[1] + 0.1*mean[1],
			0.9*start[2] + 0.1*variance[0]*n/(n-1), 0.9*start[3] + 0.1*variance[1]*n/(n-1),
		}
		got := e.Buffers()
		tol := 1e-12
		if dt == autodiff.Float32 {
			tol = 1e-6
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > tol*math.Abs(want[i]) {
				t.Errorf("%v: buffer %d after TrainGrad = %v, want %v", dt, i, got[i], want[i])
			}
		}

		// Eval mode on running statistics equal to the batch's (biased variance) gives the
		// training-mode loss.
		if err := e.SetBuffers(append(append([]float64(nil), mean...), variance...)); err != nil {
			t.Fatal(err)
		}
		logits := make([]float64, B*4)
		if err := e.Logits(w, x, logits); err != nil {
			t.Fatal(err)
		}
		var ce float64
		for b := 0; b < B; b++ {
			row := logits[b*4 : b*4+4]
			m := slices.Max(row)
			var s float64
			for _, v := range row {
				s += math.Exp(v - m)
			}
			ce -= row[y[b]] - m - math.Log(s)
		}
		ce /= B
		train, err := e.LossGrad(w, x, y, g)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ce-train) > tol*math.Abs(train)+1e-12 {
			t.Errorf("%v: eval-mode loss on the batch statistics %v, training-mode loss %v", dt, ce, train)
		}
	}
}
