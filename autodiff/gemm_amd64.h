// The skeleton shared by the GEMM micro-kernels of gemm_amd64.s (4 rows, AVX2) and
// gemm512_amd64.s (8 rows, AVX-512), all four of the Go type kernel4[T]:
//	func(k int, a *T, ai, ap int, b *T, ldb int, c *T, ldc int)

// GEMM_KERNEL is a kernel's whole body. It loads the arguments, CX = k, SI = a, DI = b,
// DX = c, and the strides turned from elements into bytes (shifted left by LOGSIZE, 2 for
// float32, 3 for float64): R8 = ai, R9 = ap, R10 = ldb, R11 = ldc, R13 = 3·ai (A's fourth
// row). Then SETUP loads the block of C into registers; each of the k steps, in order, is
// STEP (add B's row at DI times A's column at SI into the registers, move SI and DI on one
// step); last, STORE_C writes the registers back into C from R12 = c.
#define GEMM_KERNEL(LOGSIZE, SETUP, STEP, STORE_C) \
	MOVQ k+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ ai+16(FP), R8 \
	MOVQ ap+24(FP), R9 \
	MOVQ b+32(FP), DI \
	MOVQ ldb+40(FP), R10 \
	MOVQ c+48(FP), DX \
	MOVQ ldc+56(FP), R11 \
	SHLQ $LOGSIZE, R8 \
	SHLQ $LOGSIZE, R9 \
	SHLQ $LOGSIZE, R10 \
	SHLQ $LOGSIZE, R11 \
	LEAQ (R8)(R8*2), R13 \
	SETUP \
	TESTQ CX, CX \
	JE done \
loop: \
	STEP \
	DECQ CX \
	JNZ loop \
done: \
	MOVQ DX, R12 \
	STORE_C \
	VZEROUPPER \
	RET

// C_ROWS4 walks four rows of C from R12 (R12 += ldc between them), with ROW0 on the first row,
// ROW1 on the second, and so on: the loads and stores of the registers that hold C's block.
#define C_ROWS4(ROW0, ROW1, ROW2, ROW3) \
	ROW0 \
	ADDQ R11, R12 \
	ROW1 \
	ADDQ R11, R12 \
	ROW2 \
	ADDQ R11, R12 \
	ROW3
