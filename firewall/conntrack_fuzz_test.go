package firewall

import (
	"testing"
	"time"
)

// Timeouts of the table FuzzConntrackTCP drives: short, so that a few
// clock moves reach them.
const (
	fuzzIdle    = 20 * time.Second
	fuzzClosing = 5 * time.Second
)

// fuzzEndpoints are the four endpoints of FuzzConntrackTCP's packets: two
// addresses with two ports each, so that a handful of flows share a small
// table and its probe runs.
var fuzzEndpoints = [4]struct {
	addr uint32
	port uint16
}{{0x0a000001, 80}, {0x0a000001, 40000}, {0x0a000002, 80}, {0x0a000002, 40000}}

// fuzzTCPFlags are the flag sets of FuzzConntrackTCP's packets: the
// handshake and teardown, and the combinations no stack sends.
var fuzzTCPFlags = [16]uint8{
	TCPSyn, TCPSyn | TCPAck, TCPAck, TCPPsh | TCPAck,
	TCPFin | TCPAck, TCPFin, TCPRst, TCPRst | TCPAck,
	TCPSyn | TCPFin, TCPSyn | TCPRst, TCPFin | TCPRst, 0,
	TCPSyn | TCPFin | TCPRst | TCPAck, TCPFin | TCPPsh | TCPAck, TCPAck, TCPSyn,
}

// refFlow is the reference model's state of one tracked TCP connection,
// written from docs/semantics.md §4.1 rather than from the table's bits:
// when it was last seen, which ends have sent a FIN, and whether it is
// closing (FIN seen both ways, or an RST), which shortens its lifetime.
type refFlow struct {
	seen    time.Duration // clock time of the last packet
	finFrom [2]bool       // FIN seen from endpoint a, b of the flow
	closing bool
}

// refKey names a connection by its two endpoints in a fixed order, so that
// both directions find it.
type refKey struct{ a, b int }

func refKeyOf(src, dst int) (k refKey, fromB bool) {
	if src < dst {
		return refKey{src, dst}, false
	}
	return refKey{dst, src}, true
}

// refConntrack is the reference model: a map of flows, a bound, and the
// lifetimes of §4.1. The clock is whole seconds, as the table's ticks.
type refConntrack struct {
	flows map[refKey]*refFlow
	max   int
	now   time.Duration
}

func (r *refConntrack) tick() time.Duration { return r.now.Truncate(time.Second) }

func (r *refConntrack) live(f *refFlow) bool {
	life := fuzzIdle
	if f.closing {
		life = fuzzClosing
	}
	return r.tick()-f.seen <= life
}

func (r *refConntrack) liveCount() int {
	n := 0
	for _, f := range r.flows {
		if r.live(f) {
			n++
		}
	}
	return n
}

// packet applies a packet's flags to a live flow: an RST closes it, a SYN
// (without ACK) reopens a closing one as a new connection, a FIN marks its
// sender's end and closes the flow once both ends sent one.
func (f *refFlow) packet(flags uint8, fromB bool) {
	switch {
	case flags&TCPRst != 0:
		f.closing = true
	case flags&TCPSyn != 0 && flags&TCPAck == 0 && f.closing:
		*f = refFlow{seen: f.seen}
	case flags&TCPFin != 0:
		end := 0
		if fromB {
			end = 1
		}
		f.finFrom[end] = true
		f.closing = f.closing || f.finFrom[0] && f.finFrom[1]
	}
}

// FuzzConntrackTCP drives the table with TCP packets both ways between
// four endpoints, clock moves, deletions, sweeps and flushes, and checks
// every answer against refConntrack: a lookup finds exactly the live
// flows, an insert is refused exactly when the bound's worth of live flows
// leaves no room, a deletion reports exactly a live flow, and Len never
// goes negative, past the bound, or below the live flows (and equals them
// after Expire).
//
// The first byte sets the bound (1..8); then each op is two bytes, an op
// and its argument.
func FuzzConntrackTCP(f *testing.F) {
	// A handshake, data, FIN both ways, then the closing timeout.
	f.Add([]byte{4, 0, 0x03, 1, 0x03, 0, 0x1c, 0, 0x43, 0, 0x4c, 3, 0x3, 3, 6})
	// An RST, a reopening SYN, then the idle timeout.
	f.Add([]byte{2, 0, 0x09, 0, 0x6c, 0, 0x09, 3, 0x1d, 3, 0x1d, 0, 0x29})
	// A full table: refusals, then deletions and sweeps making room.
	f.Add([]byte{1, 1, 0x03, 1, 0x0b, 4, 0x03, 3, 0x1e, 1, 0x0b, 5, 0, 1, 0x0b, 6, 1, 1, 0x27})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		clk := NewManualClock()
		ref := &refConntrack{flows: map[refKey]*refFlow{}, max: 1 + int(data[0]%8)}
		ct := NewConntrack(ConntrackConfig{MaxEntries: ref.max, IdleTimeout: fuzzIdle,
			ClosingTimeout: fuzzClosing, Clock: clk})
		defer ct.Close()
		data = data[1:]
		for step := 0; len(data) > 0; step++ {
			op, arg := data[0], byte(0)
			if len(data) > 1 {
				arg = data[1]
			}
			data = data[min(2, len(data)):]
			// arg picks the sender, the receiver (never the sender) and
			// the flags.
			src := int(arg & 3)
			dst := (src + 1 + int(arg>>2&3)%3) % 4
			flags := fuzzTCPFlags[arg>>4]
			h := tcpHdr(fuzzEndpoints[src].addr, fuzzEndpoints[dst].addr,
				fuzzEndpoints[src].port, fuzzEndpoints[dst].port, flags)
			k, fromB := refKeyOf(src, dst)
			fl := ref.flows[k]
			live := fl != nil && ref.live(fl)
			switch op % 8 {
			case 0, 1, 2:
				got := ct.Lookup(h)
				if got != live {
					t.Fatalf("step %d: Lookup(%d->%d flags %#x) = %v, model says live=%v (%+v at %v)",
						step, src, dst, flags, got, live, fl, ref.tick())
				}
				if live {
					fl.packet(flags, fromB)
					fl.seen = ref.tick()
				}
			case 3, 4:
				// As the firewall does: a packet that no entry tracks and
				// the rules allow opens one.
				if ct.Lookup(h) != live {
					t.Fatalf("step %d: Lookup before Insert disagrees with the model (live=%v)", step, live)
				}
				if live {
					fl.packet(flags, fromB)
					fl.seen = ref.tick()
					break
				}
				got := ct.Insert(h)
				switch {
				case flags&TCPRst != 0:
					// An RST opens nothing.
					if !got {
						t.Fatalf("step %d: Insert of an RST refused", step)
					}
				case ref.liveCount() >= ref.max:
					if got {
						t.Fatalf("step %d: Insert accepted with %d live flows, bound %d", step, ref.liveCount(), ref.max)
					}
				default:
					if !got {
						t.Fatalf("step %d: Insert refused with %d live flows, bound %d", step, ref.liveCount(), ref.max)
					}
					nf := &refFlow{seen: ref.tick()}
					nf.packet(flags, fromB)
					ref.flows[k] = nf
				}
			case 5:
				// Clock moves around the timeouts, in whole and half
				// seconds.
				d := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second,
					fuzzClosing - time.Second, fuzzClosing, fuzzClosing + time.Second,
					fuzzIdle - time.Second, fuzzIdle, fuzzIdle + time.Second, 3 * fuzzIdle}[int(arg)%11]
				clk.Advance(d)
				ref.now += d
			case 6:
				got := ct.Delete(h)
				if got != live {
					t.Fatalf("step %d: Delete = %v, model says live=%v", step, got, live)
				}
				delete(ref.flows, k)
			case 7:
				if arg%4 == 0 {
					ct.Flush()
					clear(ref.flows)
				} else {
					ct.Expire()
				}
				for k, f := range ref.flows {
					if !ref.live(f) {
						delete(ref.flows, k)
					}
				}
				if ct.Len() != len(ref.flows) {
					t.Fatalf("step %d: Len after a sweep = %d, model has %d live flows", step, ct.Len(), len(ref.flows))
				}
			}
			if n := ct.Len(); n < 0 || n > ref.max || n < ref.liveCount() {
				t.Fatalf("step %d: Len = %d, bound %d, %d live flows", step, n, ref.max, ref.liveCount())
			}
			if st := ct.Stats(); st.Entries != ct.Len() || st.Max != ref.max {
				t.Fatalf("step %d: Stats %+v, Len %d", step, st, ct.Len())
			}
		}
	})
}
