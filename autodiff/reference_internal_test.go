package autodiff

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// fixtureValue is scripts/torch_op_fixtures.py's input formula: exact binary fractions.
func fixtureValue(seed, i int) float64 {
	return float64((i*7919+seed*104729)%2001-1000) / 512
}

func fixtureTensor(seed int, shape []int, positive bool) []float64 {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = fixtureValue(seed, i)
		if positive {
			v[i] = max(v[i], -v[i]) + 0.5
		}
	}
	return v
}

// refGraph evaluates build on float64 inputs (named, in order) and returns its output and
// the gradients of L = Σ y⊙R (R = fixture seed 99) w.r.t. the inputs named in wrt; stats,
// when the build records batch-norm statistics, are their values.
type refResult struct {
	y     []float64
	grads map[string][]float64
	stats [][2][]float64 // per training-mode BatchNorm2d: mean, biased variance
}

type refInput struct {
	name  string
	shape []int
	val   []float64
	diff  bool
}

// weightedSum is L = Σ r⊙y, r first: gorgonia's elementwise ops may overwrite their first
// operand in place once it has no later reader, program output or not.
func weightedSum(t *testing.T, r, y *gorgonia.Node) *gorgonia.Node {
	t.Helper()
	prod, err := gorgonia.HadamardProd(r, y)
	if err != nil {
		t.Fatal(err)
	}
	l, err := gorgonia.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func refGraph(t *testing.T, ins []refInput, build func(b *Builder, in []Node) Node) refResult {
	t.Helper()
	g := gorgonia.NewGraph()
	b := &Builder{g: g, dt: Float64}
	nodes := make([]Node, len(ins))
	var leaves, wrt gorgonia.Nodes
	var names []string
	mk := func(name string, s []int, v []float64) *gorgonia.Node {
		n := gorgonia.NewTensor(g, gorgonia.Float64, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
			gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(v))))
		leaves = append(leaves, n)
		return n
	}
	for i, in := range ins {
		nodes[i] = Node{mk(in.name, in.shape, in.val)}
		if in.diff {
			wrt, names = append(wrt, nodes[i].n), append(names, in.name)
		}
	}
	y := build(b, nodes)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	l := weightedSum(t, mk("R", y.Shape(), fixtureTensor(99, y.Shape(), false)), y.n)
	var grads gorgonia.Nodes
	if len(wrt) > 0 {
		var err error
		if grads, err = gorgonia.Grad(l, wrt...); err != nil {
			t.Fatal(err)
		}
	}
	outs := append(gorgonia.Nodes{y.n, l}, grads...)
	for _, st := range b.stats {
		outs = append(outs, st.stats)
	}
	vm := compileTest(t, outs)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := refResult{y: nodeVals(t, y.n), grads: map[string][]float64{}}
	for i, gn := range grads {
		res.grads[names[i]] = nodeVals(t, gn)
	}
	for _, st := range b.stats {
		v := nodeVals(t, st.stats)
		res.stats = append(res.stats, [2][]float64{v[:len(v)/2], v[len(v)/2:]})
	}
	return res
}

type torchCase struct {
	Name   string
	Op     string
	Params struct {
		Stride, Pad, Kernel int
		Training            bool
	}
	Inputs map[string]struct {
		Seed     int
		Shape    []int
		Positive bool
	}
	Output      []float64
	Grads       map[string][]float64
	RunningMean []float64 `json:"running_mean"`
	RunningVar  []float64 `json:"running_var"`
}

// TestOpsMatchPyTorch compares outputs and gradients of every op with PyTorch 1.13's, in
// float64 (autodiff/testdata/torch_ops.json, written by scripts/torch_op_fixtures.py), and
// the running statistics BatchNorm2d commits with PyTorch's after one training-mode step.
func TestOpsMatchPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_ops.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []torchCase }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 13 {
		t.Fatalf("%d fixture cases, want 13", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			in := func(name string, diff bool) refInput {
				s, ok := c.Inputs[name]
				if !ok {
					t.Fatalf("fixture has no input %q", name)
				}
				return refInput{name, s.Shape, fixtureTensor(s.Seed, s.Shape, s.Positive), diff}
			}
			var ins []refInput
			var build func(b *Builder, in []Node) Node
			p := c.Params
			switch c.Op {
			case "conv":
				ins = []refInput{in("x", true), in("w", true)}
				if _, ok := c.Inputs["b"]; ok {
					ins = append(ins, in("b", true))
				}
				build = func(b *Builder, n []Node) Node {
					var bias Node
					if len(n) > 2 {
						bias = n[2]
					}
					return b.Conv2d(n[0], n[1], bias, p.Stride, p.Pad)
				}
			case "maxpool", "avgpool", "globalavgpool":
				ins = []refInput{in("x", true)}
				build = func(b *Builder, n []Node) Node {
					switch c.Op {
					case "maxpool":
						return b.MaxPool2dStrided(n[0], p.Kernel, p.Stride, p.Pad)
					case "avgpool":
						return b.AvgPool2d(n[0], p.Kernel, p.Stride, p.Pad)
					}
					return b.GlobalAvgPool(n[0])
				}
			case "batchnorm":
				ch := c.Inputs["x"].Shape[1]
				ins = []refInput{in("x", true), in("gamma", true), in("beta", true),
					{"rm", []int{ch}, fixtureTensor(7, []int{ch}, false), false},
					{"rv", []int{ch}, fixtureTensor(8, []int{ch}, true), false}}
				build = func(b *Builder, n []Node) Node { return b.BatchNorm2d(n[0], n[1], n[2], n[3], n[4], p.Training) }
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			res := refGraph(t, ins, build)
			check := func(what string, got, want []float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, PyTorch %d", what, len(got), len(want))
				}
				rel := normRelErr(got, want)
				t.Logf("%s vs PyTorch: relative error %.2g", what, rel)
				if !(rel <= 1e-12) {
					t.Errorf("%s vs PyTorch: relative error %.3g > 1e-12", what, rel)
				}
			}
			check("output", res.y, c.Output)
			for _, in := range ins {
				if in.diff {
					check("gradient w.r.t. "+in.name, res.grads[in.name], c.Grads[in.name])
				}
			}
			if c.Op == "batchnorm" && p.Training {
				if len(res.stats) != 1 {
					t.Fatalf("%d recorded statistics, want 1", len(res.stats))
				}
				n := float64(tensor.Shape(c.Inputs["x"].Shape).TotalSize() / c.Inputs["x"].Shape[1])
				rm, rv := ins[3].val, ins[4].val
				commitStats(rm, res.stats[0][0], 1)
				commitStats(rv, res.stats[0][1], n/(n-1))
				check("running mean", rm, c.RunningMean)
				check("running variance", rv, c.RunningVar)
			}
		})
	}
}

// TestOpsMatchGorgonia compares the conv and max-pool outputs and first-order gradients with
// gorgonia's own Conv2d and MaxPool2D (first order is all they get right), in float64.
// gorgonia's BatchNorm is not compared: in a compiled tape machine its training-mode output
// differed from PyTorch's (and ours, which matches PyTorch to 1e-12) by 67%.
func TestOpsMatchGorgonia(t *testing.T) {
	type pair struct {
		name        string
		ins         []refInput
		own, theirs func(b *Builder, in []Node) Node
		bitwise     bool // the same bits, signed zeros included
	}
	wrap := func(f func(in []*gorgonia.Node) (*gorgonia.Node, error)) func(b *Builder, in []Node) Node {
		return func(b *Builder, in []Node) Node {
			ns := make([]*gorgonia.Node, len(in))
			for i, n := range in {
				ns[i] = n.n
			}
			return b.guard("gorgonia", func() (*gorgonia.Node, error) { return f(ns) })
		}
	}
	input := func(name string, seed int, shape []int, diff bool) refInput {
		return refInput{name, shape, fixtureTensor(seed, shape, false), diff}
	}
	var pairs []pair
	for _, c := range []struct {
		xs, ws      []int
		stride, pad int
	}{{[]int{2, 3, 7, 7}, []int{4, 3, 3, 3}, 2, 1}, {[]int{1, 2, 5, 5}, []int{3, 2, 1, 1}, 1, 0}, {[]int{3, 4, 9, 9}, []int{6, 4, 5, 5}, 1, 2}} {
		c := c
		pairs = append(pairs, pair{
			name: fmt.Sprintf("conv%v-s%d-p%d", c.ws, c.stride, c.pad),
			ins:  []refInput{input("x", 1, c.xs, true), input("w", 2, c.ws, true), input("b", 3, c.ws[:1], true)},
			own:  func(b *Builder, n []Node) Node { return b.Conv2d(n[0], n[1], n[2], c.stride, c.pad) },
			theirs: wrap(func(n []*gorgonia.Node) (*gorgonia.Node, error) {
				y, err := gorgonia.Conv2d(n[0], n[1], tensor.Shape{c.ws[2], c.ws[3]}, []int{c.pad, c.pad}, []int{c.stride, c.stride}, []int{1, 1})
				if err != nil {
					return nil, err
				}
				col, err := gorgonia.Reshape(n[2], tensor.Shape{1, c.ws[0], 1, 1})
				if err != nil {
					return nil, err
				}
				return gorgonia.BroadcastAdd(y, col, nil, []byte{0, 2, 3})
			}),
		})
	}
	for _, xs := range [][]int{{2, 3, 6, 8}, {1, 2, 5, 7}} {
		pairs = append(pairs, pair{
			name: fmt.Sprintf("maxpool2%v", xs),
			ins:  []refInput{input("x", 4, xs, true)},
			own:  func(b *Builder, n []Node) Node { return b.MaxPool2d(n[0], 2) },
			theirs: wrap(func(n []*gorgonia.Node) (*gorgonia.Node, error) {
				return gorgonia.MaxPool2D(n[0], tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
			}),
		})
	}
	pairs = append(pairs, pair{
		name:    "relu",
		ins:     []refInput{{"x", []int{3, 4, 5}, append(fixtureTensor(4, []int{3, 4, 5}, false)[:58], 0, math.Copysign(0, -1)), true}},
		own:     func(b *Builder, n []Node) Node { return b.ReLU(n[0]) },
		theirs:  wrap(func(n []*gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Rectify(n[0]) }),
		bitwise: true,
	})
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			own, theirs := refGraph(t, p.ins, p.own), refGraph(t, p.ins, p.theirs)
			if p.bitwise {
				same := func(a, b []float64) bool {
					for i := range a {
						if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
							return false
						}
					}
					return len(a) == len(b)
				}
				if !same(own.y, theirs.y) {
					t.Errorf("output bits differ from gorgonia's")
				}
				for name, g := range theirs.grads {
					if !same(own.grads[name], g) {
						t.Errorf("gradient w.r.t. %s: bits differ from gorgonia's", name)
					}
				}
			}
			if rel := normRelErr(own.y, theirs.y); !(rel <= 1e-12) {
				t.Errorf("output vs gorgonia: relative error %.3g", rel)
			}
			for name, g := range theirs.grads {
				rel := normRelErr(own.grads[name], g)
				t.Logf("gradient w.r.t. %s vs gorgonia: relative error %.2g", name, rel)
				if !(rel <= 1e-12) {
					t.Errorf("gradient w.r.t. %s vs gorgonia: relative error %.3g", name, rel)
				}
			}
		})
	}
}

// TestReluMaskBits: the branch-free mask of runRelu is gorgonia's (x >= 0) in both dtypes,
// at ±0, the smallest subnormals and ±Inf included.
func TestReluMaskBits(t *testing.T) {
	xs := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 1e-45, -1e-45, 1, -1, 3.5, -2.25, math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64}
	gs := make([]float64, len(xs))
	for i := range gs {
		gs[i] = float64(i) - 6.5
	}
	x32, g32 := make([]float32, len(xs)), make([]float32, len(xs))
	for i := range xs {
		x32[i], g32[i] = float32(xs[i]), float32(gs[i])
	}
	out64, out32 := make([]float64, len(xs)), make([]float32, len(xs))
	runRelu(&reluState{}, []tensor.Tensor{tensor.New(tensor.WithBacking(xs)), tensor.New(tensor.WithBacking(gs))}, out64)
	runRelu(&reluState{}, []tensor.Tensor{tensor.New(tensor.WithBacking(x32)), tensor.New(tensor.WithBacking(g32))}, out32)
	for i := range xs {
		m64, m32 := 0.0, float32(0)
		if xs[i] >= 0 {
			m64 = 1
		}
		if x32[i] >= 0 {
			m32 = 1
		}
		if want := gs[i] * m64; math.Float64bits(out64[i]) != math.Float64bits(want) {
			t.Errorf("float64 x=%v: %v, want %v", xs[i], out64[i], want)
		}
		if want := g32[i] * m32; math.Float32bits(out32[i]) != math.Float32bits(want) {
			t.Errorf("float32 x=%v: %v, want %v", x32[i], out32[i], want)
		}
	}
}
