package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSameConvPatchesMatchRows: for stride-1 same-size convolutions (kernel 1, 3, 5, 7 with
// pad (k-1)/2, planes down to 1×1 and non-square), im2colSame writes every patch value
// im2colRows writes, and col2imSame accumulates the bits col2imRows does (signed zeros in
// the patch gradients included), in float32 and float64.
func TestSameConvPatchesMatchRows(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range [][4]int{{2, 5, 7, 3}, {1, 1, 1, 3}, {3, 4, 4, 1}, {2, 2, 3, 5}, {1, 8, 6, 7}, {2, 1, 9, 3}, {1, 3, 2, 5}} {
		C, H, W, k := s[0], s[1], s[2], s[3]
		g := newConvGeom([]int{1, C, H, W}, []int{2, C, k, k}, 1, (k-1)/2)
		if !g.same() {
			t.Fatalf("%v: not a same geometry", s)
		}
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			K, N := g.k(), g.n()
			ld := N + 3
			x := make([]float64, g.chw())
			for i := range x {
				x[i] = r.NormFloat64()
			}
			got, want := make([]float64, K*ld), make([]float64, K*ld)
			for i := range got { // stale scratch: every value of the rows must be written
				got[i], want[i] = 7, 7
			}
			im2colSame(x, g, got, ld)
			im2colRows(x, g, want, ld)
			for kk := 0; kk < K; kk++ {
				for n := 0; n < N; n++ {
					if a, b := got[kk*ld+n], want[kk*ld+n]; math.Float64bits(a) != math.Float64bits(b) {
						t.Fatalf("im2col row %d column %d: %v, row by row %v", kk, n, a, b)
					}
				}
			}
			col := make([]float64, K*ld)
			for i := range col {
				col[i] = r.NormFloat64()
				if r.IntN(5) == 0 {
					col[i] = math.Copysign(0, -1)
				}
			}
			col2 := append([]float64(nil), col...)
			c32, c32b := make([]float32, len(col)), make([]float32, len(col))
			for i, v := range col {
				c32[i], c32b[i] = float32(v), float32(v)
			}
			d64, w64 := make([]float64, g.chw()), make([]float64, g.chw())
			d32, w32 := make([]float32, g.chw()), make([]float32, g.chw())
			col2imSame(col, ld, g, d64)
			col2imRows(col2, ld, g, w64)
			col2imSame(c32, ld, g, d32)
			col2imRows(c32b, ld, g, w32)
			for i := range d64 {
				if math.Float64bits(d64[i]) != math.Float64bits(w64[i]) || math.Float32bits(d32[i]) != math.Float32bits(w32[i]) {
					t.Fatalf("col2im element %d: %v %v, row by row %v %v", i, d64[i], d32[i], w64[i], w32[i])
				}
			}
		})
	}
}
