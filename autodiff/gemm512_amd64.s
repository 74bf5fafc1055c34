//go:build amd64 && !purego

#include "textflag.h"
#include "gemm_amd64.h"

// AVX-512 GEMM micro-kernels: C[8 rows, 16 float32 or 8 float64 columns] += A[8, k]·B[k, cols],
// the 4-row AVX2 kernels' (gemm_amd64.s) arithmetic on twice the rows per instruction: A
// addressed by element strides (ai between rows, ap between the k steps), B row-major with
// row stride ldb, each product rounded before it is added (VMULP + VADDP, no FMA), the k
// terms added in order. Every element of C gets the same operations in the same order as in
// the 4-row kernels and the pure-Go loop: the bits are identical. Both element types share
// one body (GEMM_KERNEL, gemm_amd64.h, with the GEMM8_ parts below): MOV, BCAST, MUL and ADD
// are the single- (VMOVUPS, VBROADCASTSS, VMULPS, VADDPS) or double-precision (…PD, …SD)
// instructions.

// LOAD1 and STORE1 move one row of C's block, one ZMM register, from and to C at R12.
#define LOAD1(MOV, Z) \
	MOV (R12), Z

#define STORE1(MOV, Z) \
	MOV Z, (R12)

// GEMM8_ROW adds one k step of one row: the A element at AELEM broadcast into T, times the B
// row Z8, rounded into T, then added to the row's register C.
#define GEMM8_ROW(BCAST, MUL, ADD, AELEM, T, C) \
	BCAST AELEM, T \
	MUL Z8, T, T \
	ADD T, C, C

// A's rows 4-7 are read from R14; C's 8 rows are Z0-Z7.
#define GEMM8_SETUP(MOV) \
	LEAQ (SI)(R8*4), R14 \
	MOVQ DX, R12 \
	C_ROWS4(LOAD1(MOV, Z0), LOAD1(MOV, Z1), LOAD1(MOV, Z2), LOAD1(MOV, Z3)) \
	ADDQ R11, R12 \
	C_ROWS4(LOAD1(MOV, Z4), LOAD1(MOV, Z5), LOAD1(MOV, Z6), LOAD1(MOV, Z7))

#define GEMM8_STEP(MOV, BCAST, MUL, ADD) \
	MOV (DI), Z8 \
	GEMM8_ROW(BCAST, MUL, ADD, (SI), Z9, Z0) \
	GEMM8_ROW(BCAST, MUL, ADD, (SI)(R8*1), Z10, Z1) \
	GEMM8_ROW(BCAST, MUL, ADD, (SI)(R8*2), Z11, Z2) \
	GEMM8_ROW(BCAST, MUL, ADD, (SI)(R13*1), Z12, Z3) \
	GEMM8_ROW(BCAST, MUL, ADD, (R14), Z13, Z4) \
	GEMM8_ROW(BCAST, MUL, ADD, (R14)(R8*1), Z14, Z5) \
	GEMM8_ROW(BCAST, MUL, ADD, (R14)(R8*2), Z15, Z6) \
	GEMM8_ROW(BCAST, MUL, ADD, (R14)(R13*1), Z16, Z7) \
	ADDQ R9, SI \
	ADDQ R9, R14 \
	ADDQ R10, DI

#define GEMM8_STORE(MOV) \
	C_ROWS4(STORE1(MOV, Z0), STORE1(MOV, Z1), STORE1(MOV, Z2), STORE1(MOV, Z3)) \
	ADDQ R11, R12 \
	C_ROWS4(STORE1(MOV, Z4), STORE1(MOV, Z5), STORE1(MOV, Z6), STORE1(MOV, Z7))

// func sgemm8x16(k int, a *float32, ai, ap int, b *float32, ldb int, c *float32, ldc int)
TEXT ·sgemm8x16(SB), NOSPLIT, $0-64
	GEMM_KERNEL(2, GEMM8_SETUP(VMOVUPS), GEMM8_STEP(VMOVUPS, VBROADCASTSS, VMULPS, VADDPS), GEMM8_STORE(VMOVUPS))

// func dgemm8x8(k int, a *float64, ai, ap int, b *float64, ldb int, c *float64, ldc int)
TEXT ·dgemm8x8(SB), NOSPLIT, $0-64
	GEMM_KERNEL(3, GEMM8_SETUP(VMOVUPD), GEMM8_STEP(VMOVUPD, VBROADCASTSD, VMULPD, VADDPD), GEMM8_STORE(VMOVUPD))
