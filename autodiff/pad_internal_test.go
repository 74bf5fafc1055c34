package autodiff

import (
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// forwardOnly runs build on one leaf holding x (rounded to dt) and returns the output.
func forwardOnly(t *testing.T, dt DType, xs []int, x []float64, build func(b *Builder, x Node) Node) []float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	b := &Builder{g: g, dt: dt}
	buf := newBuffer(dt, len(x))
	buf.set(x)
	leaf := gorgonia.NewTensor(g, dt.gorgonia(), len(xs), gorgonia.WithShape(xs...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(xs...), tensor.WithBacking(buf.backing()))))
	y := build(b, Node{leaf})
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	vm := compileTest(t, gorgonia.Nodes{y.n})
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return nodeVals(t, y.n)
}

// TestPadChannelsValues: PadChannels is x[:, :, ::s, ::s] between zero channels, exactly, in
// both dtypes, and its subsample is MaxPool2d with kernel 1 (the other way to write it).
func TestPadChannelsValues(t *testing.T) {
	xs := []int{2, 3, 5, 7}
	const s, before, after = 2, 2, 1
	r := rand.New(rand.NewPCG(1, 2))
	x0 := make([]float64, 2*3*5*7)
	for i := range x0 {
		x0[i] = r.NormFloat64()
	}
	for _, dt := range []DType{Float64, Float32} {
		x := slices.Clone(x0)
		dt.Round(x)
		got := forwardOnly(t, dt, xs, x, func(b *Builder, x Node) Node { return b.PadChannels(x, s, before, after) })
		var want []float64
		for b := 0; b < xs[0]; b++ {
			for c := -before; c < xs[1]+after; c++ {
				for i := 0; i < xs[2]; i += s {
					for j := 0; j < xs[3]; j += s {
						v := 0.0
						if c >= 0 && c < xs[1] {
							v = x[((b*xs[1]+c)*xs[2]+i)*xs[3]+j]
						}
						want = append(want, v)
					}
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v: PadChannels(x, %d, %d, %d) = %v, want %v", dt, s, before, after, got, want)
		}
		pool := forwardOnly(t, dt, xs, x, func(b *Builder, x Node) Node { return b.MaxPool2dStrided(x, 1, s, 0) })
		sub := forwardOnly(t, dt, xs, x, func(b *Builder, x Node) Node { return b.PadChannels(x, s, 0, 0) })
		if !slices.Equal(pool, sub) {
			t.Errorf("%v: MaxPool2d(kernel 1, stride %d) = %v, PadChannels subsample %v", dt, s, pool, sub)
		}
	}
}
