package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The convolution family: forward y = conv(x, w) (+ bias), backward-data dx = convᵀ(d, w)
// and backward-filter dw = Σ_b d_b ⋆ x_b. The convolution is bilinear, so each one's
// derivatives are the other two:
//
//	<conv(x,w), d> = <x, data(d,w)> = <w, filter(x,d)>
//	forward:  dx = data(g, w),   dw = filter(x, g), dbias = chanSum(g)
//	data:     dd = conv(g, w),   dw = filter(g, d)
//	filter:   dx = data(d, g),   dd = conv(x, g)
//
// Kernels, per sample b: im2col of x_b into a [K, N'] scratch (K = C·kh·kw, N = OH·OW, N'
// padded to the GEMM block width with zeros), then Y_b[O', N'] = W[O', K]·col with the
// output channels on the GEMM's row axis (O' = O padded to 4 with zero rows), so every
// block is a full SIMD block and the output needs no transpose. Backward-data is Wᵀ·d_b
// then col2im; backward-filter col_b·d_bᵀ (only the small d_b is transposed). Samples run in
// parallel, each written by one goroutine. Backward-filter sums over fixed chunks of
// convChunk samples in sample order, then adds the chunks' partial sums in chunk order: the
// bits do not depend on GOMAXPROCS. Products are rounded before each add (no FMA), as in
// gemm.go.

// convGeom is the geometry of one 2-D convolution (square stride and padding).
type convGeom struct {
	B, C, H, W  int // input
	O, KH, KW   int // filter [O,C,KH,KW]
	Stride, Pad int
	OH, OW      int // output spatial size
}

func newConvGeom(xs, ws []int, stride, pad int) convGeom {
	g := convGeom{B: xs[0], C: xs[1], H: xs[2], W: xs[3], O: ws[0], KH: ws[2], KW: ws[3], Stride: stride, Pad: pad}
	g.OH = (g.H+2*pad-g.KH)/stride + 1
	g.OW = (g.W+2*pad-g.KW)/stride + 1
	return g
}

func (g convGeom) k() int        { return g.C * g.KH * g.KW }
func (g convGeom) n() int        { return g.OH * g.OW }
func (g convGeom) chw() int      { return g.C * g.H * g.W }
func (g convGeom) xShape() []int { return []int{g.B, g.C, g.H, g.W} }
func (g convGeom) wShape() []int { return []int{g.O, g.C, g.KH, g.KW} }
func (g convGeom) yShape() []int { return []int{g.B, g.O, g.OH, g.OW} }

// convChunk is the number of samples whose filter gradients one goroutine sums before the
// chunks are added in order. Fixed, so the result does not depend on the number of threads.
const convChunk = 8

type convKind uint8

const (
	convForward convKind = iota
	convData
	convFilter
)

func (k convKind) String() string { return [...]string{"Conv2d", "Conv2dData", "Conv2dFilter"}[k] }

// convOp is one member of the family; st holds its owned output and scratch.
type convOp struct {
	ownedOp
	diffAll
	kind convKind
	g    convGeom
	bias bool // forward only: a third input [O] added per output channel
	st   *convState
}

type convState struct {
	s32 convScratch[float32]
	s64 convScratch[float64]
}

// convScratch is reused across runs: wt holds the (padded or transposed) filter, a and c
// one scratch each per worker, parts the filter-gradient partial sums per chunk.
type convScratch[T float] struct {
	wt    []T
	a, c  [][]T
	parts [][]T
}

func newConvOp(kind convKind, g convGeom, bias bool) convOp {
	op := convOp{kind: kind, g: g, bias: bias, st: &convState{}}
	op.out = newOwned(op.String(), op.outShape(), op.inShapes()...)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runConv(op, ts, out, &op.st.s32) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runConv(op, ts, out, &op.st.s64) }
	return op
}

// apply creates the op's node on the given inputs.
func (op convOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op convOp) outShape() []int {
	switch op.kind {
	case convData:
		return op.g.xShape()
	case convFilter:
		return op.g.wShape()
	}
	return op.g.yShape()
}

func (op convOp) inShapes() [][]int {
	g := op.g
	switch op.kind {
	case convData:
		return [][]int{g.yShape(), g.wShape()}
	case convFilter:
		return [][]int{g.xShape(), g.yShape()}
	}
	if op.bias {
		return [][]int{g.xShape(), g.wShape(), {g.O}}
	}
	return [][]int{g.xShape(), g.wShape()}
}

func (op convOp) String() string {
	return fmt.Sprintf("pollab.%v%+v/bias=%v", op.kind, op.g, op.bias)
}

func runConv[T float](op convOp, ts []tensor.Tensor, out []T, s *convScratch[T]) {
	a, b := data[T](ts[0]), data[T](ts[1])
	switch op.kind {
	case convForward:
		var bias []T
		if op.bias {
			bias = data[T](ts[2])
		}
		convForwardK(op.g, a, b, bias, out, s)
	case convData:
		convDataK(op.g, a, b, out, s)
	case convFilter:
		convFilterK(op.g, a, b, out, s)
	}
}

func (op convOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkSymDiff(op, in); err != nil {
		return nil, err
	}
	g := op.g
	var d0, d1 *gorgonia.Node
	var err error
	switch op.kind {
	case convForward: // in: x, w (, bias)
		if d0, err = newConvOp(convData, g, false).apply(grad, in[1]); err != nil {
			return nil, err
		}
		if d1, err = newConvOp(convFilter, g, false).apply(in[0], grad); err != nil {
			return nil, err
		}
		if op.bias {
			db, err := newChanOp(chanSum, g.yShape(), false).apply(grad)
			if err != nil {
				return nil, err
			}
			return gorgonia.Nodes{d0, d1, db}, nil
		}
	case convData: // in: d, w
		if d0, err = newConvOp(convForward, g, false).apply(grad, in[1]); err != nil {
			return nil, err
		}
		if d1, err = newConvOp(convFilter, g, false).apply(grad, in[0]); err != nil {
			return nil, err
		}
	case convFilter: // in: x, d
		if d0, err = newConvOp(convData, g, false).apply(in[1], grad); err != nil {
			return nil, err
		}
		if d1, err = newConvOp(convForward, g, false).apply(in[0], grad); err != nil {
			return nil, err
		}
	}
	return gorgonia.Nodes{d0, d1}, nil
}

// ensure sizes the per-worker scratches: a and c with na and nc elements for nw workers.
func (s *convScratch[T]) ensure(nw, na, nc int) {
	for len(s.a) < nw {
		s.a, s.c = append(s.a, nil), append(s.c, nil)
	}
	for i := 0; i < nw; i++ {
		s.a[i], s.c[i] = grow(s.a[i], na), grow(s.c[i], nc)
	}
}

// convForwardK computes y = conv(x, w) + bias (bias may be nil).
func convForwardK[T float](g convGeom, x, w, bias, y []T, s *convScratch[T]) {
	_, width := kernelFor[T]()
	K, N := g.k(), g.n()
	O4, Np := roundUp(g.O, 4), roundUp(N, width)
	s.wt = grow(s.wt, O4*K)
	copy(s.wt, w)
	clear(s.wt[g.O*K:])
	s.ensure(workers(g.B), K*Np, O4*Np)
	direct := Np == N && O4 == g.O // the output is already a whole number of blocks
	parallel(g.B, func(wk, b int) {
		col, c := s.a[wk], s.c[wk]
		im2col(x[b*g.chw():(b+1)*g.chw()], g, col, Np)
		yb := y[b*g.O*N : (b+1)*g.O*N]
		if direct { // the same blocks and sums, written in place
			clear(yb)
			mulAdd(g.O, N, K, s.wt, K, col, N, yb, N)
			if bias != nil {
				for o, bv := range bias {
					row := yb[o*N : (o+1)*N]
					for i, v := range row {
						row[i] = v + bv
					}
				}
			}
			return
		}
		clear(c)
		mulAdd(O4, Np, K, s.wt, K, col, Np, c, Np)
		for o := 0; o < g.O; o++ {
			src, dst := c[o*Np:o*Np+N], yb[o*N:(o+1)*N]
			if bias == nil {
				copy(dst, src)
				continue
			}
			bv := bias[o]
			for i, v := range src {
				dst[i] = v + bv
			}
		}
	})
}

// convDataK computes dx = data(d, w): per sample, cols = Wᵀ[K', O]·d_b[O, N'], then col2im.
func convDataK[T float](g convGeom, d, w, dx []T, s *convScratch[T]) {
	_, width := kernelFor[T]()
	K, N := g.k(), g.n()
	K4, Np := roundUp(K, 4), roundUp(N, width)
	s.wt = grow(s.wt, K4*g.O)
	for o := 0; o < g.O; o++ {
		for k, v := range w[o*K : (o+1)*K] {
			s.wt[k*g.O+o] = v
		}
	}
	clear(s.wt[K*g.O:])
	s.ensure(workers(g.B), g.O*Np, K4*Np)
	parallel(g.B, func(wk, b int) {
		dp, c := s.a[wk], s.c[wk]
		db := d[b*g.O*N : (b+1)*g.O*N]
		if Np == N {
			dp = db // already whole blocks: no padded copy
		} else {
			for o := 0; o < g.O; o++ {
				copy(dp[o*Np:o*Np+N], db[o*N:(o+1)*N])
			}
		}
		clear(c)
		mulAdd(K4, Np, g.O, s.wt, g.O, dp, Np, c, Np)
		xb := dx[b*g.chw() : (b+1)*g.chw()]
		clear(xb)
		col2im(c, Np, g, xb)
	})
}

// convFilterK computes dw = filter(x, d): per sample, dwᵀ[K', O'] += col_b[K', N]·d_bᵀ[N, O']
// (im2col rows padded to 4 and the transposed output gradient's columns to the GEMM block
// width with zeros), summed within fixed chunks of samples in order, then over chunks in
// order. Each element is one ordered sum over samples and positions of rounded products.
func convFilterK[T float](g convGeom, x, d, dw []T, s *convScratch[T]) {
	_, width := kernelFor[T]()
	K, N := g.k(), g.n()
	K4, Op := roundUp(K, 4), roundUp(g.O, width)
	chunks := (g.B + convChunk - 1) / convChunk
	s.ensure(workers(chunks), K4*N, N*Op)
	for len(s.parts) < chunks {
		s.parts = append(s.parts, nil)
	}
	parallel(chunks, func(wk, ch int) {
		col, dT := s.a[wk], s.c[wk]
		part := grow(s.parts[ch], K4*Op)
		s.parts[ch] = part
		clear(part)
		for b := ch * convChunk; b < min(g.B, (ch+1)*convChunk); b++ {
			im2col(x[b*g.chw():(b+1)*g.chw()], g, col, N)     // rows K..K' stay zero
			transpose(d[b*g.O*N:(b+1)*g.O*N], g.O, N, dT, Op) // columns O..O' stay zero
			mulAdd(K4, Op, N, col, N, dT, Op, part, Op)
		}
	})
	for o := 0; o < g.O; o++ {
		for k := 0; k < K; k++ {
			v := s.parts[0][k*Op+o]
			for ch := 1; ch < chunks; ch++ {
				v += s.parts[ch][k*Op+o]
			}
			dw[o*K+k] = v
		}
	}
}

// transpose writes src [rows, cols] (row-major, leading dimension cols) into dst as
// [cols, rows] with leading dimension ld, in 8×8 tiles.
func transpose[T float](src []T, rows, cols int, dst []T, ld int) {
	const tile = 8
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				row := src[r*cols : r*cols+c1]
				for c := c0; c < c1; c++ {
					dst[c*ld+r] = row[c]
				}
			}
		}
	}
}

// validRange returns the output positions [lo, hi) whose input index o·stride - pad + k lies
// in [0, size).
func validRange(out, size, stride, pad, k int) (int, int) {
	lo := 0
	if pad > k {
		lo = (pad - k + stride - 1) / stride
	}
	hi := 0
	if size+pad-k > 0 {
		hi = min(out, (size+pad-k+stride-1)/stride)
	}
	return min(lo, hi), hi
}

// im2col writes one sample's patches as rows (c,ki,kj) × columns (oh,ow) with leading
// dimension ld; columns past OH·OW are left as they are (zero).
func im2col[T float](x []T, g convGeom, col []T, ld int) {
	if g.same() {
		im2colSame(x, g, col, ld)
		return
	}
	im2colRows(x, g, col, ld)
}

// im2colRows is im2col row by row (any geometry).
func im2colRows[T float](x []T, g convGeom, col []T, ld int) {
	N := g.n()
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ld:][:N]
				lo, hi := validRange(g.OW, g.W, g.Stride, g.Pad, kj)
				for oh := 0; oh < g.OH; oh++ {
					seg := row[oh*g.OW : (oh+1)*g.OW]
					ih := oh*g.Stride - g.Pad + ki
					if ih < 0 || ih >= g.H {
						clear(seg)
						continue
					}
					src := plane[ih*g.W : (ih+1)*g.W]
					clear(seg[:lo])
					clear(seg[hi:])
					if g.Stride == 1 {
						copy(seg[lo:hi], src[lo-g.Pad+kj:])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						seg[ow] = src[ow*g.Stride-g.Pad+kj]
					}
				}
			}
		}
	}
}

// col2im adds the patch gradients col (rows (c,ki,kj), leading dimension ld) into one
// sample's input gradient dx, row by row in a fixed order.
func col2im[T float](col []T, ld int, g convGeom, dx []T) {
	if g.same() {
		col2imSame(col, ld, g, dx)
		return
	}
	col2imRows(col, ld, g, dx)
}

// col2imRows is col2im row by row (any geometry).
func col2imRows[T float](col []T, ld int, g convGeom, dx []T) {
	for c := 0; c < g.C; c++ {
		plane := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ld:]
				lo, hi := validRange(g.OW, g.W, g.Stride, g.Pad, kj)
				for oh := 0; oh < g.OH; oh++ {
					ih := oh*g.Stride - g.Pad + ki
					if ih < 0 || ih >= g.H {
						continue
					}
					dst := plane[ih*g.W : (ih+1)*g.W]
					seg := row[oh*g.OW : (oh+1)*g.OW]
					if g.Stride == 1 && lo < hi {
						addTo(dst[lo-g.Pad+kj:hi-g.Pad+kj], seg[lo:hi])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow*g.Stride-g.Pad+kj] += seg[ow]
					}
				}
			}
		}
	}
}

// same reports a stride-1 convolution whose output has the input's size (kernel 2·pad+1):
// then a patch row (c,ki,kj) is, flat over the output positions, the input plane shifted by
// (ki-pad)·W + kj-pad, except for the kj-pad columns at each row's edge that fall into the
// padding. im2colSame and col2imSame move whole planes at once on that basis.
func (g convGeom) same() bool { return g.Stride == 1 && g.OH == g.H && g.OW == g.W }

// sameRow is patch row (c,ki,kj)'s flat range [lo, hi) of output positions whose input row
// is inside the plane, and the flat shift off from output position to input position (the
// edge columns aside).
func (g convGeom) sameRow(ki, kj int) (lo, hi, off int) {
	ohLo, ohHi := validRange(g.OH, g.H, 1, g.Pad, ki)
	return ohLo * g.W, ohHi * g.W, (ki-g.Pad)*g.W + kj - g.Pad
}

// inPlane narrows [lo, hi) to the positions n whose n+off lies in [0, hw): a <= b.
func inPlane(lo, hi, off, hw int) (a, b int) {
	a = min(max(lo, -off), hi)
	return a, max(a, min(hi, hw-off))
}

// zeroEdges zeroes, in the output rows [lo, hi) of a patch row, the columns whose input
// column kj-pad away falls into the padding.
func zeroEdges[T float](row []T, g convGeom, lo, hi, kj int) {
	d := kj - g.Pad
	for r := lo; r < hi; r += g.W {
		for k := 0; k < min(-d, g.W); k++ {
			row[r+k] = 0
		}
		for k := max(g.W-d, 0); k < g.W; k++ {
			row[r+k] = 0
		}
	}
}

// im2colSame is im2col for same() geometries: one copy per patch row, then its edge columns
// and the rows outside the plane zeroed; the same values in the same places.
func im2colSame[T float](x []T, g convGeom, col []T, ld int) {
	N, hw := g.n(), g.H*g.W
	for c := 0; c < g.C; c++ {
		plane := x[c*hw : (c+1)*hw]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ld:][:N]
				lo, hi, off := g.sameRow(ki, kj)
				a, b := inPlane(lo, hi, off, hw)
				clear(row[:a])
				if a < b {
					copy(row[a:b], plane[a+off:b+off])
				}
				clear(row[b:])
				zeroEdges(row, g, lo, hi, kj)
			}
		}
	}
}

// col2imSame is col2im for same() geometries: per patch row, its edge columns are zeroed (col
// is scratch) and the row is added to the plane in one vector add. Every input position gets
// the terms col2im adds, in the same (ki,kj) order, plus +0 for an edge column, which leaves
// it unchanged: dx starts at +0 and a sum that starts at +0 is never -0, so x + (+0) = x.
func col2imSame[T float](col []T, ld int, g convGeom, dx []T) {
	hw := g.H * g.W
	for c := 0; c < g.C; c++ {
		plane := dx[c*hw : (c+1)*hw]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ld:]
				lo, hi, off := g.sameRow(ki, kj)
				zeroEdges(row, g, lo, hi, kj)
				a, b := inPlane(lo, hi, off, hw)
				if a < b {
					addTo(plane[a+off:b+off], row[a:b])
				}
			}
		}
	}
}
