//go:build amd64 || arm64

package firewall

// prefetchBuckets asks the CPU to start loading the cache lines of the
// first n buckets of p without waiting for them, so that the lookups of a
// batch overlap their cache misses. One call per batch: an assembly call
// spills every register.
//
//go:noescape
func prefetchBuckets(p *[conntrackBatch]*ctBucket, n int)
