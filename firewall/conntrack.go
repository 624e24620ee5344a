package firewall

import (
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ConntrackConfig configures a connection-tracking table. Zero fields take
// the defaults of docs/semantics.md §4.
type ConntrackConfig struct {
	// MaxEntries bounds the table (default 1,000,000). When it is full, new
	// connections are refused (CONNTRACK_FULL); tracked ones keep working.
	MaxEntries int
	// IdleTimeout ends an entry that saw no packet for that long (910 s).
	IdleTimeout time.Duration
	// ClosingTimeout ends a TCP entry that long after FIN was seen both ways
	// or RST either way (10 s).
	ClosingTimeout time.Duration
	// FragmentTimeout ends the entry that lets the later fragments of an
	// allowed first fragment through (30 s).
	FragmentTimeout time.Duration
	// Clock is the coarse clock; nil means a real clock the table starts
	// and stops itself. A caller-supplied clock is not started or stopped.
	Clock *Clock
}

// Defaults of ConntrackConfig.
const (
	DefaultConntrackMax     = 1_000_000
	DefaultIdleTimeout      = 910 * time.Second
	DefaultClosingTimeout   = 10 * time.Second
	DefaultFragmentTimeout  = 30 * time.Second
	conntrackShardBits      = 3
	conntrackShards         = 1 << conntrackShardBits
	conntrackMinBuckets     = 8
	conntrackSweepPerInsert = 4
	// A shard's table doubles when an insert would take it past
	// conntrackLoadNum/conntrackLoadDen of its slots full.
	conntrackLoadNum, conntrackLoadDen = 2, 3
)

// Conntrack is the connection-tracking table of a VPC: a bounded,
// pointer-free open-addressing hash table (linear probing, backward-shift
// deletion) split into shards. Its slots come three to a 64-byte bucket,
// one cache line, and a key's home is the first slot of its bucket, so that
// a lookup nearly always reads that one line. Keys are symmetric, so both directions of a
// flow find the same entry. Lookups take no lock: every shard is a seqlock
// whose readers retry when a writer moved entries under them. Inserts,
// TCP state changes and deletions lock one shard.
//
// Expired entries count as absent at once and are reclaimed lazily: every
// insert sweeps a few slots of its shard, and a full table sweeps a whole
// shard before it refuses a connection.
type Conntrack struct {
	shards  [conntrackShards]ctShard
	seed    [2]uint64
	max     int64
	n       atomic.Int64
	idle    uint32
	closing uint32
	frag    uint32
	// timeouts is indexed by meta>>3&3: the lifetime of an entry by its
	// stClosing and stFrag bits, without a branch.
	timeouts  [4]uint32
	clock     *Clock
	ownsClock bool

	inserted, refused, expired atomic.Uint64
	lastSweep                  atomic.Uint64 // tick+1 of the last full sweep
}

type ctShard struct {
	mu    sync.Mutex
	seq   atomic.Uint32
	tab   atomic.Pointer[ctTable]
	count int // under mu
	sweep int // next slot the incremental sweep looks at
	_     [64]byte
}

// ctTable is one shard's slots: 3·len(buckets) of them, slot i being way
// i%3 of bucket i/3. Probing runs over slots and wraps at n.
type ctTable struct {
	buckets []ctBucket
	bmask   uint64 // len(buckets)-1, a power of two minus one
	n       int    // slots
}

// ctWays is how many slots a bucket holds.
const ctWays = 3

// ctBucket is three slots in one cache line. k1 holds a key's two
// addresses, k2 its ports, protocol and kind (and keyValid, so that a key
// is never zero) with the entry's state bits at stShift; seen its last-seen
// tick. A slot is empty when its k2 is zero. A writer publishes a slot by
// storing k2 last, so a reader that sees the key sees the rest of the entry.
type ctBucket struct {
	k1 [ctWays]atomic.Uint64
	k2 [ctWays]atomic.Uint64
	// seen has a fourth, unused element, the line's padding, so that the
	// lookups index it with two bits and no bounds check.
	seen [ctWays + 1]atomic.Uint32
}

// State bits sit in k2 at stShift; keyMask clears them, leaving the key.
const (
	stShift = 24
	stMask  = 0x1f
	keyMask = ^uint64(stMask << stShift)
)

// at returns the bucket and way of slot i.
func (t *ctTable) at(i int) (*ctBucket, int) {
	return &t.buckets[i/ctWays], i % ctWays
}

// next returns the slot after i, wrapping.
func (t *ctTable) next(i int) int {
	if i++; i == t.n {
		return 0
	}
	return i
}

// home returns the home slot of a hash: the first of its bucket.
func (t *ctTable) home(hash uint64) int {
	return int(hash&t.bmask) * ctWays
}

// key returns slot i's key (state bits cleared), zero when empty.
func (t *ctTable) key(i int) (k1, k2 uint64) {
	b, w := t.at(i)
	return b.k1[w].Load(), b.k2[w].Load() & keyMask
}

// meta returns slot i's last-seen tick (high 32 bits) and state bits, as
// one word; zero when the slot is empty.
func (t *ctTable) meta(i int) uint64 {
	b, w := t.at(i)
	k2 := b.k2[w].Load()
	if k2 == 0 {
		return 0
	}
	return uint64(b.seen[w].Load())<<32 | k2>>stShift&stMask
}

// set fills slot i with key k1, k2 and meta m; k2 goes last, so that a
// lock-free reader that finds the key finds the whole entry.
func (t *ctTable) set(i int, k1, k2, m uint64) {
	b, w := t.at(i)
	b.k1[w].Store(k1)
	b.seen[w].Store(uint32(m >> 32))
	b.k2[w].Store(k2&keyMask | (m&stMask)<<stShift)
}

// setMeta changes the tick and state of slot i, which holds an entry. The
// tick goes first: a reader that sees the new state sees the new tick.
func (t *ctTable) setMeta(i int, m uint64) {
	b, w := t.at(i)
	b.seen[w].Store(uint32(m >> 32))
	b.k2[w].Store(b.k2[w].Load()&keyMask | (m&stMask)<<stShift)
}

// clear empties slot i.
func (t *ctTable) clear(i int) {
	b, w := t.at(i)
	b.k2[w].Store(0)
	b.seen[w].Store(0)
}

// dist returns how many slots lie from a to b, wrapping.
func (t *ctTable) dist(a, b int) int {
	if d := b - a; d >= 0 {
		return d
	}
	return b - a + t.n
}

// holds returns 1 when way w of the bucket holds the key k1, k2, else 0,
// without a branch: the way a key sits in is random, and a branch on it
// would mispredict. The lookups call it for each way, written out (a
// function doing all three is too big to be inlined).
func (b *ctBucket) holds(w int, k1, k2 uint64) uint64 {
	d := (b.k2[w].Load()&keyMask ^ k2) | (b.k1[w].Load() ^ k1)
	return (d - 1) &^ d >> 63 // the top bit of (d-1)&^d is set only when d is zero
}

// State bits of ctSlot.meta.
const (
	stUsed    = 1 << 0
	stFinLo   = 1 << 1 // FIN seen from the lower endpoint of the key
	stFinHi   = 1 << 2 // FIN seen from the higher endpoint
	stClosing = 1 << 3 // RST seen, or FIN both ways: ClosingTimeout applies
	stFrag    = 1 << 4 // fragment entry: FragmentTimeout applies
)

// Kinds of key, in k2 bits 8..15; bit 16 is set in every key.
const (
	kindFlow = 0
	kindFrag = 1
	keyValid = 1 << 16
)

// ConntrackStats are the table's counters.
type ConntrackStats struct {
	Entries  int    // entries held now (expired ones not yet reclaimed included)
	Max      int    // the bound
	Inserted uint64 // entries created
	Refused  uint64 // new connections refused because the table was full
	Expired  uint64 // entries reclaimed after their timeout
}

// NewConntrack returns an empty table.
func NewConntrack(cfg ConntrackConfig) *Conntrack {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultConntrackMax
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ClosingTimeout <= 0 {
		cfg.ClosingTimeout = DefaultClosingTimeout
	}
	if cfg.FragmentTimeout <= 0 {
		cfg.FragmentTimeout = DefaultFragmentTimeout
	}
	ct := &Conntrack{
		seed:    [2]uint64{rand.Uint64(), rand.Uint64()},
		max:     int64(cfg.MaxEntries),
		idle:    ticks(cfg.IdleTimeout),
		closing: ticks(cfg.ClosingTimeout),
		frag:    ticks(cfg.FragmentTimeout),
		clock:   cfg.Clock,
	}
	ct.timeouts = [4]uint32{ct.idle, ct.closing, ct.frag, ct.frag}
	if ct.clock == nil {
		ct.clock = NewClock()
		ct.clock.Start()
		ct.ownsClock = true
	}
	for i := range ct.shards {
		ct.shards[i].tab.Store(newCtTable(conntrackMinBuckets))
	}
	return ct
}

// newCtTable returns a table of nb buckets (a power of two), each on its
// own cache line.
func newCtTable(nb int) *ctTable {
	const line = unsafe.Sizeof(ctBucket{})
	size := uintptr(nb) * line
	// Pointer-free words, with room to start the buckets on a line
	// boundary; a large table starts on a huge-page boundary, so that all
	// of it, not only its aligned middle, can have huge pages.
	align := line
	if size >= hugeTable {
		align = hugePage
	}
	words := make([]uint64, (size+align)/8)
	off := (align - uintptr(unsafe.Pointer(&words[0]))%align) % align
	p := unsafe.Add(unsafe.Pointer(&words[0]), off)
	t := &ctTable{buckets: unsafe.Slice((*ctBucket)(p), nb), bmask: uint64(nb - 1), n: nb * ctWays}
	if size >= hugeTable {
		adviseHuge(p, size)
	}
	return t
}

// A table of hugeTable bytes or more is placed and advised for huge pages
// of hugePage bytes.
const (
	hugeTable = 4 << 20
	hugePage  = 2 << 20
)

// Close stops the table's own clock, if it has one.
func (ct *Conntrack) Close() {
	if ct.ownsClock {
		ct.clock.Stop()
	}
}

// Clock returns the table's clock.
func (ct *Conntrack) Clock() *Clock { return ct.clock }

// ctKey is a canonical key: lo/hi endpoints ordered, and whether the packet
// travels from hi to lo.
type ctKey struct {
	k1, k2 uint64
	fromHi bool
}

// flowKey returns the symmetric key of t; id replaces both ports for ICMP
// echo.
func flowKey(t *Tuple) ctKey {
	k1, k2 := flowWords(t)
	// The packet travels from hi to lo when its source is the higher
	// endpoint.
	a, b := uint64(t.Src)<<16|uint64(t.SrcPort), uint64(t.Dst)<<16|uint64(t.DstPort)
	return ctKey{k1: k1, k2: k2, fromHi: a > b}
}

// flowWords returns the two words of t's symmetric key, small enough to be
// inlined into the lookups.
func flowWords(t *Tuple) (k1, k2 uint64) {
	a, b := uint64(t.Src)<<16|uint64(t.SrcPort), uint64(t.Dst)<<16|uint64(t.DstPort)
	// The order of the two endpoints is random per packet and would defeat
	// a branch predictor, so lo and hi come from arithmetic (both are below
	// 2^48, so a-b cannot overflow), not from min and max, which the
	// compiler turns into branches once this is inlined into a loop.
	d := a - b
	d &= uint64(int64(d) >> 63) // a-b when a < b, else 0
	lo, hi := b+d, a-d
	return lo>>16<<32 | hi>>16, lo<<48 | hi&0xffff<<32 | keyValid | kindFlow<<8 | uint64(t.Proto)
}

// headerKey returns the flow key of a packet (ICMP echo: the id as ports).
func headerKey(h *Header) ctKey {
	if h.Proto == ProtoICMP {
		t := Tuple{Src: h.Src, Dst: h.Dst, Proto: ProtoICMP}
		if h.Has(FlagICMPEcho) {
			t.SrcPort, t.DstPort = h.ICMPID, h.ICMPID
		}
		return flowKey(&t)
	}
	return flowKey(&h.Tuple)
}

// fragKey returns the key that follows the fragments of one datagram.
func fragKey(h *Header) ctKey {
	return ctKey{
		k1: uint64(h.Src)<<32 | uint64(h.Dst),
		k2: uint64(h.IPID)<<48 | keyValid | kindFrag<<8 | uint64(h.Proto),
	}
}

// hash is a keyed hash of k whose every bit depends on every bit of the key,
// so that the shard (the top bits) and the home slot (the low bits) both
// do: flows that differ in one port, one address or one IP id spread over
// the table, not into one probe run, however a scan or flood shapes them.
// The two words, each masked by its own random seed, go through one
// 128-bit multiply folded to 64 bits (wyhash's mix: each input bit reaches
// the low word's bits above it and the high word's bits below it), then
// through a multiply and xorshift, which spreads what the fold left
// correlated: without it keys that differ only in the top bits of the port
// word (the lower endpoint's port) still ran up to 146 slots long. Its
// latency equals the unkeyed-port hash it replaced (about 20 cycles in a
// dependent chain).
func (ct *Conntrack) hash(k *ctKey) uint64 {
	hi, lo := bits.Mul64(k.k1^ct.seed[0], k.k2^ct.seed[1])
	h := (hi ^ lo) * 0x9e3779b97f4a7c15
	return h ^ h>>32
}

func (ct *Conntrack) shard(hash uint64) *ctShard {
	return &ct.shards[hash>>(64-conntrackShardBits)]
}

// timeout returns how many ticks an entry with meta m lives unseen.
func (ct *Conntrack) timeout(m uint64) uint32 {
	switch {
	case m&stFrag != 0:
		return ct.frag
	case m&stClosing != 0:
		return ct.closing
	}
	return ct.idle
}

func (ct *Conntrack) live(m uint64, now Tick) bool {
	// Signed: a concurrent refresh may stamp a tick later than now.
	return m != 0 && int32(now-Tick(m>>32)) <= int32(ct.timeout(m))
}

// find returns the slot index of k in t, or -1. Callers hold the lock or
// validate with the shard's sequence.
func find(t *ctTable, k *ctKey, hash uint64) int {
	return findFrom(t, k, t.home(hash))
}

// findFrom is find from slot i on.
func findFrom(t *ctTable, k *ctKey, i int) int {
	for n := 0; n < t.n; n, i = n+1, t.next(i) {
		b, w := t.at(i)
		k2 := b.k2[w].Load()
		if k2&keyMask == k.k2 && b.k1[w].Load() == k.k1 {
			return i
		}
		if k2 == 0 {
			return -1
		}
	}
	return -1 // a full table, only seen by a reader racing a writer
}

// Lookup reports whether h belongs to a tracked connection: a packet of a
// live flow (either direction), an ICMP error quoting one, or a later
// fragment of an allowed datagram. A hit refreshes the entry and follows
// TCP's FIN and RST. Lookup never allocates and takes no lock on the common
// path.
func (ct *Conntrack) Lookup(h *Header) bool {
	if !fastPath(h) {
		return ct.lookup(h)
	}
	// The key and the check of the home slot are written out here: as two
	// calls (the compiler inlines neither) they cost a sixth of a hit on a
	// cached flow.
	t := fastTuple(h)
	var k ctKey
	k.k1, k.k2 = flowWords(&t)
	hash := ct.hash(&k)
	sh := &ct.shards[hash>>(64-conntrackShardBits)]
	s1 := sh.seq.Load()
	tab := sh.tab.Load()
	b, now := &tab.buckets[hash&tab.bmask], ct.clock.Now()
	z0, z1, z2 := b.holds(0, k.k1, k.k2), b.holds(1, k.k1, k.k2), b.holds(2, k.k1, k.k2)
	if z0|z1|z2 != 0 && b.seen[(z1|z2<<1)&3].Load() == now && sh.seq.Load() == s1 && s1&1 == 0 {
		return true
	}
	return ct.finish(h, &k, sh, s1, tab, hash, now)
}

// icmpPorts returns the ports of an ICMP packet's key: its echo id, or 0.
func icmpPorts(h *Header) (uint16, uint16) {
	if h.Has(FlagICMPEcho) {
		return h.ICMPID, h.ICMPID
	}
	return 0, 0
}

// fastTuple is the tuple of a fastPath packet's key: its own, with the
// echo id as both ports for ICMP. Small enough to be inlined (flowWords
// with it is not).
func fastTuple(h *Header) Tuple {
	t := h.Tuple
	if t.Proto == ProtoICMP {
		t.SrcPort, t.DstPort = icmpPorts(h)
	}
	return t
}

// fastPath reports whether h changes no entry's state: not a fragment, not
// an ICMP error, not a TCP SYN, FIN or RST.
func fastPath(h *Header) bool {
	return h.Flags&^FlagICMPEcho == 0 && (h.Proto != ProtoTCP || h.TCPFlags&(TCPFin|TCPRst|TCPSyn) == 0)
}

// finish ends the lookup of a fastPath packet whose key k has hash hash
// in shard sh, whose sequence read s1 before its table tab was, past the
// common case (found in its home bucket, seen in the current tick): it
// answers itself when it finds a live entry (in the home bucket or past
// it) and no writer moved entries meanwhile — a few dozen instructions with
// predictable branches, so that the CPU overlaps the cache misses of
// consecutive lookups — and hands anything else to the general path.
func (ct *Conntrack) finish(h *Header, k *ctKey, sh *ctShard, s1 uint32, tab *ctTable, hash uint64, now Tick) bool {
	i := findFrom(tab, k, tab.home(hash))
	if i < 0 {
		return ct.lookup(h)
	}
	b, w := tab.at(i)
	seen := b.seen[w].Load()
	st := b.k2[w].Load() >> stShift & stMask
	if sh.seq.Load() != s1 || s1&1 != 0 || int32(now-seen) > int32(ct.timeouts[st>>3&3]) {
		return ct.lookup(h)
	}
	if seen != now {
		// Lock-free refresh; losing a race only keeps an older tick.
		b.seen[w].CompareAndSwap(seen, now)
	}
	return true
}

// lookup is Lookup for every packet: the general path.
func (ct *Conntrack) lookup(h *Header) bool {
	var k ctKey
	switch {
	case h.Has(FlagICMPError):
		k = flowKey(&h.Inner)
	case h.Has(FlagLaterFragment):
		k = fragKey(h)
	default:
		k = headerKey(h)
	}
	hash := ct.hash(&k)
	sh := ct.shard(hash)
	now := ct.clock.Now()
	for try := 0; ; try++ {
		s1 := sh.seq.Load()
		if s1&1 != 0 {
			if try > 8 {
				return ct.lookupLocked(sh, h, &k, hash, now)
			}
			runtime.Gosched()
			continue
		}
		t := sh.tab.Load()
		i := find(t, &k, hash)
		var m uint64
		if i >= 0 {
			m = t.meta(i)
		}
		if sh.seq.Load() != s1 {
			continue
		}
		if i < 0 || !ct.live(m, now) {
			return false
		}
		if h.Has(FlagICMPError) {
			return true // related: no refresh
		}
		if h.Proto == ProtoTCP && (h.TCPFlags&(TCPFin|TCPRst) != 0 || h.TCPFlags&TCPSyn != 0 && m&stClosing != 0) ||
			h.Flags&(FlagFragment|FlagLaterFragment) == FlagFragment {
			return ct.lookupLocked(sh, h, &k, hash, now)
		}
		if Tick(m>>32) != now {
			// Lock-free refresh; losing a race only keeps an older tick.
			b, w := t.at(i)
			b.seen[w].CompareAndSwap(Tick(m>>32), now)
		}
		return true
	}
}

// lookupLocked is Lookup under the shard lock, for the packets that change
// an entry's state: TCP FIN, RST and SYN, and first fragments.
func (ct *Conntrack) lookupLocked(sh *ctShard, h *Header, k *ctKey, hash uint64, now Tick) bool {
	sh.mu.Lock()
	t := sh.tab.Load()
	i := find(t, k, hash)
	if i < 0 || !ct.live(t.meta(i), now) {
		sh.mu.Unlock()
		return false
	}
	m := t.meta(i)
	if h.Has(FlagICMPError) {
		sh.mu.Unlock()
		return true
	}
	if h.Proto == ProtoTCP && !h.Has(FlagLaterFragment) {
		m = tcpState(m, h.TCPFlags, k.fromHi)
	}
	t.setMeta(i, uint64(now)<<32|m&0xffffffff)
	sh.mu.Unlock()
	if h.Has(FlagFragment) && !h.Has(FlagLaterFragment) {
		ct.insertFrag(h, now)
	}
	return true
}

// tcpState folds TCP flags into an entry's state bits.
func tcpState(m uint64, flags uint8, fromHi bool) uint64 {
	switch {
	case flags&TCPRst != 0:
		m |= stClosing
	case flags&TCPSyn != 0 && flags&TCPAck == 0 && m&stClosing != 0:
		// A new connection reuses the five-tuple of a closing one.
		m &^= stClosing | stFinLo | stFinHi
	case flags&TCPFin != 0:
		if fromHi {
			m |= stFinHi
		} else {
			m |= stFinLo
		}
		if m&(stFinLo|stFinHi) == stFinLo|stFinHi {
			m |= stClosing
		}
	}
	return m
}

// Insert creates the entry of the first packet of a connection that the
// rules allowed. It returns false only when the table is full. Packets that
// never open a connection (TCP RST, ICMP errors, echo replies, later
// fragments) create nothing and return true.
func (ct *Conntrack) Insert(h *Header) bool {
	switch {
	case h.Has(FlagICMPError) || h.Has(FlagLaterFragment):
		return true
	case h.Proto == ProtoTCP && h.TCPFlags&TCPRst != 0:
		return true
	case h.Proto == ProtoICMP && h.ICMPType == ICMPEchoReply:
		return true
	}
	k := headerKey(h)
	now := ct.clock.Now()
	var m uint64 = stUsed
	if h.Proto == ProtoTCP {
		m = tcpState(m, h.TCPFlags, k.fromHi)
	}
	if !ct.put(&k, m, now) {
		ct.refused.Add(1)
		return false
	}
	if h.Has(FlagFragment) {
		ct.insertFrag(h, now)
	}
	return true
}

func (ct *Conntrack) insertFrag(h *Header, now Tick) {
	k := fragKey(h)
	ct.put(&k, stUsed|stFrag, now)
}

// put inserts or refreshes k with state m.
func (ct *Conntrack) put(k *ctKey, m uint64, now Tick) bool {
	hash := ct.hash(k)
	sh := ct.shard(hash)
	meta := uint64(now)<<32 | m
	for swept := false; ; swept = true {
		sh.mu.Lock()
		t := sh.tab.Load()
		if i := find(t, k, hash); i >= 0 {
			// Live or expired, the entry is renewed in place.
			t.setMeta(i, meta)
			sh.mu.Unlock()
			return true
		}
		ct.sweepSome(sh, now, conntrackSweepPerInsert)
		if ct.n.Load() < ct.max {
			ct.insertLocked(sh, t, k, hash, meta)
			sh.mu.Unlock()
			return true
		}
		sh.mu.Unlock()
		// Full. Expired entries count as absent, so reclaim them before
		// refusing: entries only expire when the clock ticks, so one sweep
		// of the whole table per tick keeps "full" exact.
		if swept || !ct.sweepAll(now) {
			return false
		}
	}
}

// sweepAll reclaims every expired entry, unless that was done already at
// tick now; it reports whether it swept.
func (ct *Conntrack) sweepAll(now Tick) bool {
	last := ct.lastSweep.Load()
	if last == uint64(now)+1 || !ct.lastSweep.CompareAndSwap(last, uint64(now)+1) {
		return false
	}
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		ct.sweepSome(sh, now, sh.tab.Load().n)
		sh.mu.Unlock()
	}
	return true
}

// insertLocked adds k, which is absent, to the shard. The caller holds the
// lock and has checked the bound.
func (ct *Conntrack) insertLocked(sh *ctShard, t *ctTable, k *ctKey, hash, meta uint64) {
	if (sh.count+1)*conntrackLoadDen > t.n*conntrackLoadNum {
		t = ct.grow(sh, t)
	}
	i := t.home(hash)
	for t.meta(i) != 0 {
		i = t.next(i)
	}
	t.set(i, k.k1, k.k2, meta)
	sh.count++
	ct.n.Add(1)
	ct.inserted.Add(1)
}

// grow doubles a shard's table. The caller holds the lock.
func (ct *Conntrack) grow(sh *ctShard, old *ctTable) *ctTable {
	t := newCtTable(2 * len(old.buckets))
	for i := range old.n {
		m := old.meta(i)
		if m == 0 {
			continue
		}
		var k ctKey
		k.k1, k.k2 = old.key(i)
		j := t.home(ct.hash(&k))
		for t.meta(j) != 0 {
			j = t.next(j)
		}
		t.set(j, k.k1, k.k2, m)
	}
	sh.seq.Add(1)
	sh.tab.Store(t)
	sh.seq.Add(1)
	return t
}

// sweepSome looks at n slots of the shard from its sweep cursor and deletes
// the expired entries. The caller holds the lock.
func (ct *Conntrack) sweepSome(sh *ctShard, now Tick, n int) {
	t := sh.tab.Load()
	for n > 0 {
		i := sh.sweep % t.n
		if m := t.meta(i); m != 0 && !ct.live(m, now) {
			ct.delete(sh, t, i)
			ct.expired.Add(1)
			continue // a later entry may have moved into slot i
		}
		sh.sweep = i + 1
		n--
	}
}

// delete removes slot i by backward shift. The caller holds the lock.
func (ct *Conntrack) delete(sh *ctShard, t *ctTable, i int) {
	sh.seq.Add(1)
	for j := t.next(i); ; j = t.next(j) {
		m := t.meta(j)
		if m == 0 {
			break
		}
		var k ctKey
		k.k1, k.k2 = t.key(j)
		home := t.home(ct.hash(&k))
		// Move j into the hole at i unless its home lies cyclically in (i, j].
		if t.dist(home, j) >= t.dist(i, j) {
			t.set(i, k.k1, k.k2, m)
			i = j
		}
	}
	t.clear(i)
	sh.seq.Add(1)
	sh.count--
	ct.n.Add(-1)
}

// Delete removes the flow entry of h's connection and reports whether
// there was a live one.
func (ct *Conntrack) Delete(h *Header) bool {
	k := headerKey(h)
	hash := ct.hash(&k)
	sh := ct.shard(hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.tab.Load()
	i := find(t, &k, hash)
	if i < 0 {
		return false
	}
	// An expired entry not yet reclaimed counts as absent: it goes, but
	// there was no connection to delete.
	live := ct.live(t.meta(i), ct.clock.Now())
	ct.delete(sh, t, i)
	if !live {
		ct.expired.Add(1)
	}
	return live
}

// Expire reclaims every expired entry now, and returns how many.
func (ct *Conntrack) Expire() int {
	now := ct.clock.Now()
	before := ct.expired.Load()
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		ct.sweepSome(sh, now, sh.tab.Load().n)
		sh.mu.Unlock()
	}
	return int(ct.expired.Load() - before)
}

// Flush removes every entry: tracked connections must pass the rules again
// with their next packet (docs/semantics.md §4.3).
func (ct *Conntrack) Flush() {
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		sh.seq.Add(1)
		sh.tab.Store(newCtTable(conntrackMinBuckets))
		sh.seq.Add(1)
		ct.n.Add(int64(-sh.count))
		sh.count, sh.sweep = 0, 0
		sh.mu.Unlock()
	}
}

// Len returns the number of entries held (expired ones not yet reclaimed
// included).
func (ct *Conntrack) Len() int { return int(ct.n.Load()) }

// Stats returns the table's counters.
func (ct *Conntrack) Stats() ConntrackStats {
	return ConntrackStats{
		Entries:  ct.Len(),
		Max:      int(ct.max),
		Inserted: ct.inserted.Load(),
		Refused:  ct.refused.Load(),
		Expired:  ct.expired.Load(),
	}
}

// MemoryBytes returns the bytes held by the shards' tables.
func (ct *Conntrack) MemoryBytes() int {
	n := 0
	for i := range ct.shards {
		n += int(unsafe.Sizeof(ctBucket{})) * len(ct.shards[i].tab.Load().buckets)
	}
	return n
}
