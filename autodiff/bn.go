package autodiff

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The training-mode BatchNorm2d family, fused: each op is one or two passes over an
// activation x [B,C,H,W] where the composition of channel sums, broadcasts and elementwise
// ops made about ten per step. Per channel, with N = B·H·W values, μ the mean, v the biased
// variance, r = 1/√(v+ε) and x̂ = (x-μ)·r:
//
//	bnStats(x)                 = [μ; v]                       [2,C]
//	bnNorm(x, γ, β, s)         = x̂·γ + β  (plain: bnNorm(x, s) = x̂)
//	bnSumGX(x, s, g)           = Σ g·x̂                        [C]
//	bnSumG(g)                  = Σ g                          [C]
//	bnDX(x, γ, s, g, G, S)     = γ·r·(g - S/N - x̂·G/N)        (plain: γ = 1)
//
// s is always bnStats(x) of the same x, G = bnSumGX(x, s, g), S = bnSumG(g). The ops
// declare s, G and S not differentiable and return total derivatives instead (as if they
// recomputed them from x and g), so gorgonia never differentiates through bnStats:
//
//	bnNorm:  dx = bnDX(x, γ, s, g, bnSumGX(x,s,g), bnSumG(g)), dγ = bnSumGX, dβ = bnSumG
//	bnSumG:  dg = chanBcast(w)
//	bnSumGX: dg = x̂·bcast(w), dx = bcast(w)·bnDX(x, s, g, G, S) (plain)
//	bnDX:    dg = bnDX(x, γ, s, u, bnSumGX(x,s,u), bnSumG(u)) (the map g ↦ dx is symmetric),
//	         dγ = bnSumG(u·bnDX(x, s, g, G, S)),
//	         dx = -(γ/(v+ε)/N)·[x̂·(A - 3·U·G/N) + U·(g - S/N) + G·(u - Σu/N)],
//	         A = Σu·g - Σu·S/N, U = Σu·x̂,
//
// with v in bnDX's dx composed from channel sums and elementwise ops of x (differentiable),
// and the [C] arithmetic in gorgonia's ops: the family is closed under SymDiff.
//
// Arithmetic: each channel's sums run in float64 (also for float32 tensors: samples in
// order, positions in order, one goroutine per channel), each element is computed in
// float64 from the stored (dtype-rounded) statistics and rounded once; products are rounded
// before each add (no FMA). Channels and planes are independent: the bits do not depend on
// GOMAXPROCS.
type bnKind uint8

const (
	bnStats bnKind = iota
	bnNorm
	bnSumGX
	bnSumG
	bnDX
)

func (k bnKind) String() string {
	return [...]string{"BNStats", "BNNorm", "BNSumGX", "BNSumG", "BNDX"}[k]
}

type bnOp struct {
	ownedOp
	kind  bnKind
	plain bool  // bnNorm, bnDX: no γ (and β)
	shape []int // x's [B,C,H,W]
	st    *bnState
}

func newBNOp(kind bnKind, plain bool, xs []int) bnOp {
	op := bnOp{kind: kind, plain: plain && (kind == bnNorm || kind == bnDX), shape: append([]int(nil), xs...)}
	c, s := []int{xs[1]}, []int{2, xs[1]}
	var ins [][]int
	out := xs
	switch kind {
	case bnStats:
		ins, out = [][]int{xs}, s
	case bnNorm:
		ins = [][]int{xs, c, c, s}
		if op.plain {
			ins = [][]int{xs, s}
		}
	case bnSumGX:
		ins, out = [][]int{xs, s, xs}, c
	case bnSumG:
		ins, out = [][]int{xs}, c
	case bnDX:
		ins = [][]int{xs, c, s, xs, c, c}
		if op.plain {
			ins = [][]int{xs, s, xs, c, c}
		}
	}
	op.out, op.st = newOwned(op.String(), out, ins...), &bnState{}
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runBN(op, ts, out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runBN(op, ts, out) }
	return op
}

func (op bnOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

// inRanks is the rank of each input, in argument order.
func (op bnOp) String() string {
	return fmt.Sprintf("pollab.%v%v/plain=%v", op.kind, op.shape, op.plain)
}

// bnGeom is x's layout: B samples of C channels of hw values; n = B·hw values per channel.
type bnGeom struct{ B, C, hw, n int }

func (op bnOp) geom() bnGeom {
	g := bnGeom{B: op.shape[0], C: op.shape[1], hw: op.shape[2] * op.shape[3]}
	g.n = g.B * g.hw
	return g
}

// planeOf returns channel c of sample b of v.
func planeOf[T float](g bnGeom, v []T, b, c int) []T { return v[(b*g.C+c)*g.hw : (b*g.C+c+1)*g.hw] }

// chanStat returns the mean and r = 1/√(v+ε) of channel c from the stored statistics s.
func chanStat[T float](s []T, C, c int) (mean, r float64) {
	return float64(s[c]), 1 / math.Sqrt(float64(s[C+c])+bnEps)
}

// bnRun is an op's kernels for one dtype with the current run's slices, kept with the op
// (bnState) so that a run allocates nothing: the per-item functions are made once.
type bnRun[T float] struct {
	g                               bnGeom
	plain                           bool
	x, st, gr, sgx, sg, gamma, beta []T
	out                             []T
	ins                             [][]T
	f                               func(worker, i int) // the kind's per-item kernel
	items                           int
}

// bnState holds an op's kernels per dtype.
type bnState struct {
	r32 *bnRun[float32]
	r64 *bnRun[float64]
}

func runBN[T float](op bnOp, ts []tensor.Tensor, out []T) {
	var r *bnRun[T]
	switch p := any(&r).(type) {
	case **bnRun[float32]:
		if op.st.r32 == nil {
			op.st.r32 = newBNRun[float32](op)
		}
		*p = op.st.r32
	case **bnRun[float64]:
		if op.st.r64 == nil {
			op.st.r64 = newBNRun[float64](op)
		}
		*p = op.st.r64
	}
	in := make4(ts, r)
	r.out = out
	switch op.kind {
	case bnStats, bnSumG:
		r.x = in[0]
	case bnSumGX:
		r.x, r.st, r.gr = in[0], in[1], in[2]
	case bnNorm:
		r.x, r.st = in[0], in[len(in)-1]
		if !r.plain {
			r.gamma, r.beta = in[1], in[2]
		}
	case bnDX:
		r.x, in = in[0], in[1:]
		if !r.plain {
			r.gamma, in = in[0], in[1:]
		}
		r.st, r.gr, r.sgx, r.sg = in[0], in[1], in[2], in[3]
	}
	parallel(r.items, r.f)
}

// make4 returns the inputs' data in r's reused slice.
func make4[T float](ts []tensor.Tensor, r *bnRun[T]) [][]T {
	in := r.ins[:0]
	for _, t := range ts {
		in = append(in, data[T](t))
	}
	r.ins = in
	return in
}

func newBNRun[T float](op bnOp) *bnRun[T] {
	r := &bnRun[T]{g: op.geom(), plain: op.plain, ins: make([][]T, 0, 6)}
	r.items = r.g.B * r.g.C
	switch op.kind {
	case bnStats:
		r.f, r.items = r.stats, r.g.C
	case bnSumG:
		r.f, r.items = r.sumG, r.g.C
	case bnSumGX:
		r.f, r.items = r.sumGX, r.g.C
	case bnNorm:
		r.f = r.norm
	case bnDX:
		r.f = r.dx
	}
	return r
}

// stats: channel c's mean and biased variance (two passes).
func (r *bnRun[T]) stats(_, c int) {
	g, N := r.g, float64(r.g.n)
	var s float64
	for b := 0; b < g.B; b++ {
		for _, v := range planeOf(g, r.x, b, c) {
			s += float64(v)
		}
	}
	mean := s / N
	var q float64
	for b := 0; b < g.B; b++ {
		for _, v := range planeOf(g, r.x, b, c) {
			d := float64(v) - mean
			q += float64(d * d)
		}
	}
	r.out[c], r.out[g.C+c] = T(mean), T(q/N)
}

// sumG: Σ g over channel c.
func (r *bnRun[T]) sumG(_, c int) {
	var s float64
	for b := 0; b < r.g.B; b++ {
		for _, v := range planeOf(r.g, r.x, b, c) {
			s += float64(v)
		}
	}
	r.out[c] = T(s)
}

// sumGX: Σ g·(x-μ) over channel c, times r.
func (r *bnRun[T]) sumGX(_, c int) {
	g := r.g
	mean, rs := chanStat(r.st, g.C, c)
	var s float64
	for b := 0; b < g.B; b++ {
		xp, gp := planeOf(g, r.x, b, c), planeOf(g, r.gr, b, c)
		gp = gp[:len(xp)]
		for i, v := range xp {
			s += float64(float64(gp[i]) * (float64(v) - mean))
		}
	}
	r.out[c] = T(float64(s * rs))
}

// norm: plane p = (sample, channel) of (x-μ)·(γr) + β.
func (r *bnRun[T]) norm(_, p int) {
	g := r.g
	b, c := p/g.C, p%g.C
	mean, k := chanStat(r.st, g.C, c)
	var sh float64
	if !r.plain {
		k, sh = float64(float64(r.gamma[c])*k), float64(r.beta[c])
	}
	xp, yp := planeOf(g, r.x, b, c), planeOf(g, r.out, b, c)
	yp = yp[:len(xp)]
	for i, v := range xp {
		yp[i] = T(float64((float64(v)-mean)*k) + sh)
	}
}

// dx: plane p of γr·(g - S/N - (x-μ)·(r·G/N)).
func (r *bnRun[T]) dx(_, p int) {
	g, N := r.g, float64(r.g.n)
	b, c := p/g.C, p%g.C
	mean, rs := chanStat(r.st, g.C, c)
	k := rs
	if !r.plain {
		k = float64(float64(r.gamma[c]) * rs)
	}
	a := float64(r.sg[c]) / N
	rb := float64(rs * float64(float64(r.sgx[c])/N))
	xp, gp, yp := planeOf(g, r.x, b, c), planeOf(g, r.gr, b, c), planeOf(g, r.out, b, c)
	gp, yp = gp[:len(xp)], yp[:len(xp)]
	for i, v := range xp {
		t := float64(gp[i]) - a - float64((float64(v)-mean)*rb)
		yp[i] = T(k * t)
	}
}

// DiffWRT: s, G and S are not differentiated (see the family's comment).
func (op bnOp) DiffWRT(n int) []bool {
	switch op.kind {
	case bnStats:
		return []bool{false}
	case bnNorm:
		if op.plain {
			return []bool{true, false}
		}
		return []bool{true, true, true, false}
	case bnSumGX:
		return []bool{true, false, true}
	case bnSumG:
		return []bool{true}
	}
	if op.plain {
		return []bool{true, false, true, false, false}
	}
	return []bool{true, true, false, true, false, false}
}

func (op bnOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkSymDiff(op, in); err != nil {
		return nil, err
	}
	d := bnDiff{xs: op.shape}
	var res gorgonia.Nodes
	switch op.kind {
	case bnStats:
		return nil, fmt.Errorf("%v is not differentiated: its readers return total derivatives", op)
	case bnNorm:
		x, s := in[0], in[len(in)-1]
		sgx, sg := d.op(bnSumGX, false, x, s, grad), d.op(bnSumG, false, grad)
		if op.plain {
			res = gorgonia.Nodes{d.op(bnDX, true, x, s, grad, sgx, sg), nil}
		} else {
			res = gorgonia.Nodes{d.op(bnDX, false, x, in[1], s, grad, sgx, sg), sgx, sg, nil}
		}
	case bnSumG:
		res = gorgonia.Nodes{d.bcast(grad)}
	case bnSumGX:
		x, s, g := in[0], in[1], in[2]
		wb := d.bcast(grad)
		dg := d.ew(ewMul, d.op(bnNorm, true, x, s), wb)
		dx := d.ew(ewMul, wb, d.op(bnDX, true, x, s, g, out, d.op(bnSumG, false, g)))
		res = gorgonia.Nodes{dx, nil, dg}
	case bnDX:
		res = d.dxDiff(op.plain, in, grad)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%v: SymDiff: %w", op, d.err)
	}
	return res, nil
}

// dxDiff is bnDX's SymDiff (see the family's comment) for inputs in and upstream u.
func (d *bnDiff) dxDiff(plain bool, in gorgonia.Nodes, u *gorgonia.Node) gorgonia.Nodes {
	x, gamma := in[0], (*gorgonia.Node)(nil)
	rest := in[1:]
	if !plain {
		gamma, rest = rest[0], rest[1:]
	}
	s, g, G, S := rest[0], rest[1], rest[2], rest[3]
	n := float64(d.xs[0] * d.xs[2] * d.xs[3])
	U, Su := d.op(bnSumGX, false, x, s, u), d.op(bnSumG, false, u)

	// dg: the same map applied to u.
	var dg, dgamma *gorgonia.Node
	if plain {
		dg = d.op(bnDX, true, x, s, u, U, Su)
	} else {
		dg = d.op(bnDX, false, x, gamma, s, u, U, Su)
		dgamma = d.op(bnSumG, false, d.ew(ewMul, u, d.op(bnDX, true, x, s, g, G, S)))
	}

	// dx. The variance, composed from differentiable pieces of x.
	mean := d.scale(d.op(bnSumG, false, x), 1/n)
	xc := d.ew(ewSub, x, d.bcast(mean))
	ve := d.add(d.scale(d.op(bnSumG, false, d.ew(ewSquare, xc)), 1/n), bnEps)
	K := d.div(d.one(x), ve) // 1/(v+ε)
	if !plain {
		K = d.div(gamma, ve)
	}
	K = d.scale(K, -1/n)
	A := d.sub(d.op(bnSumG, false, d.ew(ewMul, u, g)), d.scale(d.mul(Su, S), 1/n))
	c1 := d.mul(K, d.sub(A, d.scale(d.mul(U, G), 3/n)))
	c2, c3 := d.mul(K, U), d.mul(K, G)
	xhat := d.op(bnNorm, true, x, s)
	gc := d.ew(ewSub, g, d.bcast(d.scale(S, 1/n)))
	uc := d.ew(ewSub, u, d.bcast(d.scale(Su, 1/n)))
	dx := d.ew(ewAdd, d.ew(ewAdd, d.ew(ewMul, d.bcast(c1), xhat), d.ew(ewMul, d.bcast(c2), gc)), d.ew(ewMul, d.bcast(c3), uc))
	if plain {
		return gorgonia.Nodes{dx, nil, dg, nil, nil}
	}
	return gorgonia.Nodes{dx, dgamma, nil, dg, nil, nil}
}

// bnDiff builds SymDiff graphs, keeping the first error (later calls return nil).
type bnDiff struct {
	xs  []int
	err error
}

func (d *bnDiff) keep(n *gorgonia.Node, err error) *gorgonia.Node {
	if d.err == nil && err != nil {
		d.err = err
	}
	if d.err != nil {
		return nil
	}
	return n
}

func (d *bnDiff) ok(ns ...*gorgonia.Node) bool {
	for _, n := range ns {
		if n == nil && d.err == nil {
			d.err = fmt.Errorf("missing operand")
		}
	}
	return d.err == nil
}

func (d *bnDiff) op(kind bnKind, plain bool, ns ...*gorgonia.Node) *gorgonia.Node {
	if !d.ok(ns...) {
		return nil
	}
	return d.keep(newBNOp(kind, plain, d.xs).apply(ns...))
}

func (d *bnDiff) bcast(v *gorgonia.Node) *gorgonia.Node {
	if !d.ok(v) {
		return nil
	}
	return d.keep(newChanOp(chanBcast, d.xs, false).apply(v))
}

func (d *bnDiff) ew(kind ewKind, ns ...*gorgonia.Node) *gorgonia.Node {
	if !d.ok(ns...) {
		return nil
	}
	return d.keep(newEWOp(kind, d.xs).apply(ns...))
}

// constant is v in n's dtype.
func constant(n *gorgonia.Node, v float64) *gorgonia.Node {
	if n.Dtype() == tensor.Float32 {
		return gorgonia.NewConstant(float32(v))
	}
	return gorgonia.NewConstant(v)
}

func (d *bnDiff) scale(v *gorgonia.Node, k float64) *gorgonia.Node {
	if !d.ok(v) {
		return nil
	}
	return d.keep(gorgonia.Mul(v, constant(v, k)))
}

func (d *bnDiff) add(v *gorgonia.Node, k float64) *gorgonia.Node {
	if !d.ok(v) {
		return nil
	}
	return d.keep(gorgonia.Add(v, constant(v, k)))
}

func (d *bnDiff) one(like *gorgonia.Node) *gorgonia.Node {
	if !d.ok(like) {
		return nil
	}
	v := make([]float64, d.xs[1])
	for i := range v {
		v[i] = 1
	}
	var back any = v
	if like.Dtype() == tensor.Float32 {
		f := make([]float32, len(v))
		for i := range f {
			f[i] = 1
		}
		back = f
	}
	return gorgonia.NewConstant(tensor.New(tensor.WithShape(d.xs[1]), tensor.WithBacking(back)))
}

func (d *bnDiff) mul(a, b *gorgonia.Node) *gorgonia.Node {
	if !d.ok(a, b) {
		return nil
	}
	return d.keep(gorgonia.HadamardProd(a, b))
}

func (d *bnDiff) div(a, b *gorgonia.Node) *gorgonia.Node {
	if !d.ok(a, b) {
		return nil
	}
	return d.keep(gorgonia.HadamardDiv(a, b))
}

func (d *bnDiff) sub(a, b *gorgonia.Node) *gorgonia.Node {
	if !d.ok(a, b) {
		return nil
	}
	return d.keep(gorgonia.Sub(a, b))
}
