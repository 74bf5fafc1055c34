//go:build !amd64 || purego

package autodiff

// No SIMD kernels off amd64: gemm runs its pure-Go loop, which gives the same bits.
var (
	sgemmKernel  kernel4[float32]
	dgemmKernel  kernel4[float64]
	sgemmKernel8 kernel4[float32]
	dgemmKernel8 kernel4[float64]
)
