package firewall

import "net/netip"

// ConntrackEntry is one live entry of the table, as Entries reports it. A
// flow's endpoints are in canonical order (the lower address and port
// first), not in the order the connection was opened: the table keys both
// directions alike.
type ConntrackEntry struct {
	Proto uint8
	// A and B are the flow's endpoints; for ICMP echo both ports hold the
	// echo id. A fragment entry has the datagram's source in A and its
	// destination in B, with zero ports.
	A, B netip.AddrPort
	// Fragment marks an entry that lets the later fragments of an allowed
	// datagram through; IPID is the datagram's id.
	Fragment bool
	IPID     uint16
	// State is "open", "closing" (FIN both ways or a RST), "fin-a" or
	// "fin-b" (FIN seen from that end only), or "fragment".
	State string
	// Idle is how many whole seconds the entry has gone unseen.
	Idle uint32
}

// Entries calls fn with every live entry (expired ones not yet reclaimed
// are skipped) until fn returns false. Each shard is copied under its lock
// and fn runs without it, so fn may use the table; an entry that changes
// meanwhile is reported as it was. It allocates a copy of one shard at a
// time and is meant for listings, not for the data path.
func (ct *Conntrack) Entries(fn func(ConntrackEntry) bool) {
	now := ct.clock.Now()
	type raw struct{ k1, k2, meta uint64 }
	var buf []raw
	for i := range ct.shards {
		sh := &ct.shards[i]
		buf = buf[:0]
		sh.mu.Lock()
		t := sh.tab.Load()
		for j := range t.n {
			if m := t.meta(j); m != 0 && ct.live(m, now) {
				k1, k2 := t.key(j)
				buf = append(buf, raw{k1, k2, m})
			}
		}
		sh.mu.Unlock()
		for _, r := range buf {
			if !fn(entryOf(r.k1, r.k2, r.meta, now)) {
				return
			}
		}
	}
}

// entryOf decodes a slot's words (see flowWords and fragKey).
func entryOf(k1, k2, meta uint64, now Tick) ConntrackEntry {
	e := ConntrackEntry{Proto: uint8(k2), Idle: max(0, uint32(int32(now-Tick(meta>>32))))}
	a, b := U32ToAddr(uint32(k1>>32)), U32ToAddr(uint32(k1))
	if k2>>8&0xff == kindFrag {
		e.A, e.B = netip.AddrPortFrom(a, 0), netip.AddrPortFrom(b, 0)
		e.Fragment, e.IPID, e.State = true, uint16(k2>>48), "fragment"
		return e
	}
	e.A, e.B = netip.AddrPortFrom(a, uint16(k2>>48)), netip.AddrPortFrom(b, uint16(k2>>32))
	switch {
	case meta&stClosing != 0:
		e.State = "closing"
	case meta&stFinLo != 0:
		e.State = "fin-a"
	case meta&stFinHi != 0:
		e.State = "fin-b"
	default:
		e.State = "open"
	}
	return e
}

// FlushAddr removes every entry with addr at either end and returns how
// many live ones it removed: the tracked connections of one NIC must pass
// the rules again with their next packet, the others are untouched.
func (ct *Conntrack) FlushAddr(addr netip.Addr) int {
	v, ok := AddrToU32(addr)
	if !ok {
		return 0
	}
	a := uint64(v)
	now := ct.clock.Now()
	n := 0
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		t := sh.tab.Load()
		for j := 0; j < t.n; {
			m := t.meta(j)
			k1, _ := t.key(j)
			if m == 0 || (k1>>32 != a && k1&0xffffffff != a) {
				j++
				continue
			}
			if ct.live(m, now) {
				n++
			} else {
				ct.expired.Add(1)
			}
			ct.delete(sh, t, j) // a later entry may have moved into slot j
		}
		sh.mu.Unlock()
	}
	return n
}
