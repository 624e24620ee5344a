package netstack

import (
	"testing"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// snatRef is the obvious model of one SNAT port table: a list of mappings,
// each live until it has been idle for longer than the timeout.
type snatRef struct {
	lo, hi   uint16
	timeout  int64
	reserved map[uint16]bool
	maps     map[snatKey]*snatRefEntry
}

type snatRefEntry struct {
	pub  uint16
	last int64
}

func (r *snatRef) live(e *snatRefEntry, now int64) bool { return now-e.last <= r.timeout }

// holder returns the private endpoint holding public port p, if any.
func (r *snatRef) holder(p uint16, now int64) (snatKey, bool) {
	for k, e := range r.maps {
		if e.pub == p && r.live(e, now) {
			return k, true
		}
	}
	return snatKey{}, false
}

// freePorts counts the ports a new mapping may take.
func (r *snatRef) freePorts(now int64) int {
	n := 0
	for p := int(r.lo); p <= int(r.hi); p++ {
		if _, held := r.holder(uint16(p), now); !held && !r.reserved[uint16(p)] {
			n++
		}
	}
	return n
}

// FuzzSNATTable runs random sequences of flows starting (out), answers
// arriving (in) and time passing (ports expire and are free again) on the
// SNAT tables of two gateways sharing a clock, with small port ranges so
// that exhaustion is common, and checks each table against snatRef: one
// public port per private endpoint, never one port for two live
// mappings, allocation refused only when every port of the range is held
// or reserved, the private port kept when it is free, expired mappings
// giving their ports back.
func FuzzSNATTable(f *testing.F) {
	f.Add(uint16(1024), uint8(3), uint8(5), uint8(0), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add(uint16(40000), uint8(0), uint8(1), uint8(1), []byte{0x00, 0x40, 0x04, 0x40, 0x08, 0x40, 0x0c, 0x40, 0x02, 0x05, 0x00, 0x41, 0x01, 0x40})
	f.Add(uint16(65530), uint8(5), uint8(2), uint8(3), []byte("exhaust the range, wait, reuse the ports"))
	f.Add(uint16(1), uint8(7), uint8(9), uint8(2), []byte{0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x06, 0x09, 0x88, 0x89, 0x03, 0xff})
	f.Fuzz(func(t *testing.T, lo uint16, width, timeout, reserve uint8, ops []byte) {
		clock := firewall.NewManualClock()
		var tables [2]*snatTable
		var refs [2]*snatRef
		for i := range tables {
			lo := lo + uint16(i)*3
			hi := uint16(min(int(lo)+int(width%16), 65535))
			if lo == 0 {
				lo = 1
			}
			res := map[uint16]bool{}
			for b := range 8 {
				if reserve&(1<<b) != 0 && int(lo)+b <= int(hi) {
					res[lo+uint16(b)] = true
				}
			}
			to := time.Duration(1+timeout%10) * time.Second
			tables[i] = newSNATTable(lo, hi, to, clock, res)
			refs[i] = &snatRef{lo: lo, hi: hi, timeout: int64(to / time.Second), reserved: res, maps: map[snatKey]*snatRefEntry{}}
		}
		var now int64
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			tb, ref := tables[op>>7], refs[op>>7]
			switch op & 3 {
			case 0, 1: // a flow from one of four private endpoints starts or goes on
				k := snatKey{addr: 0x0a000100 + uint32(op>>2&3), port: ref.lo + uint16(arg%24)}
				if op&1 != 0 {
					k.port = uint16(arg) << 8 // mostly outside the range
				}
				pub, ok := tb.out(k)
				e := ref.maps[k]
				switch {
				case e != nil && ref.live(e, now):
					if !ok || pub != e.pub {
						t.Fatalf("out(%v) = %d, %v; the live mapping holds %d", k, pub, ok, e.pub)
					}
					e.last = now
				case !ok:
					if n := ref.freePorts(now); n != 0 {
						t.Fatalf("out(%v) refused with %d of ports %d-%d free", k, n, ref.lo, ref.hi)
					}
				default:
					if pub < ref.lo || pub > ref.hi || ref.reserved[pub] {
						t.Fatalf("out(%v) = %d: outside %d-%d or reserved for DNAT", k, pub, ref.lo, ref.hi)
					}
					if other, held := ref.holder(pub, now); held {
						t.Fatalf("out(%v) = %d, which %v holds", k, pub, other)
					}
					if _, held := ref.holder(k.port, now); k.port >= ref.lo && k.port <= ref.hi && !held && !ref.reserved[k.port] && pub != k.port {
						t.Fatalf("out(%v) = %d, but the private port %d is free", k, pub, k.port)
					}
					ref.maps[k] = &snatRefEntry{pub: pub, last: now}
				}
			case 2: // an answer arrives for a public port
				pub := ref.lo + uint16(arg%24)
				k, ok := tb.in(pub)
				want, held := ref.holder(pub, now)
				if ok != held || ok && k != want {
					t.Fatalf("in(%d) = %v, %v; want %v, %v", pub, k, ok, want, held)
				}
				if held {
					ref.maps[want].last = now
				}
			case 3: // time passes
				d := int64(arg % 8)
				clock.Advance(time.Duration(d) * time.Second)
				now += d
				for i := range tables {
					live := 0
					for _, e := range refs[i].maps {
						if refs[i].live(e, now) {
							live++
						}
					}
					if got := tables[i].mappings(); got != live {
						t.Fatalf("table %d: %d live mappings, want %d", i, got, live)
					}
				}
			}
		}
	})
}
