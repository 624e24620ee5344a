#include "textflag.h"

// func and8(pa, pb, pc, pd, pe unsafe.Pointer, nw int) int
TEXT ·and8(SB), NOSPLIT|NOFRAME, $0-56
	MOVQ pa+0(FP), AX
	MOVQ pb+8(FP), BX
	MOVQ pc+16(FP), CX
	MOVQ pd+24(FP), DX
	MOVQ pe+32(FP), SI
	MOVQ nw+40(FP), DI
	// K1 selects the nw words: (1<<nw)-1. Masked-off words are neither
	// read nor able to fault.
	MOVL $1, R8
	SHLXL DI, R8, R8
	DECL R8
	KMOVW R8, K1
	VMOVDQU64.Z (AX), K1, Z0
	VPANDQ.Z (BX), Z0, K1, Z0
	VPANDQ.Z (CX), Z0, K1, Z0
	VPANDQ.Z (DX), Z0, K1, Z0
	VPANDQ.Z (SI), Z0, K1, Z0
	// K2: the words with a rule in all five rows.
	VPTESTMQ Z0, Z0, K2
	KMOVW K2, R9
	// The first such word, moved to lane 0, and its lowest bit.
	VPCOMPRESSQ Z0, K2, Z1
	VMOVQ X1, R10
	TZCNTL R9, R9
	TZCNTQ R10, R10
	SHLQ $6, R9
	ADDQ R10, R9
	MOVQ $-1, AX
	KORTESTW K2, K2
	CMOVQNE R9, AX
	VZEROUPPER
	MOVQ AX, ret+48(FP)
	RET

// SEARCH finds the row of one dimension. x is in AX (zero-extended); off
// is the offset of the dimension's kdim in kernel; the row's offset in
// words (from R11) ends in dst. Clobbers BX, R8, R9, R10, Z0, K1-K4. The
// addresses that do not wait for the count (the starts, the row offsets
// before the first candidate) are formed beside the compare, so that the
// chain is: bucket, compare, count, row offset.
#define SEARCH(off, dst) \
	VPBROADCASTD AX, Z0; \
	MOVQ (off+24)(DI), R8; \
	SHRXQ R8, AX, BX; \
	MOVQ (off)(DI), R8; \
	MOVL (R8)(BX*4), BX; \
	MOVQ (off+8)(DI), R9; \
	VPCMPUD $5, (R9)(BX*4), Z0, K1; \
	VPCMPUD $5, 64(R9)(BX*4), Z0, K2; \
	VPCMPUD $5, 128(R9)(BX*4), Z0, K3; \
	VPCMPUD $5, 192(R9)(BX*4), Z0, K4; \
	MOVQ (off+16)(DI), R8; \
	LEAQ -4(R8)(BX*4), R8; \
	KUNPCKWD K1, K2, K1; \
	KUNPCKWD K3, K4, K3; \
	KUNPCKDQ K1, K3, K1; \
	KMOVQ K1, R10; \
	POPCNTQ R10, R10; \
	MOVL (R8)(R10*4), dst

// SEARCH16 is SEARCH for a dimension whose buckets overlap at most 16
// intervals (a port's, see setKernel): one compare.
#define SEARCH16(off, dst) \
	VPBROADCASTD AX, Z0; \
	MOVQ (off+24)(DI), R8; \
	SHRXQ R8, AX, BX; \
	MOVQ (off)(DI), R8; \
	MOVL (R8)(BX*4), BX; \
	MOVQ (off+8)(DI), R9; \
	VPCMPUD $5, (R9)(BX*4), Z0, K1; \
	MOVQ (off+16)(DI), R8; \
	LEAQ -4(R8)(BX*4), R8; \
	KMOVW K1, R10; \
	POPCNTL R10, R10; \
	MOVL (R8)(R10*4), dst

// func match5(k *kernel, t *Tuple) int
TEXT ·match5(SB), NOSPLIT|NOFRAME, $0-24
	MOVQ k+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ 0(DI), R11 // words
	// K7 selects the nw rule words of a row.
	MOVQ 16(DI), R8
	KMOVW R8, K7
	// The protocol's row first: it is ready soonest.
	MOVBLZX 12(SI), AX
	MOVQ 8(DI), R8
	MOVL (R8)(AX*4), R12
	MOVWLZX 8(SI), AX
	SEARCH16(88, R13)
	MOVWLZX 10(SI), AX
	SEARCH16(120, DX)
	MOVL 0(SI), AX
	SEARCH(24, CX)
	MOVL 4(SI), AX
	SEARCH(56, SI)
	// The AND, in the order the rows are likely ready.
	VMOVDQU64.Z (R11)(R12*8), K7, Z1
	VPANDQ.Z (R11)(R13*8), Z1, K7, Z1
	VPANDQ.Z (R11)(DX*8), Z1, K7, Z1
	VPANDQ.Z (R11)(CX*8), Z1, K7, Z1
	VPANDQ.Z (R11)(SI*8), Z1, K7, Z1
	VPTESTMQ Z1, Z1, K2
	// Rows of more than 8 words (more than 512 rules): a branch that
	// goes the same way on every match of one matcher.
	MOVQ 16(DI), R8
	SHRQ $8, R8
	JNZ wide
	KMOVW K2, R9
	VPCOMPRESSQ Z1, K2, Z2
	VMOVQ X2, R10
	TZCNTL R9, R9
	TZCNTQ R10, R10
	SHLQ $6, R9
	ADDQ R10, R9
	MOVQ $-1, AX
	KORTESTW K2, K2
	CMOVQNE R9, AX
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

wide:
	// Words 8 to 15 in Z3, their non-zero words in K3; the answer is in
	// Z1's first non-zero word if it has one, else in Z3's.
	KMOVW R8, K6
	VMOVDQU64.Z 64(R11)(R12*8), K6, Z3
	VPANDQ.Z 64(R11)(R13*8), Z3, K6, Z3
	VPANDQ.Z 64(R11)(DX*8), Z3, K6, Z3
	VPANDQ.Z 64(R11)(CX*8), Z3, K6, Z3
	VPANDQ.Z 64(R11)(SI*8), Z3, K6, Z3
	VPTESTMQ Z3, Z3, K3
	KMOVW K2, R9
	KMOVW K3, BX
	SHLL $8, BX
	ORL BX, R9 // bit k: word k has a common rule
	MOVL R9, R8
	VPCOMPRESSQ Z1, K2, Z2
	VMOVQ X2, R10
	VPCOMPRESSQ Z3, K3, Z4
	VMOVQ X4, BX
	KORTESTW K2, K2
	CMOVQEQ BX, R10
	TZCNTL R9, R9
	TZCNTQ R10, R10
	SHLQ $6, R9
	ADDQ R10, R9
	MOVQ $-1, AX
	TESTL R8, R8
	CMOVQNE R9, AX
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET
