package netstack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ipHeader returns a 20-byte IPv4 header (or longer, with ihl words).
func ipHeader(proto byte, ihl int, total int, fragOff uint16, dst [4]byte) []byte {
	h := make([]byte, ihl*4)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	binary.BigEndian.PutUint16(h[6:], fragOff)
	h[8] = 64
	h[9] = proto
	copy(h[12:], []byte{10, 0, 0, 2})
	copy(h[16:], dst[:])
	return h
}

func tcpHeader(optionWords int) []byte {
	h := make([]byte, 20+4*optionWords)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], 80)
	h[12] = byte(5+optionWords) << 4
	h[13] = 0x02
	return h
}

// pushed builds a packet the way gVisor's transports do: headers pushed into
// a reserved view, payload in views of its own.
func pushed(ip, transport []byte, payload ...[]byte) *stack.PacketBuffer {
	var b buffer.Buffer
	for _, p := range payload {
		b.Append(buffer.NewViewWithData(p))
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 128, Payload: b})
	copy(pkt.TransportHeader().Push(len(transport)), transport)
	copy(pkt.NetworkHeader().Push(len(ip)), ip)
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return pkt
}

// split builds a packet whose bytes are cut into views at the given sizes.
func split(data []byte, sizes ...int) *stack.PacketBuffer {
	var b buffer.Buffer
	for _, n := range sizes {
		n = min(n, len(data))
		if n > 0 {
			b.Append(buffer.NewViewWithData(data[:n]))
		}
		data = data[n:]
	}
	if len(data) > 0 {
		b.Append(buffer.NewViewWithData(data))
	}
	return stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: b})
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var dstB = [4]byte{10, 0, 0, 1}

// frameCases are packets in the layouts that reach the fabric.
func frameCases() []struct {
	name string
	pkt  func() *stack.PacketBuffer
	want int // header bytes the filter must see
} {
	payload := bytes.Repeat([]byte{0xaa}, 1000)
	icmpErr := concat([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipHeader(17, 5, 40, 0, dstB), []byte{1, 2, 3, 4, 0, 20, 0, 0}, []byte("rest of the quoted datagram"))
	return []struct {
		name string
		pkt  func() *stack.PacketBuffer
		want int
	}{
		{"tcp pushed", func() *stack.PacketBuffer {
			return pushed(ipHeader(6, 5, 20+32+1000, 0, dstB), tcpHeader(3), payload)
		}, 52},
		{"tcp max options and ip options", func() *stack.PacketBuffer {
			return pushed(ipHeader(6, 15, 60+60+1000, 0, dstB), tcpHeader(10), payload)
		}, 120},
		{"udp pushed", func() *stack.PacketBuffer {
			return pushed(ipHeader(17, 5, 28+1000, 0, dstB), make([]byte, 8), payload)
		}, 28},
		{"icmp echo pushed", func() *stack.PacketBuffer {
			return pushed(ipHeader(1, 5, 36, 0, dstB), []byte{8, 0, 0, 0, 0, 1, 0, 1}, make([]byte, 8))
		}, 28},
		{"icmp echo reply in payload", func() *stack.PacketBuffer {
			return pushed(ipHeader(1, 5, 36, 0, dstB), nil, []byte{0, 0, 0, 0, 0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8})
		}, 28},
		{"icmp error split", func() *stack.PacketBuffer {
			return pushed(ipHeader(1, 5, 20+len(icmpErr), 0, dstB), nil, icmpErr[:10], icmpErr[10:])
		}, 20 + 8 + 20 + 8},
		{"inbound one view", func() *stack.PacketBuffer {
			return split(concat(ipHeader(6, 5, 20+20+1000, 0, dstB), tcpHeader(0), payload))
		}, 40},
		{"tcp byte by byte", func() *stack.PacketBuffer {
			data := concat(ipHeader(6, 5, 20+24+10, 0, dstB), tcpHeader(1), make([]byte, 10))
			sizes := make([]int, len(data))
			for i := range sizes {
				sizes[i] = 1
			}
			return split(data, sizes...)
		}, 44},
		{"later fragment", func() *stack.PacketBuffer {
			return pushed(ipHeader(17, 5, 20+1000, 185, dstB), nil, payload)
		}, 20},
		{"truncated tcp", func() *stack.PacketBuffer {
			return split(concat(ipHeader(6, 5, 30, 0, dstB), tcpHeader(0)[:10]), 20)
		}, 30},
		{"runt", func() *stack.PacketBuffer { return split([]byte{0x45, 0, 0}) }, 0},
	}
}

// TestFrameHeaders checks frameHeaders against the obvious reference:
// flatten the packet, then take headerLen bytes of it.
func TestFrameHeaders(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tc.pkt()
			defer pkt.DecRef()
			flat := pkt.ToView()
			defer flat.Release()
			n, _ := headerLen(flat.AsSlice(), flat.Size())
			got, scratch := frameHeaders(pkt)
			defer releaseScratch(scratch)
			if !bytes.Equal(got, flat.AsSlice()[:n]) {
				t.Fatalf("frameHeaders = %x, want %x", got, flat.AsSlice()[:n])
			}
			if n != tc.want {
				t.Errorf("headerLen = %d, want %d", n, tc.want)
			}
		})
	}
}

// FuzzFrameHeaders cuts arbitrary packets into arbitrary views and checks
// that frameHeaders always returns the same bytes as the flat reference.
func FuzzFrameHeaders(f *testing.F) {
	for _, tc := range frameCases() {
		pkt := tc.pkt()
		v := pkt.ToView()
		f.Add(bytes.Clone(v.AsSlice()), uint64(0x0123456789abcdef))
		v.Release()
		pkt.DecRef()
	}
	f.Fuzz(func(t *testing.T, data []byte, cuts uint64) {
		var sizes []int
		for c := cuts; c != 0; c >>= 4 {
			sizes = append(sizes, int(c&0xf))
		}
		pkt := split(data, sizes...)
		defer pkt.DecRef()
		n, _ := headerLen(data, len(data))
		got, scratch := frameHeaders(pkt)
		defer releaseScratch(scratch)
		if !bytes.Equal(got, data[:n]) {
			t.Fatalf("frameHeaders = %x, want %x", got, data[:n])
		}
	})
}

// countingDispatcher stands in for a receiving stack.
type countingDispatcher struct{ frames, bytes int }

func (d *countingDispatcher) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	d.frames++
	d.bytes += pkt.Size()
}

func (d *countingDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// TestForwardAllocatesNothing checks that carrying a frame across the fabric
// (header peek, lookup, filter, fresh inbound packet, delivery, counters)
// allocates nothing per frame.
func TestForwardAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	fab := newFabric(t, FilterFunc(func(src, dst *Port, ip []byte) bool { return ip[9] != 99 }))
	src, dst := NewVNIC(0, true), NewVNIC(0, true)
	disp := &countingDispatcher{}
	dst.Attach(disp)
	ps, err := fab.Attach(src, netip.MustParseAddr("10.0.0.2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fab.Attach(dst, netip.AddrFrom4(dstB), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range frameCases() {
		pkt := tc.pkt()
		before := disp.frames
		allocs := testing.AllocsPerRun(1000, func() { ps.transmit(pkt) })
		pkt.DecRef()
		if allocs != 0 {
			t.Errorf("%s: %v allocations per frame", tc.name, allocs)
		}
		if tc.name != "runt" && disp.frames == before {
			t.Errorf("%s: nothing delivered", tc.name)
		}
	}
}
