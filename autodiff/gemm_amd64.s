//go:build amd64 && !purego

#include "textflag.h"
#include "gemm_amd64.h"

// Register-blocked GEMM micro-kernels (AVX2): C[4 rows, 16 float32 or 8 float64 columns] +=
// A[4, k]·B[k, cols], with A addressed by element strides (ai between rows, ap between the k
// steps, so that a transposed A needs no copy) and B row-major with row stride ldb. Each
// product is rounded before it is added (VMULP + VADDP, no FMA), and the k terms are added in
// order, so the pure-Go kernels in gemm.go give bit-identical results on any machine. Both
// element types share one body (GEMM_KERNEL, gemm_amd64.h, with the GEMM4_ parts below):
// BCAST, MUL and ADD are the single- (VBROADCASTSS, VMULPS, VADDPS) or double-precision
// (…SD, …PD) instructions.

// LOAD2 and STORE2 move one row of C's block, two YMM registers (32 bytes each), from and to
// C at R12.
#define LOAD2(Y_LO, Y_HI) \
	VMOVUPS (R12), Y_LO \
	VMOVUPS 32(R12), Y_HI

#define STORE2(Y_LO, Y_HI) \
	VMOVUPS Y_LO, (R12) \
	VMOVUPS Y_HI, 32(R12)

// GEMM4_ROW adds one k step of one row: the A element at AELEM (broadcast into Y10) times the
// B row's two vectors Y8, Y9, each product rounded (Y11, Y12) and then added to C_LO, C_HI.
#define GEMM4_ROW(BCAST, MUL, ADD, AELEM, C_LO, C_HI) \
	BCAST AELEM, Y10 \
	MUL Y8, Y10, Y11 \
	ADD Y11, C_LO, C_LO \
	MUL Y9, Y10, Y12 \
	ADD Y12, C_HI, C_HI

// C's 4×2 vectors are Y0-Y7, a row's two in a row.
#define GEMM4_SETUP \
	MOVQ DX, R12 \
	C_ROWS4(LOAD2(Y0, Y1), LOAD2(Y2, Y3), LOAD2(Y4, Y5), LOAD2(Y6, Y7))

#define GEMM4_STEP(BCAST, MUL, ADD) \
	VMOVUPS (DI), Y8 \
	VMOVUPS 32(DI), Y9 \
	GEMM4_ROW(BCAST, MUL, ADD, (SI), Y0, Y1) \
	GEMM4_ROW(BCAST, MUL, ADD, (SI)(R8*1), Y2, Y3) \
	GEMM4_ROW(BCAST, MUL, ADD, (SI)(R8*2), Y4, Y5) \
	GEMM4_ROW(BCAST, MUL, ADD, (SI)(R13*1), Y6, Y7) \
	ADDQ R9, SI \
	ADDQ R10, DI

#define GEMM4_STORE \
	C_ROWS4(STORE2(Y0, Y1), STORE2(Y2, Y3), STORE2(Y4, Y5), STORE2(Y6, Y7))

// func sgemm4x16(k int, a *float32, ai, ap int, b *float32, ldb int, c *float32, ldc int)
TEXT ·sgemm4x16(SB), NOSPLIT, $0-64
	GEMM_KERNEL(2, GEMM4_SETUP, GEMM4_STEP(VBROADCASTSS, VMULPS, VADDPS), GEMM4_STORE)

// func dgemm4x8(k int, a *float64, ai, ap int, b *float64, ldb int, c *float64, ldc int)
TEXT ·dgemm4x8(SB), NOSPLIT, $0-64
	GEMM_KERNEL(3, GEMM4_SETUP, GEMM4_STEP(VBROADCASTSD, VMULPD, VADDPD), GEMM4_STORE)
