package netstack

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// Default SNAT port range and idle timeouts of a NAT gateway (ours: the
// cloud documents neither exactly; TCP follows the conntrack idle timeout).
const (
	DefaultSNATPortMin     = 1024
	DefaultSNATPortMax     = 65535
	DefaultSNATTCPTimeout  = firewall.DefaultIdleTimeout
	DefaultSNATUDPTimeout  = 300 * time.Second
	DefaultSNATICMPTimeout = 60 * time.Second
)

// natGateway is a NAT gateway at run time: its EIP, its DNAT entries
// (immutable once the gateway exists) and one SNAT port table per protocol.
type natGateway struct {
	name    string
	vswitch string
	eip     uint32
	snatFor []string // vswitch names
	dnat    map[dnatKey]dnatTarget
	tables  [3]*snatTable // tcp, udp, icmp
}

// dnatKey is a protocol and a public port of the gateway.
type dnatKey struct {
	proto uint8
	port  uint16
}

// dnatTarget is the instance a DNAT entry forwards to.
type dnatTarget struct {
	ep   *endpoint
	addr uint32
	port uint16
}

// dnatRevKey identifies a DNAT target's side of the flow: protocol, private
// address and port.
type dnatRevKey struct {
	proto uint8
	addr  uint32
	port  uint16
}

// dnatOut is where a DNAT target's replies are translated to.
type dnatOut struct {
	gw   *natGateway
	port uint16
}

func (gw *natGateway) table(proto uint8) *snatTable {
	switch proto {
	case firewall.ProtoTCP:
		return gw.tables[0]
	case firewall.ProtoUDP:
		return gw.tables[1]
	case firewall.ProtoICMP:
		return gw.tables[2]
	}
	return nil
}

// snatKey is a private address and port (or ICMP echo id).
type snatKey struct {
	addr uint32
	port uint16
}

type snatEntry struct {
	priv snatKey
	pub  uint16
	last firewall.Tick
}

// snatTable allocates the gateway's public ports of one protocol to private
// endpoints (endpoint-independent mapping: one public port per private
// address and port, whatever the remote). A mapping idle for longer than
// the timeout is free again. A mutex guards it: only SNAT traffic takes it.
type snatTable struct {
	mu       sync.Mutex
	lo, hi   uint16
	next     uint16
	timeout  uint32 // ticks
	clock    *firewall.Clock
	reserved map[uint16]bool // DNAT public ports
	byPriv   map[snatKey]*snatEntry
	byPub    map[uint16]*snatEntry

	exhausted atomic.Uint64
}

func newSNATTable(lo, hi uint16, timeout time.Duration, clock *firewall.Clock, reserved map[uint16]bool) *snatTable {
	t := uint32(timeout / time.Second)
	if t < 1 {
		t = 1
	}
	return &snatTable{lo: lo, hi: hi, next: lo, timeout: t, clock: clock, reserved: reserved,
		byPriv: map[snatKey]*snatEntry{}, byPub: map[uint16]*snatEntry{}}
}

func (t *snatTable) live(e *snatEntry, now firewall.Tick) bool {
	return int32(now-e.last) <= int32(t.timeout)
}

// out returns the public port of the private endpoint k, allocating one if
// needed: the private port itself when it is free, else the next free port.
// ok is false when every port is in use.
func (t *snatTable) out(k snatKey) (pub uint16, ok bool) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byPriv[k]; e != nil {
		if t.live(e, now) {
			e.last = now
			return e.pub, true
		}
		t.remove(e)
	}
	free := func(p uint16) bool {
		if t.reserved[p] {
			return false
		}
		e := t.byPub[p]
		if e == nil {
			return true
		}
		if !t.live(e, now) {
			t.remove(e)
			return true
		}
		return false
	}
	p := k.port
	if p < t.lo || p > t.hi || !free(p) {
		n := int(t.hi) - int(t.lo) + 1
		found := false
		for range n {
			p = t.next
			if t.next == t.hi {
				t.next = t.lo
			} else {
				t.next++
			}
			if free(p) {
				found = true
				break
			}
		}
		if !found {
			t.exhausted.Add(1)
			return 0, false
		}
	}
	e := &snatEntry{priv: k, pub: p, last: now}
	t.byPriv[k] = e
	t.byPub[p] = e
	return p, true
}

// in returns the private endpoint a public port maps to.
func (t *snatTable) in(pub uint16) (snatKey, bool) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byPub[pub]
	if e == nil || !t.live(e, now) {
		return snatKey{}, false
	}
	e.last = now
	return e.priv, true
}

func (t *snatTable) remove(e *snatEntry) {
	delete(t.byPriv, e.priv)
	delete(t.byPub, e.pub)
}

// mappings returns the number of live mappings.
func (t *snatTable) mappings() int {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.byPub {
		if t.live(e, now) {
			n++
		}
	}
	return n
}

// NATStats are a NAT gateway's SNAT counters, per protocol (tcp, udp, icmp).
type NATStats struct {
	Mappings  map[string]int    // live SNAT mappings
	Exhausted map[string]uint64 // new flows refused: no free public port
}

func (gw *natGateway) stats() NATStats {
	st := NATStats{Mappings: map[string]int{}, Exhausted: map[string]uint64{}}
	for i, name := range []string{"tcp", "udp", "icmp"} {
		st.Mappings[name] = gw.tables[i].mappings()
		st.Exhausted[name] = gw.tables[i].exhausted.Load()
	}
	return st
}
