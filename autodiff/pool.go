package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The pooling families, each closed under SymDiff:
//
//	max:  y = maxPool(x) = gather(x, x); gather(x, v) picks v at x's window argmax;
//	      scatter(x, g) adds g back at x's window argmax. gather(x, ·) and scatter(x, ·) are
//	      adjoint linear maps, so each differentiates into the other; the argmax is recomputed
//	      from x (no mask state), and neither is differentiated w.r.t. x (piecewise constant).
//	avg:  y = avgPool(x) and avgScatter(g) spreading g/(kh·kw) over each window, adjoint.
//
// Windows follow PyTorch: floor mode, zero padding counted in the average
// (count_include_pad), padding never the max, ties to the first maximum in scan order.
// Planes (b, c) are independent outputs and run in parallel.

type poolGeom struct {
	B, C, H, W  int
	KH, KW      int
	Stride, Pad int
	OH, OW      int
}

func newPoolGeom(xs []int, kh, kw, stride, pad int) poolGeom {
	g := poolGeom{B: xs[0], C: xs[1], H: xs[2], W: xs[3], KH: kh, KW: kw, Stride: stride, Pad: pad}
	g.OH = (g.H+2*pad-kh)/stride + 1
	g.OW = (g.W+2*pad-kw)/stride + 1
	return g
}

func (g poolGeom) xShape() []int { return []int{g.B, g.C, g.H, g.W} }
func (g poolGeom) yShape() []int { return []int{g.B, g.C, g.OH, g.OW} }

type poolKind uint8

const (
	maxPool    poolKind = iota // (x) → y
	maxGather                  // (x, v) → y
	maxScatter                 // (x, g) → dx
	avgPool                    // (x) → y
	avgScatter                 // (g) → dx
)

func (k poolKind) String() string {
	return [...]string{"MaxPool2d", "MaxPoolGather", "MaxPoolScatter", "AvgPool2d", "AvgPoolScatter"}[k]
}

type poolOp struct {
	ownedOp
	kind poolKind
	g    poolGeom
}

func newPoolOp(kind poolKind, g poolGeom) poolOp {
	op := poolOp{kind: kind, g: g}
	ins, out := op.shapes()
	op.out = newOwned(op.String(), out, ins...)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runPool(op, ts, out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runPool(op, ts, out) }
	return op
}

func (op poolOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

// shapes returns the input shapes and the output shape.
func (op poolOp) shapes() ([][]int, []int) {
	x, y := op.g.xShape(), op.g.yShape()
	switch op.kind {
	case maxGather:
		return [][]int{x, x}, y
	case maxScatter:
		return [][]int{x, y}, x
	case avgScatter:
		return [][]int{y}, x
	}
	return [][]int{x}, y
}

func (op poolOp) String() string { return fmt.Sprintf("pollab.%v%+v", op.kind, op.g) }

func runPool[T float](op poolOp, ts []tensor.Tensor, out []T) {
	g := op.g
	hw, ohw := g.H*g.W, g.OH*g.OW
	a := data[T](ts[0])
	var b []T
	if len(ts) > 1 {
		b = data[T](ts[1])
	}
	inv := 1 / T(g.KH*g.KW)
	parallel(g.B*g.C, func(_, p int) {
		switch op.kind {
		case maxPool, maxGather:
			x, y, v := a[p*hw:(p+1)*hw], out[p*ohw:(p+1)*ohw], a[p*hw:(p+1)*hw]
			if op.kind == maxGather {
				v = b[p*hw : (p+1)*hw]
			}
			for o := range y {
				y[o] = v[argmax(g, x, o)]
			}
		case maxScatter:
			x, gy, dx := a[p*hw:(p+1)*hw], b[p*ohw:(p+1)*ohw], out[p*hw:(p+1)*hw]
			clear(dx)
			for o, v := range gy {
				dx[argmax(g, x, o)] += v
			}
		case avgPool:
			x, y := a[p*hw:(p+1)*hw], out[p*ohw:(p+1)*ohw]
			for o := range y {
				i0, i1, j0, j1 := g.window(o)
				var s T
				for i := i0; i < i1; i++ {
					for _, v := range x[i*g.W+j0 : i*g.W+j1] {
						s += v
					}
				}
				y[o] = s * inv
			}
		case avgScatter:
			gy, dx := a[p*ohw:(p+1)*ohw], out[p*hw:(p+1)*hw]
			clear(dx)
			for o, v := range gy {
				d := T(v * inv)
				i0, i1, j0, j1 := g.window(o)
				for i := i0; i < i1; i++ {
					row := dx[i*g.W+j0 : i*g.W+j1]
					for j := range row {
						row[j] += d
					}
				}
			}
		}
	})
}

// b2i is 1 for true, else 0 (compiled without a branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// window returns the in-bounds input rows [i0,i1) and columns [j0,j1) of output position o.
func (g poolGeom) window(o int) (i0, i1, j0, j1 int) {
	ih, iw := o/g.OW*g.Stride-g.Pad, o%g.OW*g.Stride-g.Pad
	return max(ih, 0), min(ih+g.KH, g.H), max(iw, 0), min(iw+g.KW, g.W)
}

// argmax is the plane index of the first maximum of x in output position o's window, in
// scan order.
func argmax[T float](g poolGeom, x []T, o int) int {
	if g.KH == 2 && g.KW == 2 && g.Stride == 2 && g.Pad == 0 { // LeNet's and cnn-cifar's pools
		// Branch-free: the first maximum of each row pair, then of the two (ties to the
		// earlier element, as in the scan below).
		i := o/g.OW*2*g.W + o%g.OW*2
		top := i + b2i(x[i+1] > x[i])
		bot := i + g.W + b2i(x[i+g.W+1] > x[i+g.W])
		return top + b2i(x[bot] > x[top])*(bot-top)
	}
	i0, i1, j0, j1 := g.window(o)
	best := i0*g.W + j0
	bv := x[best]
	for i := i0; i < i1; i++ {
		row := x[i*g.W : i*g.W+j1]
		for j := j0; j < j1; j++ {
			if row[j] > bv {
				bv, best = row[j], i*g.W+j
			}
		}
	}
	return best
}

func (op poolOp) DiffWRT(n int) []bool { return diffSecondOfTwo(n) }

func (op poolOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	var d *gorgonia.Node
	var err error
	switch op.kind {
	case maxPool:
		d, err = newPoolOp(maxScatter, op.g).apply(in[0], grad)
	case maxGather:
		d, err = newPoolOp(maxScatter, op.g).apply(in[0], grad)
	case maxScatter:
		d, err = newPoolOp(maxGather, op.g).apply(in[0], grad)
	case avgPool:
		d, err = newPoolOp(avgScatter, op.g).apply(grad)
	case avgScatter:
		d, err = newPoolOp(avgPool, op.g).apply(grad)
	}
	if err != nil {
		return nil, err
	}
	if op.Arity() == 2 {
		return gorgonia.Nodes{nil, d}, nil
	}
	return gorgonia.Nodes{d}, nil
}
