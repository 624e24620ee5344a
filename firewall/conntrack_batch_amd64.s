#include "textflag.h"
#include "go_asm.h"

// func probeBatchAsm(ct *Conntrack, hs *Header, n int, st *ctBatch) int
//
// probeBatchGo, instruction for instruction where it matters: the key of
// flowWords, the hash of Conntrack.hash, the common hit of LookupBatch.
// Each way's k2 is read before its k1 and seen, and the shard's sequence
// after all three, as the Go does: a writer stores k2 last.
TEXT ·probeBatchAsm(SB), NOSPLIT|NOFRAME, $0-40
	MOVQ ct+0(FP), R8
	MOVQ hs+8(FP), SI
	MOVQ n+16(FP), R12
	MOVQ st+24(FP), DI
	XORL R9, R9                  // the hits
	XORL R10, R10                // the packets off the fast path
	TESTQ R12, R12
	JLE done
	MOVQ $0x9e3779b97f4a7c15, R13
	XORL R11, R11                // i

keys:
	MOVL Tuple_Src(SI), AX
	MOVL Tuple_Dst(SI), BX
	MOVWLZX Tuple_SrcPort(SI), CX
	MOVWLZX Tuple_DstPort(SI), DX
	MOVBLZX Tuple_Proto(SI), R14
	CMPL R14, $const_ProtoICMP
	JEQ icmp

ports:
	// a, b: the endpoints; lo, hi: them in order, without a branch.
	SHLQ $16, AX
	ORQ CX, AX                   // a
	SHLQ $16, BX
	ORQ DX, BX                   // b
	MOVQ AX, CX
	SUBQ BX, CX                  // d = a-b
	MOVQ CX, DX
	SARQ $63, DX
	ANDQ DX, CX                  // d when a < b, else 0
	ADDQ CX, BX                  // lo = b+d
	SUBQ CX, AX                  // hi = a-d
	// k1 = lo>>16<<32 | hi>>16
	MOVQ BX, CX
	SHRQ $16, CX
	SHLQ $32, CX
	MOVQ AX, DX
	SHRQ $16, DX
	ORQ DX, CX
	// k2 = lo<<48 | hi&0xffff<<32 | keyValid | kindFlow<<8 | proto
	SHLQ $48, BX
	MOVWLZX AX, AX
	SHLQ $32, AX
	ORQ AX, BX
	ORQ $const_keyValid, R14
	ORQ R14, BX
	MOVQ CX, ctBatch_k1(DI)(R11*8)
	MOVQ BX, ctBatch_k2(DI)(R11*8)

	// The hash: (k1^seed0) × (k2^seed1) folded, times the golden ratio,
	// xorshift.
	MOVQ CX, AX
	XORQ (Conntrack_seed+0)(R8), AX
	XORQ (Conntrack_seed+8)(R8), BX
	MULQ BX
	XORQ DX, AX
	IMULQ R13, AX
	MOVQ AX, DX
	SHRQ $32, DX
	XORQ DX, AX

	// The shard (top bits), its sequence, its table, the home bucket.
	MOVQ AX, DX
	SHRQ $(64-const_conntrackShardBits), DX
	IMUL3Q $ctShard__size, DX, DX
	ADDQ R8, DX
	MOVL ctShard_seq(DX), CX
	MOVL CX, ctBatch_seqs(DI)(R11*4)
	MOVQ DX, ctBatch_shards(DI)(R11*8)
	MOVQ ctShard_tab(DX), DX
	MOVQ DX, ctBatch_tabs(DI)(R11*8)
	ANDQ ctTable_bmask(DX), AX
	SHLQ $6, AX
	ADDQ ctTable_buckets(DX), AX
	PREFETCHT0 (AX)
	MOVQ AX, ctBatch_buckets(DI)(R11*8)

	// Off the fast path: a flag but the echo one, or TCP SYN, FIN or RST.
	MOVBLZX Header_Flags(SI), CX
	ANDL $(255-const_FlagICMPEcho), CX
	MOVBLZX Header_TCPFlags(SI), DX
	ANDL $(const_TCPFin+const_TCPSyn+const_TCPRst), DX
	XORL AX, AX
	CMPB Tuple_Proto(SI), $const_ProtoTCP
	CMOVLNE AX, DX
	ORL CX, DX
	JEQ fast
	BTSL R11, R10
fast:
	ADDQ $Header__size, SI
	INCQ R11
	CMPQ R11, R12
	JLT keys

	// The lookups.
	MOVL ctBatch_now(DI), R14
	MOVQ $const_keyMask, R13
	XORL R11, R11

probe:
	BTL R11, R10
	JCS next
	MOVQ ctBatch_buckets(DI)(R11*8), SI
	MOVQ ctBatch_k2(DI)(R11*8), BX
	MOVQ ctBatch_k1(DI)(R11*8), CX
	// d_w = (k2_w&keyMask ^ k2) | (k1_w ^ k1): zero where way w holds the key.
	MOVQ (ctBucket_k2+0)(SI), AX
	ANDQ R13, AX
	XORQ BX, AX
	MOVQ (ctBucket_k2+8)(SI), DX
	ANDQ R13, DX
	XORQ BX, DX
	MOVQ (ctBucket_k2+16)(SI), R8
	ANDQ R13, R8
	XORQ BX, R8
	MOVQ (ctBucket_k1+0)(SI), BX
	XORQ CX, BX
	ORQ BX, AX
	MOVQ (ctBucket_k1+8)(SI), BX
	XORQ CX, BX
	ORQ BX, DX
	MOVQ (ctBucket_k1+16)(SI), BX
	XORQ CX, BX
	ORQ BX, R8
	// The way, without a branch on it (it is random); 3 when none.
	MOVL $3, CX
	MOVL $2, BX
	TESTQ R8, R8
	CMOVLEQ BX, CX
	MOVL $1, BX
	TESTQ DX, DX
	CMOVLEQ BX, CX
	XORL BX, BX
	TESTQ AX, AX
	CMOVLEQ BX, CX
	CMPL CX, $3
	JEQ nokey
	MOVL ctBucket_seen(SI)(CX*4), AX
	CMPL AX, R14
	JNE next
	// No writer moved entries since the sequence was read.
	MOVQ ctBatch_shards(DI)(R11*8), AX
	MOVL ctShard_seq(AX), AX
	CMPL AX, ctBatch_seqs(DI)(R11*4)
	JNE next
	TESTL $1, AX
	JNE next
	BTSL R11, R9

	JMP next
nokey:
	// The key, if anywhere, lies past this bucket when it is full: start
	// loading the next one now, for LookupBatch's second round, rather
	// than after the last packet. Past the last bucket lies the table's
	// spare line, and a prefetch never faults anyway.
	PREFETCHT0 ctBucket__size(SI)

next:
	INCQ R11
	CMPQ R11, R12
	JLT probe

done:
	MOVQ R9, ret+32(FP)
	RET

icmp:
	// Both ports are the echo id, or 0.
	XORL CX, CX
	TESTB $const_FlagICMPEcho, Header_Flags(SI)
	JEQ icmpid
	MOVWLZX Header_ICMPID(SI), CX
icmpid:
	MOVQ CX, DX
	JMP ports
