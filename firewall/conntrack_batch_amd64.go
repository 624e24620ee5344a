package firewall

// batchAsm makes probeBatch run the assembly. A variable, so that the
// tests run both.
var batchAsm = true

// probeBatch is probeBatchGo, in assembly on amd64.
func probeBatch(ct *Conntrack, hs *Header, n int, st *ctBatch) uint32 {
	if batchAsm {
		return uint32(probeBatchAsm(ct, hs, n, st))
	}
	return probeBatchGo(ct, hs, n, st)
}

// probeBatchAsm is probeBatchGo written out: about 50 instructions a
// packet where the compiled Go takes 130 (it copies the tuple and the key
// through the stack, and checks bounds), and each bucket's prefetch is
// issued as soon as its address is known rather than after the last
// packet's. n is 1 to conntrackBatch.
//
//go:noescape
func probeBatchAsm(ct *Conntrack, hs *Header, n int, st *ctBatch) int
