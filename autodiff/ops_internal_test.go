package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opCase is one op on small odd shapes: its inputs, which are differentiated, and how the
// output is built from them.
type opCase struct {
	name     string
	shapes   [][]int
	diff     []bool // inputs differentiated (the others are held fixed)
	positive []bool // inputs drawn in [0.5, 1.5) (variances)
	build    func(b *Builder, in []Node) Node
}

func raw(f func(in ...*gorgonia.Node) (*gorgonia.Node, error)) func(b *Builder, in []Node) Node {
	return func(b *Builder, in []Node) Node {
		ns := make([]*gorgonia.Node, len(in))
		for i, n := range in {
			ns[i] = n.n
		}
		return b.guard("raw", func() (*gorgonia.Node, error) { return f(ns...) })
	}
}

func all(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

func convCase(name string, xs, ws []int, stride, pad int, bias bool) opCase {
	shapes := [][]int{xs, ws}
	if bias {
		shapes = append(shapes, []int{ws[0]})
	}
	return opCase{name: name, shapes: shapes, diff: all(len(shapes)), build: func(b *Builder, in []Node) Node {
		var bn Node
		if bias {
			bn = in[2]
		}
		return b.Conv2d(in[0], in[1], bn, stride, pad)
	}}
}

func opCases() []opCase {
	gA := newConvGeom([]int{2, 3, 7, 6}, []int{4, 3, 3, 2}, 2, 1)
	gD := newConvGeom([]int{9, 1, 5, 4}, []int{2, 1, 2, 3}, 3, 0)
	pA := newPoolGeom([]int{2, 3, 5, 7}, 2, 2, 2, 0)
	pB := newPoolGeom([]int{1, 2, 6, 5}, 3, 3, 2, 1)
	cases := []opCase{
		convCase("conv/stride2-pad1-nonsquare-bias", []int{2, 3, 7, 6}, []int{4, 3, 3, 2}, 2, 1, true),
		convCase("conv/1x1-batch1", []int{1, 2, 5, 5}, []int{3, 2, 1, 1}, 1, 0, false),
		convCase("conv/pad2-bias", []int{3, 2, 6, 5}, []int{5, 2, 3, 3}, 1, 2, true),
		convCase("conv/stride3-batch9", []int{9, 1, 5, 4}, []int{2, 1, 2, 3}, 3, 0, false),
	}
	for _, g := range []convGeom{gA, gD} {
		cases = append(cases,
			opCase{name: fmt.Sprintf("conv-data/%dx%d-s%d", g.KH, g.KW, g.Stride), shapes: [][]int{g.yShape(), g.wShape()}, diff: all(2),
				build: raw(newConvOp(convData, g, false).apply)},
			opCase{name: fmt.Sprintf("conv-filter/%dx%d-s%d", g.KH, g.KW, g.Stride), shapes: [][]int{g.xShape(), g.yShape()}, diff: all(2),
				build: raw(newConvOp(convFilter, g, false).apply)})
	}
	for _, g := range []poolGeom{pA, pB} {
		tag := fmt.Sprintf("k%d-s%d-p%d", g.KH, g.Stride, g.Pad)
		cases = append(cases,
			opCase{name: "maxpool/" + tag, shapes: [][]int{g.xShape()}, diff: all(1), build: func(b *Builder, in []Node) Node {
				return b.MaxPool2dStrided(in[0], g.KH, g.Stride, g.Pad)
			}},
			opCase{name: "avgpool/" + tag, shapes: [][]int{g.xShape()}, diff: all(1), build: func(b *Builder, in []Node) Node {
				return b.AvgPool2d(in[0], g.KH, g.Stride, g.Pad)
			}},
			opCase{name: "maxgather/" + tag, shapes: [][]int{g.xShape(), g.xShape()}, diff: []bool{false, true},
				build: raw(newPoolOp(maxGather, g).apply)},
			opCase{name: "maxscatter/" + tag, shapes: [][]int{g.xShape(), g.yShape()}, diff: []bool{false, true},
				build: raw(newPoolOp(maxScatter, g).apply)},
			opCase{name: "avgscatter/" + tag, shapes: [][]int{g.yShape()}, diff: all(1),
				build: raw(newPoolOp(avgScatter, g).apply)})
	}
	bn := func(training bool) func(b *Builder, in []Node) Node {
		return func(b *Builder, in []Node) Node { return b.BatchNorm2d(in[0], in[1], in[2], in[3], in[4], training) }
	}
	c4 := []int{4}
	cases = append(cases,
		opCase{name: "globalavgpool", shapes: [][]int{{2, 3, 4, 5}}, diff: all(1), build: func(b *Builder, in []Node) Node {
			return b.GlobalAvgPool(in[0])
		}},
		opCase{name: "relu", shapes: [][]int{{3, 7}}, diff: all(1), build: func(b *Builder, in []Node) Node { return b.ReLU(in[0]) }},
		opCase{name: "relumask", shapes: [][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}, diff: []bool{false, true}, build: raw(newReluOp(true, []int{2, 3, 4, 5}).apply)},
		opCase{name: "chansum", shapes: [][]int{{2, 3, 4, 5}}, diff: all(1), build: raw(newChanOp(chanSum, []int{2, 3, 4, 5}, false).apply)},
		opCase{name: "chanbcast", shapes: [][]int{{3}}, diff: all(1), build: raw(newChanOp(chanBcast, []int{2, 3, 4, 5}, false).apply)},
		opCase{name: "add", shapes: [][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}, diff: all(2), build: func(b *Builder, in []Node) Node {
			return b.Add(in[0], in[1])
		}},
		opCase{name: "padchannels/s2-odd", shapes: [][]int{{2, 3, 5, 7}}, diff: all(1), build: func(b *Builder, in []Node) Node {
			return b.PadChannels(in[0], 2, 2, 1)
		}},
		opCase{name: "padchannels/s1", shapes: [][]int{{2, 3, 4, 5}}, diff: all(1), build: func(b *Builder, in []Node) Node {
			return b.PadChannels(in[0], 1, 1, 2)
		}},
		opCase{name: "padextract/s2-odd", shapes: [][]int{{2, 6, 3, 4}}, diff: all(1),
			build: raw(newPadOp(padExtract, padGeom{B: 2, C: 3, H: 5, W: 7, Stride: 2, Before: 2, After: 1}).apply)},
		opCase{name: "ew-add", shapes: [][]int{{2, 3, 5}, {2, 3, 5}}, diff: all(2), build: raw(newEWOp(ewAdd, []int{2, 3, 5}).apply)},
		opCase{name: "ew-sub", shapes: [][]int{{2, 3, 5}, {2, 3, 5}}, diff: all(2), build: raw(newEWOp(ewSub, []int{2, 3, 5}).apply)},
		opCase{name: "ew-mul", shapes: [][]int{{2, 3, 5}, {2, 3, 5}}, diff: all(2), build: raw(newEWOp(ewMul, []int{2, 3, 5}).apply)},
		opCase{name: "ew-neg", shapes: [][]int{{7}}, diff: all(1), build: raw(newEWOp(ewNeg, []int{7}).apply)},
		opCase{name: "ew-square", shapes: [][]int{{3, 4}}, diff: all(1), build: raw(newEWOp(ewSquare, []int{3, 4}).apply)},
		opCase{name: "ew-twice", shapes: [][]int{{3, 4}}, diff: all(1), build: raw(newEWOp(ewTwice, []int{3, 4}).apply)},
		opCase{name: "chansum-rows", shapes: [][]int{{5, 3}}, diff: all(1), build: raw(newChanOp(chanSum, []int{5, 3}, true).apply)},
		opCase{name: "chanbcast-rows", shapes: [][]int{{3}}, diff: all(1), build: raw(newChanOp(chanBcast, []int{5, 3}, true).apply)},
		opCase{name: "reshape", shapes: [][]int{{2, 3, 4}}, diff: all(1), build: raw(newReshapeOp([]int{2, 3, 4}, []int{2, 12}).apply)},
		opCase{name: "matmul", shapes: [][]int{{3, 4}, {4, 5}}, diff: all(2), build: raw(newMMOp(false, false, 3, 5, 4, false).apply)},
		opCase{name: "matmul-tB", shapes: [][]int{{3, 4}, {5, 4}}, diff: all(2), build: raw(newMMOp(false, true, 3, 5, 4, false).apply)},
		opCase{name: "matmul-tA", shapes: [][]int{{4, 3}, {4, 5}}, diff: all(2), build: raw(newMMOp(true, false, 3, 5, 4, false).apply)},
		opCase{name: "matmul-tAtB", shapes: [][]int{{4, 3}, {5, 4}}, diff: all(2), build: raw(newMMOp(true, true, 3, 5, 4, false).apply)},
		opCase{name: "linear", shapes: [][]int{{3, 7}, {5, 7}, {5}}, diff: all(3), build: func(b *Builder, in []Node) Node { return b.Linear(in[0], in[1], in[2]) }},
		opCase{name: "linear-batch1-wide", shapes: [][]int{{1, 19}, {21, 19}, {21}}, diff: all(3), build: func(b *Builder, in []Node) Node { return b.Linear(in[0], in[1], in[2]) }},
		opCase{name: "batchnorm/train", shapes: [][]int{{3, 4, 3, 2}, c4, c4, c4, c4}, diff: []bool{true, true, true, false, false},
			positive: []bool{false, false, false, false, true}, build: bn(true)},
		opCase{name: "batchnorm/train-batch1", shapes: [][]int{{1, 4, 3, 2}, c4, c4, c4, c4}, diff: []bool{true, true, true, false, false},
			positive: []bool{false, false, false, false, true}, build: bn(true)},
		opCase{name: "batchnorm/eval", shapes: [][]int{{2, 4, 3, 2}, c4, c4, c4, c4}, diff: all(5),
			positive: []bool{false, false, false, false, true}, build: bn(false)},
	)
	return append(cases, bnOpCases()...)
}

// opGraph is a case built into a graph: L = Σ R⊙y² (quadratic, so that every op has a
// non-zero second derivative), its gradients w.r.t. the differentiated inputs, S = Σ_i
// <∂L/∂in_i, V_i> and the gradients of S (second order).
type opGraph struct {
	vals          [][]float64
	y, l, s       *gorgonia.Node
	grads, grads2 gorgonia.Nodes
	wrt           []int
	vm            testVM
}

func buildOpGraph(t *testing.T, c opCase, dt DType) *opGraph {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(len(c.name))))
	g := gorgonia.NewGraph()
	og := &opGraph{}
	b := &Builder{g: g, dt: dt}
	in := make([]Node, len(c.shapes))
	var leaves gorgonia.Nodes
	leaf := func(name string, s []int, v []float64) *gorgonia.Node {
		var back any = v
		if dt == Float32 {
			f := make([]float32, len(v))
			for i, x := range v {
				f[i] = float32(x)
			}
			back = f
		}
		n := gorgonia.NewTensor(g, dt.gorgonia(), len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
			gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(back))))
		leaves = append(leaves, n)
		return n
	}
	randv := func(n int, pos bool) []float64 {
		v := make([]float64, n)
		for i := range v {
			if pos {
				v[i] = 0.5 + r.Float64()
			} else {
				v[i] = r.NormFloat64()
			}
		}
		return v
	}
	for i, s := range c.shapes {
		og.vals = append(og.vals, randv(tensor.Shape(s).TotalSize(), c.positive != nil && c.positive[i]))
		in[i] = Node{leaf(fmt.Sprintf("in%d", i), s, og.vals[i])}
		if c.diff[i] {
			og.wrt = append(og.wrt, i)
		}
	}
	y := c.build(b, in)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	og.y = y.n
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	rn := leaf("R", y.Shape(), randv(tensor.Shape(y.Shape()).TotalSize(), false))
	og.l = must(gorgonia.Sum(must(gorgonia.HadamardProd(must(gorgonia.Square(y.n)), rn))))
	var wrt gorgonia.Nodes
	for _, i := range og.wrt {
		wrt = append(wrt, in[i].n)
	}
	var err error
	if og.grads, err = gorgonia.Grad(og.l, wrt...); err != nil {
		t.Fatal(err)
	}
	for k, gn := range og.grads {
		v := leaf(fmt.Sprintf("V%d", k), gn.Shape(), randv(gn.Shape().TotalSize(), false))
		term := must(gorgonia.Sum(must(gorgonia.HadamardProd(gn, v))))
		if og.s == nil {
			og.s = term
		} else {
			og.s = must(gorgonia.Add(og.s, term))
		}
	}
	if err := resetDerivs(g); err != nil {
		t.Fatal(err)
	}
	if og.grads2, err = gorgonia.Grad(og.s, wrt...); err != nil {
		t.Fatal(err)
	}
	// Compile with every value read afterwards as an output, so no register holding one is
	// reused by a later op.
	outs := append(gorgonia.Nodes{og.l, og.s, og.y}, og.grads...)
	outs = append(outs, og.grads2...)
	og.vm = compileTest(t, outs)
	return og
}

// testVM runs a test graph on the engine's executor and binds every value to its node
// after each run, so that tests read them with Node.Value.
type testVM struct{ ex *executor }

func (v testVM) RunAll() error {
	if err := v.ex.run(); err != nil {
		return err
	}
	for n, s := range v.ex.slot {
		if n.Op() != nil {
			if err := gorgonia.UnsafeLet(n, v.ex.vals[s]); err != nil {
				return err
			}
		}
	}
	return nil
}

// compileTest prepares g's ops that outs depend on (on the leaves' bound values) for the
// executor, as the engine does.
func compileTest(t *testing.T, outs gorgonia.Nodes) testVM {
	t.Helper()
	ex, err := newExecutor(outs)
	if err != nil {
		t.Fatal(err)
	}
	return testVM{ex}
}

// run executes the graph with input i's element j set to v (j < 0: unchanged), in float64.
func (og *opGraph) run(t *testing.T, i, j int, v float64) {
	t.Helper()
	if j >= 0 {
		og.vals[i][j] = v
	}
	if err := og.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}

func nodeVals(t *testing.T, n *gorgonia.Node) []float64 {
	t.Helper()
	out := make([]float64, n.Shape().TotalSize())
	if _, err := readValue(n.Value(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func scalarVal(t *testing.T, n *gorgonia.Node) float64 {
	t.Helper()
	v, err := readValue(n.Value(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// normRelErr is |a-b|₂ / max(|b|₂, tiny), a norm-based relative error.
func normRelErr(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d) / math.Max(math.Sqrt(n), 1e-300)
}

// TestOpDerivativesMatchFiniteDifferences checks, for every op on odd shapes (stride 2 and
// 3, padding, 1×1, non-square kernels, batch 1, batch 9 > convChunk), in float64: the first
// derivatives of L against central differences of L, and the second derivatives (the
// gradient of S = <∂L/∂in, V>, built by differentiating the ops' SymDiff outputs) against
// central differences of S.
func TestOpDerivativesMatchFiniteDifferences(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			og := buildOpGraph(t, c, Float64)
			og.run(t, 0, -1, 0)
			var g1, g2, fd1, fd2 []float64
			var a1s, a2s [][]float64 // read before any perturbed run
			for k := range og.wrt {
				a1s, a2s = append(a1s, nodeVals(t, og.grads[k])), append(a2s, nodeVals(t, og.grads2[k]))
			}
			for k, i := range og.wrt {
				a1, a2 := a1s[k], a2s[k]
				r := rand.New(rand.NewPCG(3, uint64(i)))
				n := len(og.vals[i])
				idx := r.Perm(n)[:min(n, 12)]
				for _, j := range idx {
					const h1, h2 = 1e-6, 1e-5
					orig := og.vals[i][j]
					og.run(t, i, j, orig+h1)
					lp := scalarVal(t, og.l)
					og.run(t, i, j, orig-h1)
					lm := scalarVal(t, og.l)
					og.run(t, i, j, orig+h2)
					sp := scalarVal(t, og.s)
					og.run(t, i, j, orig-h2)
					sm := scalarVal(t, og.s)
					og.vals[i][j] = orig
					g1, g2 = append(g1, a1[j]), append(g2, a2[j])
					fd1, fd2 = append(fd1, (lp-lm)/(2*h1)), append(fd2, (sp-sm)/(2*h2))
				}
				t.Logf("input %d: %.3g %.3g", i, normRelErr(g1[len(g1)-len(idx):], fd1[len(g1)-len(idx):]), normRelErr(g2[len(g1)-len(idx):], fd2[len(g1)-len(idx):]))
			}
			e1, e2 := normRelErr(g1, fd1), normRelErr(g2, fd2)
			t.Logf("first derivatives: relative error %.2g; second derivatives: %.2g", e1, e2)
			if !(e1 <= 1e-6) {
				t.Errorf("first derivatives vs central differences: relative error %.3g > 1e-6", e1)
			}
			if !(e2 <= 1e-6) {
				t.Errorf("second derivatives vs central differences of first derivatives: relative error %.3g > 1e-6", e2)
			}
		})
	}
}
