//go:build !amd64 && !arm64

package firewall

// prefetchBuckets is a no-op where no prefetch instruction is wired up.
func prefetchBuckets(*[conntrackBatch]*ctBucket, int) {}
