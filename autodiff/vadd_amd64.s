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
