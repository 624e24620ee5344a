package firewall

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Addresses of the test packets, in host order.
const (
	addrA      = 0x0a000001 // 10.0.0.1
	addrB      = 0x0a000002 // 10.0.0.2
	addrRouter = 0x0a0000fe // 10.0.0.254
)

// serialize builds a packet from gopacket layers with lengths and checksums
// filled in.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	require.NoError(tb, gopacket.SerializeLayers(buf, opts, ls...))
	return bytes.Clone(buf.Bytes())
}

// ipv4 returns an IPv4 layer from src to dst (host-order addresses).
func ipv4(src, dst uint32, proto layers.IPProtocol, id uint16) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, TTL: 64, Id: id, Protocol: proto,
		SrcIP: net.IP(U32ToAddr(src).AsSlice()), DstIP: net.IP(U32ToAddr(dst).AsSlice()),
	}
}

func tcpPacket(tb testing.TB, ip *layers.IPv4, tcp *layers.TCP, payload []byte) []byte {
	require.NoError(tb, tcp.SetNetworkLayerForChecksum(ip))
	return serialize(tb, ip, tcp, gopacket.Payload(payload))
}

func udpPacket(tb testing.TB, ip *layers.IPv4, sport, dport uint16, payload []byte) []byte {
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	require.NoError(tb, udp.SetNetworkLayerForChecksum(ip))
	return serialize(tb, ip, udp, gopacket.Payload(payload))
}

func icmpPacket(tb testing.TB, ip *layers.IPv4, icmp *layers.ICMPv4, payload []byte) []byte {
	return serialize(tb, ip, icmp, gopacket.Payload(payload))
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte)) []byte {
	b = bytes.Clone(b)
	f(b)
	return b
}

// setTotalLen rewrites the IPv4 total length of b.
func setTotalLen(b []byte, n int) { binary.BigEndian.PutUint16(b[2:4], uint16(n)) }

type parseCase struct {
	name string
	b    []byte
	want Header
}

// validPackets are well-formed packets of every kind Parse distinguishes.
func validPackets(tb testing.TB) []parseCase {
	tb.Helper()
	routerAlert := layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}

	synIP := ipv4(addrA, addrB, layers.IPProtocolTCP, 0x1234)
	synIP.Options = []layers.IPv4Option{routerAlert}
	syn := tcpPacket(tb, synIP, &layers.TCP{
		SrcPort: 40000, DstPort: 22, Seq: 1, SYN: true, Window: 65535,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}},
	}, nil)

	ack := tcpPacket(tb, ipv4(addrB, addrA, layers.IPProtocolTCP, 7),
		&layers.TCP{SrcPort: 22, DstPort: 40000, Seq: 9, Ack: 2, ACK: true, PSH: true, Window: 512},
		make([]byte, 100))

	ecnSyn := tcpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolTCP, 8),
		&layers.TCP{SrcPort: 40001, DstPort: 443, SYN: true, ECE: true, CWR: true, Window: 65535}, nil)

	udp := udpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolUDP, 3), 5353, 53, make([]byte, 10))

	echo := icmpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolICMPv4, 4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0xbeef, Seq: 1},
		make([]byte, 56))
	echoReply := icmpPacket(tb, ipv4(addrB, addrA, layers.IPProtocolICMPv4, 5),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 0xbeef, Seq: 1},
		make([]byte, 56))

	// A port unreachable quoting the IPv4 header and 8 bytes of a UDP
	// packet whose total length (128) exceeds what is quoted.
	quotedUDP := udpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolUDP, 99), 5353, 53, make([]byte, 100))
	unreach := icmpPacket(tb, ipv4(addrB, addrA, layers.IPProtocolICMPv4, 6),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
		quotedUDP[:28])

	// A time exceeded quoting a whole TCP SYN with IP options.
	exceeded := icmpPacket(tb, ipv4(addrRouter, addrA, layers.IPProtocolICMPv4, 10),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, layers.ICMPv4CodeTTLExceeded)},
		syn)

	// A parameter problem quoting a later fragment: no ports to quote.
	quotedFrag := ipv4(addrA, addrB, layers.IPProtocolUDP, 11)
	quotedFrag.FragOffset = 4
	paramProblem := icmpPacket(tb, ipv4(addrRouter, addrA, layers.IPProtocolICMPv4, 12),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeParameterProblem, 0)},
		serialize(tb, quotedFrag, gopacket.Payload(make([]byte, 8))))

	// Other ICMP messages keep only type and code.
	redirect := icmpPacket(tb, ipv4(addrRouter, addrA, layers.IPProtocolICMPv4, 13),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeRedirect, 1)},
		quotedUDP[:28])

	firstIP := ipv4(addrA, addrB, layers.IPProtocolUDP, 0x4242)
	firstIP.Flags = layers.IPv4MoreFragments
	first := udpPacket(tb, firstIP, 1000, 2000, make([]byte, 24))

	laterIP := ipv4(addrA, addrB, layers.IPProtocolUDP, 0x4242)
	laterIP.Flags = layers.IPv4MoreFragments
	laterIP.FragOffset = 4
	later := serialize(tb, laterIP, gopacket.Payload(make([]byte, 32)))

	lastIP := ipv4(addrA, addrB, layers.IPProtocolTCP, 0x4343)
	lastIP.FragOffset = 185
	last := serialize(tb, lastIP, gopacket.Payload(make([]byte, 20)))

	tinyOK := mutate(last, func(b []byte) { binary.BigEndian.PutUint16(b[6:8], 3) }) // 24 bytes: past the TCP header

	gre := serialize(tb, ipv4(addrA, addrB, layers.IPProtocolGRE, 14), gopacket.Payload([]byte{0, 0, 0x08, 0}))

	padded := append(bytes.Clone(syn), 0, 0, 0, 0, 0, 0)

	return []parseCase{
		{"tcp-syn-options", syn, Header{
			Tuple: Tuple{addrA, addrB, 40000, 22, ProtoTCP}, TCPFlags: TCPSyn,
			IPID: 0x1234, L4Offset: 24, TotalLen: 48,
		}},
		{"tcp-ack-psh", ack, Header{
			Tuple: Tuple{addrB, addrA, 22, 40000, ProtoTCP}, TCPFlags: TCPAck | TCPPsh,
			IPID: 7, L4Offset: 20, TotalLen: 140,
		}},
		{"tcp-syn-ecn", ecnSyn, Header{
			Tuple: Tuple{addrA, addrB, 40001, 443, ProtoTCP}, TCPFlags: TCPSyn | 0x40 | 0x80,
			IPID: 8, L4Offset: 20, TotalLen: 40,
		}},
		{"udp", udp, Header{
			Tuple: Tuple{addrA, addrB, 5353, 53, ProtoUDP}, IPID: 3, L4Offset: 20, TotalLen: 38,
		}},
		{"icmp-echo-request", echo, Header{
			Tuple: Tuple{Src: addrA, Dst: addrB, Proto: ProtoICMP}, Flags: FlagICMPEcho,
			ICMPType: ICMPEchoRequest, ICMPID: 0xbeef, IPID: 4, L4Offset: 20, TotalLen: 84,
		}},
		{"icmp-echo-reply", echoReply, Header{
			Tuple: Tuple{Src: addrB, Dst: addrA, Proto: ProtoICMP}, Flags: FlagICMPEcho,
			ICMPType: ICMPEchoReply, ICMPID: 0xbeef, IPID: 5, L4Offset: 20, TotalLen: 84,
		}},
		{"icmp-port-unreachable-udp", unreach, Header{
			Tuple: Tuple{Src: addrB, Dst: addrA, Proto: ProtoICMP}, Flags: FlagICMPError,
			ICMPType: ICMPDestUnreachable, ICMPCode: 3, IPID: 6,
			Inner: Tuple{addrA, addrB, 5353, 53, ProtoUDP}, L4Offset: 20, TotalLen: 56,
		}},
		{"icmp-time-exceeded-tcp", exceeded, Header{
			Tuple: Tuple{Src: addrRouter, Dst: addrA, Proto: ProtoICMP}, Flags: FlagICMPError,
			ICMPType: ICMPTimeExceeded, IPID: 10,
			Inner: Tuple{addrA, addrB, 40000, 22, ProtoTCP}, L4Offset: 20, TotalLen: 76,
		}},
		{"icmp-param-problem-fragment", paramProblem, Header{
			Tuple: Tuple{Src: addrRouter, Dst: addrA, Proto: ProtoICMP}, Flags: FlagICMPError,
			ICMPType: ICMPParamProblem, IPID: 12,
			Inner: Tuple{Src: addrA, Dst: addrB, Proto: ProtoUDP}, L4Offset: 20, TotalLen: 56,
		}},
		{"icmp-redirect", redirect, Header{
			Tuple:    Tuple{Src: addrRouter, Dst: addrA, Proto: ProtoICMP},
			ICMPType: 5, ICMPCode: 1, IPID: 13, L4Offset: 20, TotalLen: 56,
		}},
		{"udp-first-fragment", first, Header{
			Tuple: Tuple{addrA, addrB, 1000, 2000, ProtoUDP}, Flags: FlagFragment,
			IPID: 0x4242, L4Offset: 20, TotalLen: 52,
		}},
		{"udp-later-fragment", later, Header{
			Tuple: Tuple{Src: addrA, Dst: addrB, Proto: ProtoUDP}, Flags: FlagFragment | FlagLaterFragment,
			IPID: 0x4242, L4Offset: 20, TotalLen: 52,
		}},
		{"tcp-last-fragment", last, Header{
			Tuple: Tuple{Src: addrA, Dst: addrB, Proto: ProtoTCP}, Flags: FlagFragment | FlagLaterFragment,
			IPID: 0x4343, L4Offset: 20, TotalLen: 40,
		}},
		{"tcp-fragment-offset-3", tinyOK, Header{
			Tuple: Tuple{Src: addrA, Dst: addrB, Proto: ProtoTCP}, Flags: FlagFragment | FlagLaterFragment,
			IPID: 0x4343, L4Offset: 20, TotalLen: 40,
		}},
		{"gre", gre, Header{
			Tuple: Tuple{Src: addrA, Dst: addrB, Proto: ProtoGRE}, IPID: 14, L4Offset: 20, TotalLen: 24,
		}},
		{"padded", padded, Header{
			Tuple: Tuple{addrA, addrB, 40000, 22, ProtoTCP}, TCPFlags: TCPSyn,
			IPID: 0x1234, L4Offset: 24, TotalLen: 48,
		}},
	}
}

type badCase struct {
	name string
	b    []byte
	want ParseError
}

// badPackets are malformed packets, each with the error Parse must return.
func badPackets(tb testing.TB) []badCase {
	tb.Helper()
	syn := tcpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolTCP, 1),
		&layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true}, nil)
	gre := serialize(tb, ipv4(addrA, addrB, layers.IPProtocolGRE, 2), gopacket.Payload([]byte{0, 0, 0x08, 0}))
	v6 := serialize(tb, &layers.IPv6{
		Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 64,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2"),
	})
	cut := func(proto layers.IPProtocol, n int) []byte {
		return serialize(tb, ipv4(addrA, addrB, proto, 3), gopacket.Payload(make([]byte, n)))
	}
	frag := func(proto layers.IPProtocol, mf bool, off uint16, n int) []byte {
		ip := ipv4(addrA, addrB, proto, 4)
		ip.FragOffset = off
		if mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		return serialize(tb, ip, gopacket.Payload(make([]byte, n)))
	}
	quotedUDP := udpPacket(tb, ipv4(addrA, addrB, layers.IPProtocolUDP, 5), 5353, 53, make([]byte, 100))
	icmpErr := func(quote []byte) []byte {
		return icmpPacket(tb, ipv4(addrB, addrA, layers.IPProtocolICMPv4, 6),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
			quote)
	}

	return []badCase{
		{"empty", nil, ErrTruncated},
		{"one-byte", []byte{0x45}, ErrTruncated},
		{"short-ipv4-header", syn[:19], ErrTruncated},
		{"ipv6", v6, ErrIPv6},
		{"ipv6-one-byte", []byte{0x60}, ErrIPv6},
		{"version-0", mutate(syn, func(b []byte) { b[0] = 0x05 }), ErrBadVersion},
		{"version-5", mutate(syn, func(b []byte) { b[0] = 0x55 }), ErrBadVersion},
		{"ihl-4", mutate(syn, func(b []byte) { b[0] = 0x44 }), ErrBadIHL},
		{"ihl-0", mutate(syn, func(b []byte) { b[0] = 0x40 }), ErrBadIHL},
		{"ihl-beyond-frame", mutate(gre, func(b []byte) { b[0] = 0x47 }), ErrBadIHL},
		{"total-length-below-ihl", mutate(syn, func(b []byte) { setTotalLen(b, 19) }), ErrBadTotalLength},
		{"total-length-zero", mutate(syn, func(b []byte) { setTotalLen(b, 0) }), ErrBadTotalLength},
		{"total-length-beyond-frame", mutate(syn, func(b []byte) { setTotalLen(b, len(b)+1) }), ErrBadTotalLength},
		{"tcp-cut", cut(layers.IPProtocolTCP, 19), ErrTruncated},
		{"tcp-data-offset-4", mutate(syn, func(b []byte) { b[32] = 4 << 4 }), ErrBadL4Header},
		{"tcp-data-offset-beyond", mutate(syn, func(b []byte) { b[32] = 6 << 4 }), ErrBadL4Header},
		{"udp-cut", cut(layers.IPProtocolUDP, 7), ErrTruncated},
		{"icmp-cut", cut(layers.IPProtocolICMPv4, 7), ErrTruncated},
		{"tcp-fragment-offset-1", frag(layers.IPProtocolTCP, true, 1, 64), ErrBadFragment},
		{"tcp-fragment-offset-2", frag(layers.IPProtocolTCP, false, 2, 8), ErrBadFragment},
		{"tcp-first-fragment-8-bytes", frag(layers.IPProtocolTCP, true, 0, 8), ErrBadFragment},
		{"udp-first-fragment-4-bytes", frag(layers.IPProtocolUDP, true, 0, 4), ErrBadFragment},
		{"icmp-first-fragment-4-bytes", frag(layers.IPProtocolICMPv4, true, 0, 4), ErrBadFragment},
		{"fragment-past-65535", frag(layers.IPProtocolUDP, false, 8189, 4), ErrBadFragment},
		{"icmp-quote-empty", icmpErr(nil), ErrBadICMPQuote},
		{"icmp-quote-27-bytes", icmpErr(quotedUDP[:27]), ErrBadICMPQuote},
		{"icmp-quote-not-ipv4", icmpErr(v6), ErrBadICMPQuote},
		{"icmp-quote-ihl-4", icmpErr(mutate(quotedUDP[:28], func(b []byte) { b[0] = 0x44 })), ErrBadICMPQuote},
		{"icmp-quote-ihl-beyond", icmpErr(mutate(quotedUDP[:40], func(b []byte) { b[0] = 0x49 })), ErrBadICMPQuote},
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range validPackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			require.Equal(t, ParseOK, Parse(tc.b, &h))
			assert.Equal(t, tc.want, h)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range badPackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			assert.Equal(t, tc.want, Parse(tc.b, &h), "got %v, want %v", Parse(tc.b, &h), tc.want)
		})
	}
}

// TestParseBoundaries checks the edges of the fragment and quote rules: one
// byte more than the minimum parses.
func TestParseBoundaries(t *testing.T) {
	frag := func(proto layers.IPProtocol, mf bool, off uint16, n int) []byte {
		ip := ipv4(addrA, addrB, proto, 4)
		ip.FragOffset = off
		if mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		return serialize(t, ip, gopacket.Payload(make([]byte, n)))
	}
	var h Header
	tcp20 := mutate(frag(layers.IPProtocolTCP, true, 0, 20), func(b []byte) { b[32] = 5 << 4 })
	assert.Equal(t, ParseOK, Parse(tcp20, &h), "first TCP fragment with 20 bytes")
	assert.Equal(t, ParseOK, Parse(frag(layers.IPProtocolUDP, true, 0, 8), &h), "first UDP fragment with 8 bytes")
	assert.Equal(t, ParseOK, Parse(frag(layers.IPProtocolUDP, false, 1, 8), &h), "UDP fragment at offset 8")
	assert.Equal(t, ParseOK, Parse(frag(layers.IPProtocolGRE, false, 1, 8), &h), "GRE fragment at offset 8")
	assert.Equal(t, ParseOK, Parse(frag(layers.IPProtocolUDP, false, 8189, 3), &h), "fragment ending at 65535")
	assert.Equal(t, ParseOK, Parse(frag(layers.IPProtocolGRE, true, 0, 0), &h), "empty first GRE fragment")
}

// TestParseResets checks that nothing of a previous packet survives a call,
// whatever the new packet and result.
func TestParseResets(t *testing.T) {
	dirty := Header{
		Tuple: Tuple{1, 2, 3, 4, 5}, Flags: 0xff, TCPFlags: 0xff, ICMPType: 0xff, ICMPCode: 0xff,
		ICMPID: 0xffff, IPID: 0xffff, Inner: Tuple{6, 7, 8, 9, 10}, L4Offset: 0xffff, TotalLen: 0xffff,
	}
	check := func(t *testing.T, b []byte) {
		var fresh Header
		want := Parse(b, &fresh)
		h := dirty
		assert.Equal(t, want, Parse(b, &h))
		assert.Equal(t, fresh, h)
	}
	for _, tc := range validPackets(t) {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.b) })
	}
	for _, tc := range badPackets(t) {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.b) })
	}
	var h Header
	require.Equal(t, ParseOK, Parse(validPackets(t)[0].b, &h))
	require.Equal(t, ErrIPv6, Parse([]byte{0x60}, &h))
	assert.Equal(t, Header{}, h)
}

// TestParseTruncated cuts every valid packet at every length, first as a
// frame shorter than its IPv4 total length says, then with the total length
// rewritten to match: Parse must never panic, and must either fail or agree
// with the whole packet on everything but the total length.
func TestParseTruncated(t *testing.T) {
	for _, tc := range validPackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			ihl := int(tc.b[0]&0x0f) * 4
			for n := range len(tc.b) {
				var h Header
				got := Parse(tc.b[:n], &h)
				switch {
				case n >= int(tc.want.TotalLen): // padding cut off
					require.Equal(t, ParseOK, got, "frame cut at %d", n)
					require.Equal(t, tc.want, h, "frame cut at %d", n)
				case n < ipv4MinHeader:
					require.Equal(t, ErrTruncated, got, "frame cut at %d", n)
				case n < ihl:
					require.Equal(t, ErrBadIHL, got, "frame cut at %d", n)
				default:
					require.Equal(t, ErrBadTotalLength, got, "frame cut at %d", n)
				}

				if n < ihl {
					continue
				}
				c := mutate(tc.b[:n], func(b []byte) { setTotalLen(b, n) })
				h = Header{}
				if got := Parse(c, &h); got != ParseOK {
					continue
				}
				want := tc.want
				want.TotalLen = uint16(n)
				require.Equal(t, want, h, "packet cut at %d", n)
			}
		})
	}
}

// TestParseHeaders checks the data plane's case: only a prefix of the packet
// is at hand. A prefix that holds the headers parses exactly like the whole
// packet; one that does not is an error, never a wrong header; a size below
// the total length is ErrBadTotalLength.
func TestParseHeaders(t *testing.T) {
	for _, tc := range validPackets(t) {
		t.Run(tc.name, func(t *testing.T) {
			size := int(tc.want.TotalLen)
			var full Header
			require.Equal(t, ParseOK, ParseHeaders(tc.b, len(tc.b), &full))
			require.Equal(t, tc.want, full)
			ok := false
			for n := range len(tc.b) + 1 {
				var h Header
				got := ParseHeaders(tc.b[:n], size, &h)
				if got == ParseOK {
					require.Equal(t, tc.want, h, "prefix of %d bytes", n)
					ok = true
				} else {
					require.False(t, ok, "prefix of %d bytes fails after a shorter one parsed: %v", n, got)
				}
			}
			require.True(t, ok, "no prefix parsed")
			var h Header
			assert.Equal(t, ErrBadTotalLength, ParseHeaders(tc.b[:size-1], size-1, &h))
		})
	}
}

func TestParseNoAllocs(t *testing.T) {
	var frames [][]byte
	for _, tc := range validPackets(t) {
		frames = append(frames, tc.b)
	}
	for _, tc := range badPackets(t) {
		frames = append(frames, tc.b)
	}
	var h Header
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range frames {
			Parse(b, &h)
		}
	})
	assert.Zero(t, allocs)
}

func TestParseErrorString(t *testing.T) {
	seen := map[string]ParseError{}
	for e := ParseOK; e <= ErrBadICMPQuote; e++ {
		s := e.String()
		require.NotEmpty(t, s)
		require.NotContains(t, s, "ParseError(", "%d has no text", e)
		prev, dup := seen[s]
		require.False(t, dup, "%d and %d share %q", prev, e, s)
		seen[s] = e
	}
	assert.Equal(t, "truncated", ErrTruncated.String())
	assert.Equal(t, "ParseError(200)", ParseError(200).String())
}

func FuzzParse(f *testing.F) {
	for _, tc := range validPackets(f) {
		f.Add(tc.b)
	}
	for _, tc := range badPackets(f) {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		if Parse(b, &h) != ParseOK {
			return
		}
		if !(ipv4MinHeader <= h.L4Offset && h.L4Offset <= h.TotalLen && int(h.TotalLen) <= len(b)) {
			t.Fatalf("L4Offset %d, TotalLen %d, frame %d bytes", h.L4Offset, h.TotalLen, len(b))
		}
		if h.Has(FlagLaterFragment) && (!h.Has(FlagFragment) || h.SrcPort|h.DstPort != 0 || h.TCPFlags != 0 || h.ICMPType != 0) {
			t.Fatalf("later fragment with transport fields: %+v", h)
		}
		if h.Flags&(FlagICMPEcho|FlagICMPError) != 0 && h.Proto != ProtoICMP {
			t.Fatalf("ICMP flags on protocol %d", h.Proto)
		}
		if h.SrcPort|h.DstPort != 0 && h.Proto != ProtoTCP && h.Proto != ProtoUDP {
			t.Fatalf("ports on protocol %d", h.Proto)
		}
		if !h.Has(FlagICMPError) && h.Inner != (Tuple{}) {
			t.Fatalf("inner tuple without FlagICMPError: %+v", h)
		}
		// Padding after the total length changes nothing.
		var h2 Header
		if Parse(b[:h.TotalLen], &h2) != ParseOK || h2 != h {
			t.Fatalf("frame cut to its total length parses differently: %+v, then %+v", h, h2)
		}
		// Any prefix either fails or parses the same headers.
		for n := range len(b) {
			var h3 Header
			if ParseHeaders(b[:n], len(b), &h3) == ParseOK && h3 != h {
				t.Fatalf("prefix of %d bytes parses differently: %+v, then %+v", n, h, h3)
			}
		}
	})
}

var parseSink ParseError

func BenchmarkParse(b *testing.B) {
	syn := tcpPacket(b, ipv4(addrA, addrB, layers.IPProtocolTCP, 1),
		&layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true, Window: 65535}, nil)
	var h Header
	b.ReportAllocs()
	b.SetBytes(int64(len(syn)))
	for b.Loop() {
		parseSink = Parse(syn, &h)
	}
}
