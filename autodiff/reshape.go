package autodiff

import (
	"fmt"
	"hash"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reshapeOp views its input under another shape of the same size, sharing the data (as
// gorgonia's Reshape does) but through a tensor header it owns and keeps while the input's
// backing array stays the same: gorgonia's Reshape clones a header, its shape and strides on
// every run. Its derivative is the reshape back, so the pair is closed under SymDiff.
type reshapeOp struct {
	opBase
	diffAll
	from, to []int
	st       *reshapeState
}

type reshapeState struct {
	t    *tensor.Dense
	data unsafe.Pointer // the input backing array the header views
}

func newReshapeOp(from, to []int) reshapeOp {
	return reshapeOp{from: append([]int(nil), from...), to: append([]int(nil), to...), st: &reshapeState{}}
}

func (op reshapeOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op reshapeOp) Arity() int    { return 1 }
func (op reshapeOp) Type() hm.Type { return fnType(len(op.to), len(op.from)) }

func (op reshapeOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.to).Clone(), nil
}

// OverwritesInput is 0 as for gorgonia's Reshape: the output shares the input's data, so a
// tape machine must not treat the input as dead while the output lives.
func (op reshapeOp) OverwritesInput() int { return 0 }

func (op reshapeOp) String() string        { return fmt.Sprintf("pollab.Reshape%v->%v", op.from, op.to) }
func (op reshapeOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op reshapeOp) Hashcode() uint32      { return hashOf(op) }

func (op reshapeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vs) != 1 {
		return nil, fmt.Errorf("%v: %d inputs, want 1", op, len(vs))
	}
	d, ok := vs[0].(*tensor.Dense)
	if !ok || d.IsView() || d.IsScalar() {
		return nil, fmt.Errorf("%v: input is %T, want a dense tensor that is not a view", op, vs[0])
	}
	if n := tensor.Shape(op.from).TotalSize(); d.Shape().TotalSize() != n || len(d.Header.Raw) != n*int(d.Dtype().Size()) {
		return nil, fmt.Errorf("%v: input of shape %v", op, d.Shape())
	}
	p := unsafe.Pointer(unsafe.SliceData(d.Header.Raw))
	if st := op.st; st.t == nil || st.data != p || st.t.Dtype() != d.Dtype() {
		var back any
		switch d.Dtype() {
		case tensor.Float32:
			back = data[float32](d)
		case tensor.Float64:
			back = data[float64](d)
		default:
			return nil, fmt.Errorf("%v: unsupported dtype %v", op, d.Dtype())
		}
		st.t, st.data = tensor.New(tensor.WithShape(op.to...), tensor.WithBacking(back)), p
	}
	if !op.st.t.Shape().Eq(tensor.Shape(op.to)) { // a consumer reshaped it in place
		if err := op.st.t.Reshape(op.to...); err != nil {
			return nil, err
		}
	}
	return op.st.t, nil
}

func (op reshapeOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := newReshapeOp(op.to, op.from).apply(grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{d}, nil
}
