package autodiff

import (
	"errors"
	"fmt"
	"pollab/internal/enum"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DType is the floating-point type a graph runs in. Values outside the graph are always
// float64; a Float32 run rounds them with Round.
type DType int

const (
	Float64 DType = iota
	Float32
)

// ParseDType accepts "f64"/"float64" and "f32"/"float32" (case-insensitive).
func ParseDType(s string) (DType, error) { return dtypes.Parse(s) }

// String returns "f64" or "f32".
func (d DType) String() string { return dtypes.String(d) }

var dtypes = enum.Table[DType]{Type: "DType", What: "dtype", Want: "f64|float64|f32|float32",
	Values: []enum.Value[DType]{enum.V(Float64, "f64", "float64"), enum.V(Float32, "f32", "float32")}}

// Round rounds every element to the nearest float32 for Float32 and does nothing for Float64,
// so that a float32 run stores exactly what a float32 trainer would.
func (d DType) Round(x []float64) {
	if d != Float32 {
		return
	}
	for i, v := range x {
		x[i] = float64(float32(v))
	}
}

func (d DType) valid() bool { return d == Float64 || d == Float32 }

func (d DType) gorgonia() tensor.Dtype {
	if d == Float32 {
		return gorgonia.Float32
	}
	return gorgonia.Float64
}

// buffer is the backing store of one graph input, in the graph's dtype. The graph tensor is
// built on top of it, so writing into it changes what the next run reads.
type buffer struct {
	f64 []float64
	f32 []float32
}

func newBuffer(dt DType, n int) buffer {
	if dt == Float32 {
		return buffer{f32: make([]float32, n)}
	}
	return buffer{f64: make([]float64, n)}
}

func (b buffer) backing() interface{} {
	if b.f32 != nil {
		return b.f32
	}
	return b.f64
}

func (b buffer) set(src []float64) {
	if b.f32 != nil {
		for i, v := range src {
			b.f32[i] = float32(v)
		}
		return
	}
	copy(b.f64, src)
}

// setTransposed stores src, a row-major [rows,cols] matrix, as its transpose [cols,rows].
func (b buffer) setTransposed(src []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		row := src[r*cols : r*cols+cols]
		if b.f32 != nil {
			for c, v := range row {
				b.f32[c*rows+r] = float32(v)
			}
			continue
		}
		for c, v := range row {
			b.f64[c*rows+r] = v
		}
	}
}

func (b buffer) zero() {
	clear(b.f32)
	clear(b.f64)
}

func (b buffer) setAt(i int, v float64) {
	if b.f32 != nil {
		b.f32[i] = float32(v)
		return
	}
	b.f64[i] = v
}

// readValue copies a computed value (scalar or tensor, either dtype) into dst and returns
// its first element (the value itself for a scalar).
func readValue(v gorgonia.Value, dst []float64) (float64, error) {
	if v == nil {
		return 0, errors.New("no value after the run")
	}
	if t, ok := v.(*tensor.Dense); ok && !t.IsScalar() {
		switch t.Dtype() {
		case tensor.Float32:
			return readSlice(data[float32](t), dst)
		case tensor.Float64:
			return readSlice(data[float64](t), dst)
		}
	}
	switch d := v.Data().(type) {
	case float64:
		if len(dst) > 0 {
			dst[0] = d
		}
		return d, nil
	case float32:
		if len(dst) > 0 {
			dst[0] = float64(d)
		}
		return float64(d), nil
	case []float64:
		return readSlice(d, dst)
	case []float32:
		return readSlice(d, dst)
	}
	return 0, fmt.Errorf("unexpected value type %T", v.Data())
}

// readSlice copies d into dst (unless dst is nil) and returns d's first element.
func readSlice[T float](d []T, dst []float64) (float64, error) {
	if dst != nil && len(d) != len(dst) {
		return 0, fmt.Errorf("value has %d elements, want %d", len(d), len(dst))
	}
	for i, x := range d {
		dst[i] = float64(x)
	}
	if len(d) == 0 {
		return 0, nil
	}
	return float64(d[0]), nil
}

// readTransposed copies a [cols,rows] matrix value into dst as the row-major [rows,cols]
// matrix it is the transpose of.
func readTransposed(v gorgonia.Value, dst []float64, rows, cols int) error {
	if v == nil {
		return errors.New("no value after the run")
	}
	if s := v.Shape(); len(s) != 2 || s[0] != cols || s[1] != rows {
		return fmt.Errorf("value shape %v, want [%d %d]", s, cols, rows)
	}
	t, ok := v.(tensor.Tensor)
	if !ok {
		return fmt.Errorf("unexpected value type %T", v)
	}
	switch t.Dtype() {
	case tensor.Float64:
		transposeInto(data[float64](t), dst, rows, cols)
	case tensor.Float32:
		transposeInto(data[float32](t), dst, rows, cols)
	default:
		return fmt.Errorf("unexpected value dtype %v", t.Dtype())
	}
	return nil
}

// transposeInto writes d [cols,rows] into dst as [rows,cols].
func transposeInto[T float](d []T, dst []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		out := dst[r*cols : r*cols+cols]
		for c := range out {
			out[c] = float64(d[c*rows+r])
		}
	}
}

// BLAS names the BLAS implementation this build runs GEMMs on: "gonum+pollab-gemm" (the
// default: pollab's own GEMM kernels, the rest of BLAS from gonum) or "openblas" (build tag
// openblas). The experiments' provenance.json records it (machine.blas): the two agree only
// to rounding, so bit-exact re-execution needs the same one.
func BLAS() string { return blasName }
