//go:build amd64 && !purego

package autodiff

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func vadd32(n int, dst, src *float32)

//go:noescape
func vadd64(n int, dst, src *float64)

var haveVAdd = cpu.X86.HasAVX2

// addTo adds src into dst element by element (dst[i] += src[i], len(src) >= len(dst)): the
// AVX2 loop over whole vectors, then the pure-Go loop; every element is one IEEE addition
// either way, so the bits are those of the pure-Go loop.
func addTo[T float](dst, src []T) {
	src = src[:len(dst)]
	n := 0
	if haveVAdd && len(dst) >= 8 {
		d, s := unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0])
		if unsafe.Sizeof(dst[0]) == 4 {
			n = len(dst) &^ 7
			vadd32(n, (*float32)(d), (*float32)(s))
		} else {
			n = len(dst) &^ 3
			vadd64(n, (*float64)(d), (*float64)(s))
		}
	}
	addToGo(dst[n:], src[n:])
}

//go:noescape
func relu32(n int, x, v, out *float32)

//go:noescape
func relu64(n int, x, v, out *float64)

// reluMul is reluMulGo with the AVX2 loop over whole vectors (the same mask and the same
// multiplication per element: the same bits).
func reluMul[T float](x, v, out []T) {
	v, out = v[:len(x)], out[:len(x)]
	n := 0
	if haveVAdd && len(x) >= 8 {
		px, pv, po := unsafe.Pointer(&x[0]), unsafe.Pointer(&v[0]), unsafe.Pointer(&out[0])
		if unsafe.Sizeof(x[0]) == 4 {
			n = len(x) &^ 7
			relu32(n, (*float32)(px), (*float32)(pv), (*float32)(po))
		} else {
			n = len(x) &^ 3
			relu64(n, (*float64)(px), (*float64)(pv), (*float64)(po))
		}
	}
	reluMulGo(x[n:], v[n:], out[n:])
}
