package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The channel-pad pair, ResNet's option-A shortcut:
//
//	pad:     y = F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, before, after)): x [B,C,H,W] →
//	         [B, before+C+after, ⌈H/s⌉, ⌈W/s⌉], the extra channels zero;
//	extract: its adjoint, dx[b, c, i·s, j·s] = g[b, before+c, i, j], zero elsewhere
//	         (with s = 1: the channel slice).
//
// Both are linear and each other's adjoint, so each differentiates into the other. Copies
// only: the values are exact.

type padKind uint8

const (
	padChannels padKind = iota
	padExtract
)

// padGeom is the x side [B,C,H,W] of the pair, the stride and the channels added.
type padGeom struct {
	B, C, H, W    int
	Stride        int
	Before, After int
}

func (g padGeom) oh() int       { return (g.H-1)/g.Stride + 1 }
func (g padGeom) ow() int       { return (g.W-1)/g.Stride + 1 }
func (g padGeom) xShape() []int { return []int{g.B, g.C, g.H, g.W} }
func (g padGeom) yShape() []int { return []int{g.B, g.Before + g.C + g.After, g.oh(), g.ow()} }

type padOp struct {
	ownedOp
	kind padKind
	g    padGeom
}

func newPadOp(kind padKind, g padGeom) padOp {
	op := padOp{kind: kind, g: g}
	in, out := op.shapes()
	op.out = newOwned(op.String(), out, in)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runPad(op, data[float32](ts[0]), out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runPad(op, data[float64](ts[0]), out) }
	return op
}

func (op padOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op padOp) String() string {
	return fmt.Sprintf("pollab.%s%+v", [...]string{"PadChannels", "PadExtract"}[op.kind], op.g)
}

// shapes returns the input and output shapes.
func (op padOp) shapes() (in, out []int) {
	if op.kind == padChannels {
		return op.g.xShape(), op.g.yShape()
	}
	return op.g.yShape(), op.g.xShape()
}

// runPad copies between x's planes and y's channels [Before, Before+C), plane by plane.
func runPad[T float](op padOp, in, out []T) {
	g := op.g
	hw, ohw, cy := g.H*g.W, g.oh()*g.ow(), g.Before+g.C+g.After
	ow, s := g.ow(), g.Stride
	for b := 0; b < g.B; b++ {
		for c := 0; c < cy; c++ {
			ci := c - g.Before
			yp := (b*cy + c) * ohw
			if op.kind == padChannels {
				y := out[yp : yp+ohw]
				if ci < 0 || ci >= g.C {
					clear(y)
					continue
				}
				x := in[(b*g.C+ci)*hw : (b*g.C+ci+1)*hw]
				if s == 1 {
					copy(y, x)
					continue
				}
				for o := range y {
					y[o] = x[o/ow*s*g.W+o%ow*s]
				}
				continue
			}
			if ci < 0 || ci >= g.C {
				continue
			}
			y := in[yp : yp+ohw]
			x := out[(b*g.C+ci)*hw : (b*g.C+ci+1)*hw]
			if s == 1 {
				copy(x, y)
				continue
			}
			clear(x)
			for o, v := range y {
				x[o/ow*s*g.W+o%ow*s] = v
			}
		}
	}
}

func (op padOp) DiffWRT(int) []bool { return []bool{true} }

func (op padOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := newPadOp(1-op.kind, op.g).apply(grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{d}, nil
}
