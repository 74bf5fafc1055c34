package autodiff

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
)

// bnOpCases are the fused BatchNorm2d ops (bn.go) on their own, on odd shapes (batch 1, one
// channel, non-square, 1×W): TestOpDerivativesMatchFiniteDifferences checks their first
// derivatives (their SymDiff) and second derivatives (the SymDiff of what their SymDiff
// built) against central differences. Each op gets its statistics inputs computed from x
// and g, as the family requires.
func bnOpCases() []opCase {
	var cases []opCase
	for _, xs := range [][]int{{1, 1, 3, 5}, {2, 3, 1, 7}, {3, 2, 2, 3}} {
		tag := fmt.Sprintf("%dx%dx%dx%d", xs[0], xs[1], xs[2], xs[3])
		c := []int{xs[1]}
		stats := func(x *gorgonia.Node) (*gorgonia.Node, error) { return newBNOp(bnStats, false, xs).apply(x) }
		// dx of the family: bnDX with its sums computed from x and g.
		dx := func(plain bool) func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
			return func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
				x, g := in[0], in[len(in)-1]
				s, err := stats(x)
				if err != nil {
					return nil, err
				}
				G, err := newBNOp(bnSumGX, false, xs).apply(x, s, g)
				if err != nil {
					return nil, err
				}
				S, err := newBNOp(bnSumG, false, xs).apply(g)
				if err != nil {
					return nil, err
				}
				if plain {
					return newBNOp(bnDX, true, xs).apply(x, s, g, G, S)
				}
				return newBNOp(bnDX, false, xs).apply(x, in[1], s, g, G, S)
			}
		}
		cases = append(cases,
			opCase{name: "bn-norm/" + tag, shapes: [][]int{xs, c, c}, diff: all(3), build: raw(func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
				s, err := stats(in[0])
				if err != nil {
					return nil, err
				}
				return newBNOp(bnNorm, false, xs).apply(in[0], in[1], in[2], s)
			})},
			opCase{name: "bn-norm-plain/" + tag, shapes: [][]int{xs}, diff: all(1), build: raw(func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
				s, err := stats(in[0])
				if err != nil {
					return nil, err
				}
				return newBNOp(bnNorm, true, xs).apply(in[0], s)
			})},
			opCase{name: "bn-sumgx/" + tag, shapes: [][]int{xs, xs}, diff: all(2), build: raw(func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
				s, err := stats(in[0])
				if err != nil {
					return nil, err
				}
				return newBNOp(bnSumGX, false, xs).apply(in[0], s, in[1])
			})},
			opCase{name: "bn-sumg/" + tag, shapes: [][]int{xs}, diff: all(1), build: raw(newBNOp(bnSumG, false, xs).apply)},
			opCase{name: "bn-dx/" + tag, shapes: [][]int{xs, c, xs}, diff: all(3), build: raw(dx(false))},
			opCase{name: "bn-dx-plain/" + tag, shapes: [][]int{xs, xs}, diff: all(2), build: raw(dx(true))},
		)
	}
	return cases
}

// composedBN is training-mode BatchNorm2d as pollab composed it before the fused ops
// (channel sums and broadcasts, elementwise ops, gorgonia's [C] arithmetic): mean = Σx/n,
// xc = x - mean, var = Σxc²/n, y = xc·(γ/√(var+ε)) + β. The reference for the fused ops.
func composedBN(b *Builder, in []Node) Node {
	x, gamma, beta := in[0], in[1], in[2]
	xs := x.Shape()
	n := float64(xs[0] * xs[2] * xs[3])
	d := bnDiff{xs: xs}
	mean := d.scale(d.op(bnSumG, false, x.n), 1/n)
	xc := d.ew(ewSub, x.n, d.bcast(mean))
	ve := d.add(d.scale(d.op(bnSumG, false, d.ew(ewSquare, xc)), 1/n), bnEps)
	var sd *gorgonia.Node
	if d.ok(ve) {
		sd = d.keep(gorgonia.Sqrt(ve))
	}
	y := d.ew(ewAdd, d.ew(ewMul, xc, d.bcast(d.div(gamma.n, sd))), d.bcast(beta.n))
	if d.err != nil {
		return b.fail("composedBN", d.err)
	}
	return Node{y}
}

// TestBatchNormMatchesComposition: the fused training-mode BatchNorm2d computes the output,
// the first derivatives and the second derivatives (through SymDiff of SymDiff) of the
// composed one, in float64 (to 1e-12; only the summation order differs), on odd shapes. In
// float32 the fused op (float64 sums, one rounding per element) is at least as close to the
// float64 result as the composition (float32 sums).
func TestBatchNormMatchesComposition(t *testing.T) {
	fused := func(b *Builder, in []Node) Node {
		c := in[0].Shape()[1]
		zero := Node{gorgonia.NewTensor(b.g, b.dt.gorgonia(), 1, gorgonia.WithShape(c), gorgonia.WithInit(gorgonia.Zeroes()))}
		return b.BatchNorm2d(in[0], in[1], in[2], zero, zero, true)
	}
	for _, xs := range [][]int{{1, 1, 3, 5}, {2, 3, 1, 7}, {4, 5, 6, 3}} {
		name := fmt.Sprintf("bn/%dx%dx%dx%d", xs[0], xs[1], xs[2], xs[3])
		t.Run(name, func(t *testing.T) {
			c := []int{xs[1]}
			mk := func(build func(b *Builder, in []Node) Node, dt DType) []float64 {
				// the same name: the same random inputs, R and V
				og := buildOpGraph(t, opCase{name: name, shapes: [][]int{xs, c, c}, diff: all(3), build: build}, dt)
				og.run(t, 0, -1, 0)
				out := nodeVals(t, og.y)
				for _, gs := range []gorgonia.Nodes{og.grads, og.grads2} {
					for _, g := range gs {
						out = append(out, nodeVals(t, g)...)
					}
				}
				return out
			}
			f64, c64 := mk(fused, Float64), mk(composedBN, Float64)
			if e := normRelErr(f64, c64); !(e <= 1e-12) {
				t.Errorf("float64: fused vs composed (output, gradients, second derivatives): relative error %.3g > 1e-12", e)
			}
			f32, c32 := mk(fused, Float32), mk(composedBN, Float32)
			ef, ec := normRelErr(f32, f64), normRelErr(c32, f64)
			t.Logf("float32 vs float64: fused %.3g, composed %.3g", ef, ec)
			if !(ef <= ec*1.01) {
				t.Errorf("float32: fused op %.3g from float64, composition %.3g", ef, ec)
			}
		})
	}
}
