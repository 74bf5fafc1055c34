package autodiff

import (
	"fmt"
	"reflect"
	"unsafe"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// executor runs a graph's ops itself instead of gorgonia's TapeMachine. The tape machine
// allocates on every instruction of every run (the input slice, fresh outputs after each
// Reset, register bookkeeping) and runs some ops in place over their inputs; the executor
// evaluates the same ops on the same values, each op once per run in a fixed topological
// order, as pure functions:
//
//   - every op reads its inputs and writes only its own output; nothing runs in place
//     (gorgonia's UnsafeDo is never called), so an input or an earlier output is never
//     overwritten while something still reads it;
//   - an op that can write into a given buffer (gorgonia.UsePreallocDoer) gets its own
//     output of the previous run back; pollab's ops own and reuse their outputs anyway;
//   - the argument slices are allocated once.
//
// The ops compute exactly what they compute under the tape machine (the same Do, with or
// without a preallocated result), so results are bit-identical to it
// (TestExecutorMatchesTapeMachine). Like the tape machine, one executor must not run on two
// goroutines at once.
type executor struct {
	vals  []gorgonia.Value // per slot: a leaf's bound value, or an op's last output
	steps []execStep
	slot  map[*gorgonia.Node]int
}

type execStep struct {
	node *gorgonia.Node
	op   gorgonia.Op
	pd   gorgonia.UsePreallocDoer // nil: always Do
	in   []int                    // slots of the op's inputs, in argument order
	args []gorgonia.Value         // reused argument slice
	out  int                      // the op's slot
}

// stdEngine is the engine the tape machine attaches to every value; the executor does the
// same, so that any op that consults its input's engine sees what it saw there.
var stdEngine = gorgonia.StandardEngine{}

// newExecutor orders the ops that outputs depend on (children before parents, each node
// once, in depth-first order of the outputs and of each op's arguments). A node without
// children must have a value bound (a graph input or a constant).
func newExecutor(outputs gorgonia.Nodes) (*executor, error) {
	x := &executor{slot: map[*gorgonia.Node]int{}}
	state := map[*gorgonia.Node]uint8{} // 1 visiting, 2 done
	var visit func(n *gorgonia.Node) error
	visit = func(n *gorgonia.Node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("executor: cycle through %v", n)
		case 2:
			return nil
		}
		state[n] = 1
		kids, err := childrenOf(n)
		if err != nil {
			return err
		}
		for _, c := range kids {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[n] = 2
		s := len(x.vals)
		x.slot[n] = s
		if len(kids) == 0 {
			v := n.Value()
			if v == nil {
				return fmt.Errorf("executor: leaf %v has no value bound", n)
			}
			setStdEngine(v)
			x.vals = append(x.vals, v)
			return nil
		}
		if n.Op() == nil {
			return fmt.Errorf("executor: node %v has inputs but no op", n)
		}
		st := execStep{node: n, op: n.Op(), out: s, args: make([]gorgonia.Value, len(kids))}
		for _, c := range kids {
			st.in = append(st.in, x.slot[c])
		}
		st.pd, _ = n.Op().(gorgonia.UsePreallocDoer)
		x.vals = append(x.vals, nil)
		x.steps = append(x.steps, st)
		return nil
	}
	for _, n := range outputs {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// run evaluates every op once, in order. A panic inside an op becomes an error.
func (x *executor) run() (err error) {
	var cur *execStep
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia panicked in %v: %v", cur.op, r)
		}
	}()
	for i := range x.steps {
		st := &x.steps[i]
		cur = st
		for j, s := range st.in {
			st.args[j] = x.vals[s]
		}
		prev := x.vals[st.out]
		var v gorgonia.Value
		if st.pd != nil && prev != nil {
			if v, err = st.pd.UsePreallocDo(prev, st.args...); err != nil || v == nil {
				// As the tape machine does: an op that cannot reuse this buffer runs
				// Do; it then always does.
				v, st.pd = nil, nil
			}
		}
		if v == nil {
			if v, err = st.op.Do(st.args...); err != nil {
				return fmt.Errorf("%v: %w", st.op, err)
			}
		}
		if v != prev {
			setStdEngine(v)
		}
		x.vals[st.out] = v
	}
	return nil
}

// value returns n's value after the last run (nil if n is not in the executor's graph).
func (x *executor) value(n *gorgonia.Node) gorgonia.Value {
	s, ok := x.slot[n]
	if !ok {
		return nil
	}
	return x.vals[s]
}

func setStdEngine(v gorgonia.Value) {
	if t, ok := v.(tensor.Tensor); ok {
		tensor.WithEngine(stdEngine)(t)
	}
}

// childrenField is gorgonia.Node's unexported `children` (an op node's arguments in order),
// which gorgonia does not export; the graph's edge iterators do not keep argument order.
var childrenField, childrenFieldOK = reflect.TypeOf(gorgonia.Node{}).FieldByName("children")

// childrenOf returns n's arguments in order (read-only).
func childrenOf(n *gorgonia.Node) (gorgonia.Nodes, error) {
	if !childrenFieldOK || childrenField.Type != reflect.TypeOf(gorgonia.Nodes(nil)) {
		return nil, fmt.Errorf("gorgonia.Node has no field children of type Nodes: the executor needs updating")
	}
	f := reflect.ValueOf(n).Elem().FieldByIndex(childrenField.Index)
	return *(*gorgonia.Nodes)(unsafe.Pointer(f.UnsafeAddr())), nil
}
