//go:build amd64 || arm64

package firewall

// prefetchSlots asks the CPU to start loading the cache lines of the first
// n slots of p (both lines of a slot that straddles two) without waiting for
// them, so that the lookups of a batch overlap their cache misses. One call
// per batch: an assembly call spills every register.
//
//go:noescape
func prefetchSlots(p *[conntrackBatch]*ctSlot, n int)
