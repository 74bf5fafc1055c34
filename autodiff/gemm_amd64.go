//go:build amd64 && !purego

package autodiff

import "golang.org/x/sys/cpu"

//go:noescape
func sgemm4x16(k int, a *float32, ai, ap int, b *float32, ldb int, c *float32, ldc int)

//go:noescape
func dgemm4x8(k int, a *float64, ai, ap int, b *float64, ldb int, c *float64, ldc int)

//go:noescape
func sgemm8x16(k int, a *float32, ai, ap int, b *float32, ldb int, c *float32, ldc int)

//go:noescape
func dgemm8x8(k int, a *float64, ai, ap int, b *float64, ldb int, c *float64, ldc int)

// The AVX2 kernels when the CPU has AVX2, else nil (the pure-Go loop, same bits); the
// 8-row AVX-512 kernels (gemm512_amd64.s) when it also has AVX-512F, else nil.
var (
	sgemmKernel  kernel4[float32]
	dgemmKernel  kernel4[float64]
	sgemmKernel8 kernel4[float32]
	dgemmKernel8 kernel4[float64]
)

func init() {
	if cpu.X86.HasAVX2 {
		sgemmKernel, dgemmKernel = sgemm4x16, dgemm4x8
		if cpu.X86.HasAVX512F {
			sgemmKernel8, dgemmKernel8 = sgemm8x16, dgemm8x8
		}
	}
}
