//go:build !amd64 || purego

package autodiff

// addTo adds src into dst element by element (dst[i] += src[i], len(src) >= len(dst)).
func addTo[T float](dst, src []T) { addToGo(dst, src[:len(dst)]) }

// reluMul is reluMulGo.
func reluMul[T float](x, v, out []T) { reluMulGo(x, v, out) }
