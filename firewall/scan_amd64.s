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
