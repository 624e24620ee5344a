//go:build !amd64

package firewall

// probeBatch is probeBatchGo where there is no assembly.
func probeBatch(ct *Conntrack, hs *Header, n int, st *ctBatch) uint32 {
	return probeBatchGo(ct, hs, n, st)
}

// batchAsm is the amd64 switch; there is no assembly here.
var batchAsm = false
