//go:build !amd64 && !arm64

package firewall

// prefetchSlots is a no-op where no prefetch instruction is wired up.
func prefetchSlots(*[conntrackBatch]*ctSlot, int) {}
