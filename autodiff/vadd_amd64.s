//go:build amd64 && !purego

#include "textflag.h"

// dst[i] += src[i] for i < n (n a multiple of the vector width: 8 float32, 4 float64), one
// IEEE addition per element as in the pure-Go loop (AVX2).

// func vadd32(n int, dst, src *float32)
TEXT ·vadd32(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), CX
	MOVQ dst+8(FP), DI
	MOVQ src+16(FP), SI
	SHRQ $3, CX
	JZ done32
loop32:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ loop32
done32:
	VZEROUPPER
	RET

// func vadd64(n int, dst, src *float64)
TEXT ·vadd64(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), CX
	MOVQ dst+8(FP), DI
	MOVQ src+16(FP), SI
	SHRQ $2, CX
	JZ done64
loop64:
	VMOVUPD (DI), Y0
	VADDPD (SI), Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ loop64
done64:
	VZEROUPPER
	RET

// out[i] = v[i]·m[i] for i < n (n a multiple of 8 float32 or 4 float64), m = 0.0 where x[i]
// is negative and non-zero (its bits, sign flipped, compare above zero as signed integers),
// else 1.0: the pure-Go ReLU's mask and its one IEEE multiplication per element.

// func relu32(n int, x, v, out *float32)
TEXT ·relu32(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ out+24(FP), DI
	MOVL $0x80000000, AX
	MOVQ AX, X5
	VPBROADCASTD X5, Y5
	MOVL $0x3f800000, AX
	MOVQ AX, X6
	VPBROADCASTD X6, Y6
	VPXOR Y7, Y7, Y7
	SHRQ $3, CX
	JZ doner32
loopr32:
	VMOVDQU (SI), Y0
	VPXOR Y5, Y0, Y0
	VPCMPGTD Y7, Y0, Y0
	VPANDN Y6, Y0, Y1
	VMOVUPS (DX), Y2
	VMULPS Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ loopr32
doner32:
	VZEROUPPER
	RET

// func relu64(n int, x, v, out *float64)
TEXT ·relu64(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ out+24(FP), DI
	MOVQ $0x8000000000000000, AX
	MOVQ AX, X5
	VPBROADCASTQ X5, Y5
	MOVQ $0x3ff0000000000000, AX
	MOVQ AX, X6
	VPBROADCASTQ X6, Y6
	VPXOR Y7, Y7, Y7
	SHRQ $2, CX
	JZ doner64
loopr64:
	VMOVDQU (SI), Y0
	VPXOR Y5, Y0, Y0
	VPCMPGTQ Y7, Y0, Y0
	VPANDN Y6, Y0, Y1
	VMOVUPD (DX), Y2
	VMULPD Y1, Y2, Y2
	VMOVUPD Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ loopr64
doner64:
	VZEROUPPER
	RET
