package firewall

import "unsafe"

// conntrackBatch is how many lookups LookupBatch has in flight.
const conntrackBatch = 16

// LookupBatch is Lookup for several packets, in order: hit[i] is what
// Lookup(&hs[i]) would return after the packets before it. It first finds
// every packet's home bucket and asks the CPU to prefetch it, then looks
// them up, so that their cache misses overlap instead of following one
// another; the few keys that lie past a full home bucket get the same for
// the next bucket. hit must be at least as long as hs.
func (ct *Conntrack) LookupBatch(hs []Header, hit []bool) {
	hit = hit[:len(hs)]
	for len(hs) > 0 {
		n := min(len(hs), conntrackBatch)
		ct.lookupBatch(hs[:n], hit[:n])
		hs, hit = hs[n:], hit[n:]
	}
}

// ctBatch is the state of one LookupBatch round, per packet: its key, its
// shard, the sequence read before its table, its table and its home bucket;
// and the packets whose home bucket was full without their key (later), to
// be looked up in the next bucket. The assembly reads and writes it by the
// offsets in go_asm.h.
type ctBatch struct {
	k1, k2  [conntrackBatch]uint64
	shards  [conntrackBatch]*ctShard
	seqs    [conntrackBatch]uint32
	tabs    [conntrackBatch]*ctTable
	buckets [conntrackBatch]*ctBucket
	later   [conntrackBatch]*ctBucket
	laterAt [conntrackBatch]uint8
	nLater  int
	now     Tick
}

// lookupBatch is LookupBatch for 1 to conntrackBatch packets.
func (ct *Conntrack) lookupBatch(hs []Header, hit []bool) {
	var st ctBatch
	n := len(hs)
	hit = hit[:n]
	st.now = ct.clock.Now()
	hits := probeBatch(ct, &hs[0], n, &st)
	if hits == 1<<n-1 {
		for i := range hit {
			hit[i] = true
		}
		return
	}
	for i := range n {
		switch {
		case hits>>i&1 != 0:
			hit[i] = true
		case !fastPath(&hs[i]):
			// It may change an entry: the packets before it go first.
			ct.batchLater(&st, hs, hit)
			hit[i] = ct.lookup(&hs[i])
		default:
			b := st.buckets[i]
			if r := ct.batchProbe(&st, b, i); r != probeNext {
				hit[i] = r == probeHit || r == probeSlow && ct.batchFinish(&st, &hs[i], i)
				continue
			}
			next := &st.tabs[i].buckets[0]
			if b != &st.tabs[i].buckets[st.tabs[i].bmask] {
				next = (*ctBucket)(unsafe.Add(unsafe.Pointer(b), unsafe.Sizeof(ctBucket{})))
			}
			st.later[st.nLater], st.laterAt[st.nLater] = next, uint8(i)
			st.nLater++
		}
	}
	ct.batchLater(&st, hs, hit)
}

// probeBatchGo is probeBatch in Go: the model of the assembly, and what
// runs where there is none. For each of the n packets at hs it fills st
// with the packet's key, shard, sequence, table and home bucket, and
// prefetches the buckets; then it returns the packets (bit i for packet i)
// that are common hits: a fastPath packet whose key is in its home bucket,
// seen this tick, with no writer having moved entries meanwhile.
func probeBatchGo(ct *Conntrack, hs *Header, n int, st *ctBatch) uint32 {
	h := unsafe.Slice(hs, n)
	for i := range h {
		t := fastTuple(&h[i])
		var k ctKey
		k.k1, k.k2 = flowWords(&t)
		hash := ct.hash(&k)
		sh := &ct.shards[hash>>(64-conntrackShardBits)]
		st.seqs[i] = sh.seq.Load()
		tab := sh.tab.Load()
		st.k1[i], st.k2[i], st.shards[i], st.tabs[i] = k.k1, k.k2, sh, tab
		st.buckets[i] = &tab.buckets[hash&tab.bmask]
	}
	prefetchBuckets(&st.buckets, n)
	var hits uint32
	for i := range h {
		if !fastPath(&h[i]) {
			continue
		}
		b, k1, k2 := st.buckets[i], st.k1[i], st.k2[i]
		z0, z1, z2 := b.holds(0, k1, k2), b.holds(1, k1, k2), b.holds(2, k1, k2)
		if z0|z1|z2 != 0 && b.seen[(z1|z2<<1)&3].Load() == st.now && st.shards[i].seq.Load() == st.seqs[i] && st.seqs[i]&1 == 0 {
			hits |= 1 << i
		}
	}
	return hits
}

// Results of batchProbe.
const (
	probeHit  = iota // the key is in the bucket, live and seen this tick
	probeMiss        // the key is in no bucket: the bucket has an empty slot
	probeNext        // the bucket is full without the key: it may lie past it
	probeSlow        // anything else (a writer moved entries, a stale tick)
)

// batchProbe looks for packet i's key in bucket b.
func (ct *Conntrack) batchProbe(st *ctBatch, b *ctBucket, i int) int {
	k1, k2 := st.k1[i], st.k2[i]
	z0, z1, z2 := b.holds(0, k1, k2), b.holds(1, k1, k2), b.holds(2, k1, k2)
	full := b.k2[0].Load() != 0 && b.k2[1].Load() != 0 && b.k2[2].Load() != 0
	stable := st.shards[i].seq.Load() == st.seqs[i] && st.seqs[i]&1 == 0
	switch {
	case !stable:
		return probeSlow
	case z0|z1|z2 != 0:
		if b.seen[(z1|z2<<1)&3].Load() == st.now {
			return probeHit
		}
		return probeSlow
	case full:
		return probeNext
	}
	// Probing stops at an empty slot, and backward-shift deletion leaves
	// none between a key's home and the key.
	return probeMiss
}

// batchLater looks up the packets waiting for their next bucket, all
// prefetched at once.
func (ct *Conntrack) batchLater(st *ctBatch, hs []Header, hit []bool) {
	if st.nLater == 0 {
		return
	}
	prefetchBuckets(&st.later, st.nLater)
	for j, b := range st.later[:st.nLater] {
		i := int(st.laterAt[j])
		r := ct.batchProbe(st, b, i)
		hit[i] = r == probeHit || r != probeMiss && ct.batchFinish(st, &hs[i], i)
	}
	st.nLater = 0
}

// batchFinish is finish for packet i of a batch.
func (ct *Conntrack) batchFinish(st *ctBatch, h *Header, i int) bool {
	k := ctKey{k1: st.k1[i], k2: st.k2[i]}
	return ct.finish(h, &k, st.shards[i], st.seqs[i], st.tabs[i], ct.hash(&k), st.now)
}
