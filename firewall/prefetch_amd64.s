#include "textflag.h"

// func prefetchSlots(p *[conntrackBatch]*ctSlot, n int)
TEXT ·prefetchSlots(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	MOVQ (AX), DX
	PREFETCHT0 (DX)
	PREFETCHT0 16(DX)
	ADDQ $8, AX
	DECQ CX
	JNZ loop
done:
	RET
