package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ceBits runs the cross-entropy of logits z [B,K] against labels and its gradient dL/dz,
// built as pollab's fused ops or (composition) from gorgonia's ops as the second-order
// programs build it, and returns the loss and gradient bits.
func ceBits(t *testing.T, dt DType, composition bool, z []float64, labels []int, B, K int) []uint64 {
	t.Helper()
	g := gorgonia.NewGraph()
	b := &Builder{g: g, dt: dt, bounds: map[*gorgonia.Node]bound{}, secondOrder: composition}
	leaf := func(name string, v []float64) *gorgonia.Node {
		buf := newBuffer(dt, len(v))
		buf.set(v)
		return gorgonia.NewTensor(g, dt.gorgonia(), 2, gorgonia.WithShape(B, K), gorgonia.WithName(name),
			gorgonia.WithValue(tensor.New(tensor.WithShape(B, K), tensor.WithBacking(buf.backing()))))
	}
	y := make([]float64, B*K)
	for i, c := range labels {
		y[i*K+c] = 1
	}
	zn := leaf("z", z)
	l := b.crossEntropy(Node{zn}, Node{leaf("y", y)})
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	dz, err := gorgonia.Grad(l.n, zn)
	if err != nil {
		t.Fatal(err)
	}
	vm := compileTest(t, gorgonia.Nodes{l.n, dz[0]})
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := []float64{scalarVal(t, l.n)}
	out = append(out, nodeVals(t, dz[0])...)
	bits := make([]uint64, len(out))
	for i, v := range out {
		bits[i] = math.Float64bits(v)
	}
	return bits
}

// TestCrossEntropyOpMatchesComposition: the fused cross-entropy op and its gradient give
// the bits of gorgonia's composition, on logits that probe every order and sign rule:
// tied maxima, rows of +0 and -0, large magnitudes, a single class, batch 1.
func TestCrossEntropyOpMatchesComposition(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	negZero := math.Copysign(0, -1)
	cases := []struct {
		B, K   int
		z      []float64
		labels []int
	}{
		{1, 4, []float64{1, 3, 3, 0}, []int{2}},
		{3, 3, []float64{negZero, 0, negZero, 0, 0, 0, negZero, negZero, negZero}, []int{0, 1, 2}},
		{2, 3, []float64{80, -80, 79.5, -60, -60.25, -61}, []int{1, 0}},
		{4, 1, []float64{0.5, -2, 7, negZero}, []int{0, 0, 0, 0}},
	}
	for _, K := range []int{4, 10} {
		B := 13
		z, labels := make([]float64, B*K), make([]int, B)
		for i := range z {
			z[i] = 3 * r.NormFloat64()
		}
		copy(z[K:2*K], z[:K]) // a repeated row
		z[2*K+1] = z[2*K]     // ties inside a row
		for i := range labels {
			labels[i] = r.IntN(K)
		}
		cases = append(cases, struct {
			B, K   int
			z      []float64
			labels []int
		}{B, K, z, labels})
	}
	for i, c := range cases {
		for _, dt := range []DType{Float32, Float64} {
			t.Run(fmt.Sprintf("%d/%v", i, dt), func(t *testing.T) {
				got := ceBits(t, dt, false, c.z, c.labels, c.B, c.K)
				want := ceBits(t, dt, true, c.z, c.labels, c.B, c.K)
				for j := range want {
					if got[j] != want[j] {
						t.Fatalf("value %d (0 = loss, then dL/dz): %v, composition %v", j,
							math.Float64frombits(got[j]), math.Float64frombits(want[j]))
					}
				}
			})
		}
	}
}

// TestCrossEntropyGradIsFirstOrder: differentiating the fused gradient fails with an error
// instead of building a wrong second derivative.
func TestCrossEntropyGradIsFirstOrder(t *testing.T) {
	g := gorgonia.NewGraph()
	z := gorgonia.NewMatrix(g, gorgonia.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("z"))
	y := gorgonia.NewMatrix(g, gorgonia.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("y"))
	l, err := newCEOp(false, 2, 3).apply(z, y)
	if err != nil {
		t.Fatal(err)
	}
	dz, err := gorgonia.Grad(l, z)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gorgonia.Sum(dz[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := resetDerivs(g); err != nil {
		t.Fatal(err)
	}
	if _, err := gorgonia.Grad(s, z); err == nil {
		t.Fatal("second derivative through the fused cross-entropy gradient: no error")
	}
}
