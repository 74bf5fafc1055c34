package autodiff

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"pollab/internal/detmath"
)

// detUnary is an elementwise gorgonia op computing exp, log or tanh with internal/detmath's
// functions instead of package math's (whose bits depend on the architecture). float32
// tensors are computed in float64 and rounded once. Its symbolic derivative is built from
// gorgonia's arithmetic ops and from detUnary itself, so it can be differentiated twice.
type detUnary struct {
	diffAll
	name string
}

var (
	opExp  = detUnary{name: "exp"}
	opLog  = detUnary{name: "log"}
	opTanh = detUnary{name: "tanh"}
)

func (op detUnary) f(x float64) float64 {
	switch op.name {
	case "exp":
		return detmath.Exp(x)
	case "log":
		return detmath.Log(x)
	}
	return detmath.Tanh(x)
}

// apply adds op(x) to x's graph.
func (op detUnary) apply(x *gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, x)
}

func (op detUnary) Arity() int { return 1 }

func (op detUnary) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}

func (op detUnary) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 || inputs[0] == nil {
		return nil, fmt.Errorf("det%s: want one input shape", op.name)
	}
	s, ok := inputs[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("det%s: input shape of type %T", op.name, inputs[0])
	}
	return s.Clone(), nil
}

func (op detUnary) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("det%s: %d inputs, want 1", op.name, len(inputs))
	}
	switch x := inputs[0].(type) {
	case *gorgonia.F64:
		return gorgonia.NewF64(op.f(float64(*x))), nil
	case *gorgonia.F32:
		return gorgonia.NewF32(float32(op.f(float64(*x)))), nil
	case tensor.Tensor:
		d, ok := x.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("det%s: input of type %T", op.name, x)
		}
		if d.RequiresIterator() {
			if d, ok = d.Materialize().(*tensor.Dense); !ok {
				return nil, fmt.Errorf("det%s: could not materialize a view", op.name)
			}
		}
		out := tensor.New(tensor.Of(d.Dtype()), tensor.WithShape(d.Shape().Clone()...))
		switch in := d.Data().(type) {
		case []float64:
			o := out.Data().([]float64)
			for i, v := range in {
				o[i] = op.f(v)
			}
		case []float32:
			o := out.Data().([]float32)
			for i, v := range in {
				o[i] = float32(op.f(float64(v)))
			}
		default:
			return nil, fmt.Errorf("det%s: data of type %T", op.name, in)
		}
		return out, nil
	}
	return nil, fmt.Errorf("det%s: input of type %T", op.name, inputs[0])
}

func (op detUnary) ReturnsPtr() bool     { return false }
func (op detUnary) CallsExtern() bool    { return false }
func (op detUnary) OverwritesInput() int { return -1 }
func (op detUnary) String() string       { return "det" + op.name }

func (op detUnary) WriteHash(h hash.Hash) { fmt.Fprintf(h, "pollab.det%s", op.name) }

func (op detUnary) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// SymDiff: d exp = grad ⊙ exp(x), d log = grad / x, d tanh = (1 − y⊙y) ⊙ grad (gorgonia's
// own expressions for its Exp, Log and Tanh).
func (op detUnary) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("det%s: %d inputs, want 1", op.name, len(inputs))
	}
	x := inputs[0]
	var d *gorgonia.Node
	var err error
	switch op.name {
	case "exp":
		d, err = gorgonia.HadamardProd(output, grad)
	case "log":
		d, err = gorgonia.HadamardDiv(grad, x)
	default:
		var sq *gorgonia.Node
		if sq, err = gorgonia.HadamardProd(output, output); err != nil {
			break
		}
		one := gorgonia.NewConstant(1.0)
		if x.Dtype() == tensor.Float32 {
			one = gorgonia.NewConstant(float32(1))
		}
		if sq, err = gorgonia.Sub(one, sq); err != nil {
			break
		}
		d, err = gorgonia.HadamardProd(sq, grad)
	}
	if err != nil {
		return nil, fmt.Errorf("det%s derivative: %w", op.name, err)
	}
	return gorgonia.Nodes{d}, nil
}
