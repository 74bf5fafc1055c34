//go:build amd64 && !purego

#include "textflag.h"

// The vector loops of vadd_amd64.go, each written once as a macro (defined here, before the
// first TEXT, so that vet's asmdecl does not read them as part of a function) and
// instantiated below for float32 (8 per YMM vector: LOGLANES 3) and float64 (4 per vector:
// LOGLANES 2) with that type's instructions.

// VADD: dst[i] += src[i] for i < n (n a multiple of the vector width), one IEEE addition per
// element as in the pure-Go loop (AVX2).
#define VADD(LOGLANES, MOV, ADD) \
	MOVQ n+0(FP), CX \
	MOVQ dst+8(FP), DI \
	MOVQ src+16(FP), SI \
	SHRQ $LOGLANES, CX \
	JZ done \
loop: \
	MOV (DI), Y0 \
	ADD (SI), Y0, Y0 \
	MOV Y0, (DI) \
	ADDQ $32, DI \
	ADDQ $32, SI \
	DECQ CX \
	JNZ loop \
done: \
	VZEROUPPER \
	RET

// SPLAT sets every lane of Y to the constant K (MOVK, a MOVL or MOVQ, loads it into AX; BCAST,
// a VPBROADCASTD or VPBROADCASTQ, copies it from X to each 32- or 64-bit lane).
#define SPLAT(MOVK, K, BCAST, X, Y) \
	MOVK $K, AX \
	MOVQ AX, X \
	BCAST X, Y

// RELU: out[i] = v[i]·m[i] for i < n (n a multiple of the vector width), m = 0.0 where x[i] is
// negative and non-zero (its bits, sign flipped, compare above zero as signed integers), else
// 1.0: the pure-Go ReLU's mask and its one IEEE multiplication per element. SIGN and ONE are
// the type's sign bit and 1.0, CMP its lanes' signed integer comparison.
#define RELU(LOGLANES, MOVK, SIGN, ONE, BCAST, CMP, MOV, MUL) \
	MOVQ n+0(FP), CX \
	MOVQ x+8(FP), SI \
	MOVQ v+16(FP), DX \
	MOVQ out+24(FP), DI \
	SPLAT(MOVK, SIGN, BCAST, X5, Y5) \
	SPLAT(MOVK, ONE, BCAST, X6, Y6) \
	VPXOR Y7, Y7, Y7 \
	SHRQ $LOGLANES, CX \
	JZ done \
loop: \
	VMOVDQU (SI), Y0 \
	VPXOR Y5, Y0, Y0 \
	CMP Y7, Y0, Y0 \
	VPANDN Y6, Y0, Y1 \
	MOV (DX), Y2 \
	MUL Y1, Y2, Y2 \
	MOV Y2, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JNZ loop \
done: \
	VZEROUPPER \
	RET

// func vadd32(n int, dst, src *float32)
TEXT ·vadd32(SB), NOSPLIT, $0-24
	VADD(3, VMOVUPS, VADDPS)

// func vadd64(n int, dst, src *float64)
TEXT ·vadd64(SB), NOSPLIT, $0-24
	VADD(2, VMOVUPD, VADDPD)

// func relu32(n int, x, v, out *float32)
TEXT ·relu32(SB), NOSPLIT, $0-32
	RELU(3, MOVL, 0x80000000, 0x3f800000, VPBROADCASTD, VPCMPGTD, VMOVUPS, VMULPS)

// func relu64(n int, x, v, out *float64)
TEXT ·relu64(SB), NOSPLIT, $0-32
	RELU(2, MOVQ, 0x8000000000000000, 0x3ff0000000000000, VPBROADCASTQ, VPCMPGTQ, VMOVUPD, VMULPD)
