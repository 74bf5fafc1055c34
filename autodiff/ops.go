package autodiff

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"
	"sync"

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

// hashOf is the FNV-32a of an op's String, which names every parameter.
func hashOf(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s.String()))
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

// owned is an op's output tensor, allocated on first use and reused on every later run.
type owned struct {
	t   *tensor.Dense
	f32 []float32
	f64 []float64
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

// dense returns the tensors behind gorgonia values, checking their element counts.
func dense(op fmt.Stringer, want []int, vs ...gorgonia.Value) ([]tensor.Tensor, error) {
	out := make([]tensor.Tensor, len(vs))
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

// data returns a tensor's backing slice as []T.
func data[T float](t tensor.Tensor) []T { return t.Data().([]T) }

// parallel runs f(worker, i) for i in [0,n) on up to GOMAXPROCS goroutines; worker is in
// [0, workers(n)). Callers make every i independent of the others, so results do not
// depend on how items are spread.
func parallel(n int, f func(worker, i int)) {
	w := workers(n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(k, i)
			}
		}()
	}
	wg.Wait()
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
