package autodiff

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds what pollab's own gorgonia ops (conv.go, pool.go, channel.go) share: the
// op boilerplate, owned output buffers and the worker pool.
//
// Every own op owns its output tensor and scratch and reuses them on every run (the tape
// machine's Reset drops gorgonia's registers, so ops that allocate would allocate every
// step). An op value is created per graph node, so two nodes never share buffers; its
// hash covers every parameter and no buffer. Each op's SymDiff builds the gradient from own
// ops (or gorgonia ops that differentiate correctly), so double backprop closes.

// opBase is the gorgonia boilerplate common to pollab's ops.
type opBase struct{}

func (opBase) ReturnsPtr() bool     { return true }
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

// diffAll is embedded by the ops differentiable with respect to every input: their SymDiff
// returns a gradient for each. (Ops with inputs that are not differentiated, such as a mask
// or a target, define their own DiffWRT.)
type diffAll struct{}

func (diffAll) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

// diffSecondOfTwo is DiffWRT for the ops whose two-input members read their first input x
// only for where the gradient goes (ReLU's mask, max-pool's argmax) and differentiate the
// second; their one-input members differentiate it.
func diffSecondOfTwo(n int) []bool {
	if n == 2 {
		return []bool{false, true}
	}
	return []bool{true}
}

// checkSymDiff is the opening of a SymDiff that indexes its inputs: it fails unless op was
// given its arity's number.
func checkSymDiff(op gorgonia.Op, in gorgonia.Nodes) error {
	if len(in) != op.Arity() {
		return fmt.Errorf("%v: SymDiff of %d inputs, want %d", op, len(in), op.Arity())
	}
	return nil
}

// ownedOp is the boilerplate of the ops that own their output, embedded in each: the
// owned buffers with the op's kernels (Do, UsePreallocDo) and its name, set from the op's
// String when the op is created (WriteHash, Hashcode), and its inputs' and output's
// shapes (Arity, Type, InferShape). The cross-entropy, whose forward output is a scalar
// it does not own, defines its own Arity, Type, InferShape, Do and UsePreallocDo.
type ownedOp struct {
	opBase
	out *owned
}

// Arity, Type and InferShape follow from the inputs and output the op was created with.
func (b ownedOp) Arity() int    { return len(b.out.want) }
func (b ownedOp) Type() hm.Type { return fnType(len(b.out.shape), b.out.ranks...) }

func (b ownedOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(in) != len(b.out.want) {
		return nil, fmt.Errorf("%s: %d inputs, want %d", b.out.name, len(in), len(b.out.want))
	}
	return tensor.Shape(b.out.shape).Clone(), nil
}

func (b ownedOp) WriteHash(h hash.Hash) { h.Write([]byte(b.out.name)) }
func (b ownedOp) Hashcode() uint32      { return hashName(b.out.name) }

// Do checks the inputs, runs the op's kernel for their dtype into its owned output and
// returns that output.
func (b ownedOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, err := b.out.run(vs)
	if err != nil {
		return nil, err
	}
	if out.Dtype() == tensor.Float32 {
		b.out.k32(ts, data[float32](out))
	} else {
		b.out.k64(ts, data[float64](out))
	}
	return out, nil
}

// UsePreallocDo ignores gorgonia's buffer: the op owns its output.
func (b ownedOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return b.Do(vs...)
}

// hashOf is the FNV-32a of an op's String, which names every parameter.
func hashOf(s fmt.Stringer) uint32 { return hashName(s.String()) }

func hashName(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()
}

func writeHash(h hash.Hash, s fmt.Stringer) { h.Write([]byte(s.String())) }

// fnType is the hm type of an op with the given input and output ranks, all of one dtype.
func fnType(out int, in ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, gorgonia.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, gorgonia.TensorType{Dims: out, Of: a})
	return hm.NewFnType(ts...)
}

// owned is an op's output tensor, allocated on first use and reused on every later run,
// with the op's fixed input sizes and output shape and its reused input slice: a run
// allocates nothing.
type owned struct {
	name  string // the op's, for errors
	want  []int  // element count of each input
	ranks []int  // rank of each input
	shape []int  // of the output
	t     *tensor.Dense
	f32   []float32
	f64   []float64
	ins   []tensor.Tensor
	k32   func(in []tensor.Tensor, out []float32) // the op's kernels, set by its constructor
	k64   func(in []tensor.Tensor, out []float64)
}

// newOwned prepares the buffers of the op named name with the given output and input
// shapes.
func newOwned(name string, out []int, ins ...[]int) *owned {
	o := &owned{name: name, shape: append([]int(nil), out...)}
	for _, s := range ins {
		o.want = append(o.want, tensor.Shape(s).TotalSize())
		o.ranks = append(o.ranks, len(s))
	}
	return o
}

// run checks the inputs (count, element counts, one dtype) and returns them with the
// output tensor, in the inputs' dtype.
func (o *owned) run(vs []gorgonia.Value) ([]tensor.Tensor, *tensor.Dense, error) {
	if len(vs) != len(o.want) {
		return nil, nil, fmt.Errorf("%s: %d inputs, want %d", o.name, len(vs), len(o.want))
	}
	ts, err := o.dense(vs...)
	if err != nil {
		return nil, nil, err
	}
	out, err := o.get(o.shape, ts[0])
	return ts, out, err
}

// get returns the output tensor with the given shape and dtype of like (float32 or float64
// data), reshaped afresh (a downstream Reshape may have changed it in place).
func (o *owned) get(shape []int, like tensor.Tensor) (*tensor.Dense, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	switch like.Dtype() {
	case tensor.Float32:
		if len(o.f32) != n {
			o.f32, o.f64 = make([]float32, n), nil
			o.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(o.f32))
		}
	case tensor.Float64:
		if len(o.f64) != n {
			o.f64, o.f32 = make([]float64, n), nil
			o.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(o.f64))
		}
	default:
		return nil, fmt.Errorf("unsupported dtype %v", like.Dtype())
	}
	if !o.t.Shape().Eq(tensor.Shape(shape)) {
		if err := o.t.Reshape(shape...); err != nil {
			return nil, err
		}
	}
	return o.t, nil
}

// dense returns the tensors behind gorgonia values, checking their element counts, in a
// slice the op owns.
func (o *owned) dense(vs ...gorgonia.Value) ([]tensor.Tensor, error) {
	op, want := o.name, o.want
	if cap(o.ins) < len(vs) {
		o.ins = make([]tensor.Tensor, len(vs))
	}
	out := o.ins[:len(vs)]
	var dt tensor.Dtype
	for i, v := range vs {
		t, ok := v.(tensor.Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: input %d is %T, want a tensor", op, i, v)
		}
		if t.Shape().TotalSize() != want[i] {
			return nil, fmt.Errorf("%s: input %d has %d elements, want %d", op, i, t.Shape().TotalSize(), want[i])
		}
		if i == 0 {
			dt = t.Dtype()
		} else if t.Dtype() != dt {
			return nil, fmt.Errorf("%s: mixed dtypes %v and %v", op, dt, t.Dtype())
		}
		out[i] = t
	}
	return out, nil
}

// data returns a tensor's backing slice as []T. For a *tensor.Dense it reads the backing
// bytes directly: Dense.Data builds the slice through reflect and allocates on every call.
func data[T float](t tensor.Tensor) []T {
	d, ok := t.(*tensor.Dense)
	var z T
	want := tensor.Float64
	if unsafe.Sizeof(z) == 4 {
		want = tensor.Float32
	}
	if !ok || d.IsScalar() || d.Dtype() != want {
		return t.Data().([]T)
	}
	raw := d.Header.Raw
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/int(unsafe.Sizeof(z)))
}

// parallel runs f(worker, i) for i in [0,n) on up to GOMAXPROCS goroutines; worker is in
// [0, workers(n)) and no two goroutines run with the same worker at once. Callers make
// every i independent of the others, so results do not depend on how items are spread.
// The calling goroutine is worker 0; the others are lent by a pool of long-lived helper
// goroutines (starting goroutines per call allocated on every op of every step). A helper
// that is not free in time is cancelled and the caller does its share, so a call never
// waits for a helper that is busy elsewhere. Jobs are recycled (jobPool): each use has its
// own generation, so a helper that receives a cancelled task of an earlier use claims
// nothing.
func parallel(n int, f func(worker, i int)) {
	w := workers(n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	j, _ := jobPool.Get().(*parJob)
	if j == nil || len(j.claim) < w {
		j = &parJob{claim: make([]atomic.Int64, w)}
	}
	j.gen++
	j.f, j.n = f, int64(n)
	j.next.Store(0)
	free, cancelled := j.state(parFree), j.state(parCancelled)
	for k := 1; k < w; k++ {
		j.claim[k].Store(free)
	}
	helpers.start(w - 1)
	j.wg.Add(w - 1)
	for k := 1; k < w; k++ {
		select {
		case helpers.q <- parTask{j, k, j.gen}:
		default:
			j.claim[k].Store(cancelled)
			j.wg.Done()
		}
	}
	j.work(0)
	for k := 1; k < w; k++ {
		if j.claim[k].CompareAndSwap(free, cancelled) {
			j.wg.Done()
		}
	}
	j.wg.Wait()
	j.f = nil
	jobPool.Put(j)
}

// parJob is one parallel call: items [0,n) handed out in order by next.
type parJob struct {
	f     func(worker, i int)
	n     int64
	next  atomic.Int64
	gen   int64          // this use's generation
	claim []atomic.Int64 // per worker: the generation and parFree, parTaken or parCancelled
	wg    sync.WaitGroup
}

var jobPool sync.Pool

const (
	parFree int64 = iota
	parTaken
	parCancelled
)

// state is the claim value of state s in this use of the job.
func (j *parJob) state(s int64) int64 { return j.gen<<2 | s }

func (j *parJob) work(k int) {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.f(k, int(i))
	}
}

type parTask struct {
	j   *parJob
	k   int
	gen int64
}

// helperPool is the set of long-lived helper goroutines parallel lends work to.
type helperPool struct {
	mu sync.Mutex
	n  int
	q  chan parTask
}

var helpers = helperPool{q: make(chan parTask, 256)}

// start makes sure at least n helpers exist.
func (h *helperPool) start(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ; h.n < n; h.n++ {
		go func() {
			for t := range h.q {
				if t.j.claim[t.k].CompareAndSwap(t.gen<<2|parFree, t.gen<<2|parTaken) {
					t.j.work(t.k)
					t.j.wg.Done()
				}
			}
		}()
	}
}

// workers is how many goroutines parallel uses for n items.
func workers(n int) int { return max(1, min(n, runtime.GOMAXPROCS(0))) }

// kernelFor returns the SIMD GEMM kernel for T (nil when there is none) and its block width.
func kernelFor[T float]() (kernel4[T], int) {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(sgemmKernel).(kernel4[T]), 16
	}
	return any(dgemmKernel).(kernel4[T]), 8
}

// mulAdd adds A[m,k]·B[k,n] into C (row-major, leading dimensions lda, ldb, ldc) on the
// calling goroutine with the project's GEMM blocks: products rounded, then added in k order.
func mulAdd[T float](m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	kern, width := kernelFor[T]()
	gemmRows(0, m, n, k, a, lda, 1, b, ldb, c, ldc, kern, width)
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// grow returns s resized to n elements, reallocating (zeroed) only when it is too small.
func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// addToGo is addTo's pure-Go loop.
func addToGo[T float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}
