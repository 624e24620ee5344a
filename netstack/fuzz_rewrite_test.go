package netstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/vpclab/vpclab/firewall"
)

// The NAT rewrite is checked against a slow reference: the reference writes
// the translated fields where the parser read them and leaves every other
// byte alone; each checksum the rewrite must maintain is then checked by
// summing, from scratch with gVisor's checksum package, the bytes it covers.
// An incremental update keeps that sum: a valid checksum stays valid (equal
// to a full recompute) and a corrupt one stays exactly as corrupt, so that
// the receiver still drops it.

// csumCheck is one checksum a rewrite must keep: its field and the bytes it
// covers, all as offsets in the frame.
type csumCheck struct {
	name       string
	field      int
	start, end int
	// ip is the offset of the IPv4 header whose pseudo-header joins the
	// sum (TCP, UDP), or -1.
	ip      int
	proto   uint8
	udp     bool // a zero field means "no checksum" and must stay zero
	partial bool // the field holds the uncomplemented pseudo-header sum (GSO)
}

// residue is the one's complement sum of what c covers, its field
// included: 0xffff (or 0) for a valid checksum. For a partial checksum it
// is the field minus the pseudo-header sum, zero when they agree.
func (c *csumCheck) residue(b []byte) uint16 {
	var init uint16
	if c.ip >= 0 {
		ip := header.IPv4(b[c.ip:])
		init = header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(c.proto),
			tcpip.AddrFrom4Slice(ip[12:16]), tcpip.AddrFrom4Slice(ip[16:20]), uint16(c.end-c.start))
	}
	if c.partial {
		return checksum.Combine(binary.BigEndian.Uint16(b[c.field:]), ^init)
	}
	return checksum.Checksum(b[c.start:c.end], init)
}

// onesZero maps one's complement negative zero to zero.
func onesZero(s uint16) uint16 {
	if s == 0xffff {
		return 0
	}
	return s
}

// refRewrite is the reference translation of frame (parsed as h, by the
// same parse the data plane runs before it rewrites) by rw: the frame with
// the translated fields written, and the checksums that must be kept.
// Checksum fields in want still hold the old values.
func refRewrite(frame []byte, h *firewall.Header, rw *Rewrite, partial bool) (want []byte, sums []csumCheck) {
	want = bytes.Clone(frame)
	ihl := int(h.L4Offset)
	total := int(h.TotalLen)
	put16 := func(off int, v uint16) { binary.BigEndian.PutUint16(want[off:], v) }
	put32 := func(off int, v uint32) { binary.BigEndian.PutUint32(want[off:], v) }

	sums = append(sums, csumCheck{name: "IPv4 header", field: 10, start: 0, end: ihl, ip: -1})
	if rw.Flags&RewriteSrcAddr != 0 {
		put32(12, rw.SrcAddr)
	}
	if rw.Flags&RewriteDstAddr != 0 {
		put32(16, rw.DstAddr)
	}
	if h.Has(firewall.FlagLaterFragment) {
		return want, sums // no transport header: its bytes stay as they are
	}
	switch h.Proto {
	case firewall.ProtoTCP:
		sums = append(sums, csumCheck{name: "TCP", field: ihl + 16, start: ihl, end: total, ip: 0, proto: h.Proto, partial: partial})
	case firewall.ProtoUDP:
		sums = append(sums, csumCheck{name: "UDP", field: ihl + 6, start: ihl, end: total, ip: 0, proto: h.Proto, udp: true})
	case firewall.ProtoICMP:
		sums = append(sums, csumCheck{name: "ICMP", field: ihl + 2, start: ihl, end: total, ip: -1})
	}
	ports := h.Proto == firewall.ProtoTCP || h.Proto == firewall.ProtoUDP
	echo := h.Has(firewall.FlagICMPEcho)
	if rw.Flags&RewriteSrcPort != 0 {
		switch {
		case ports:
			put16(ihl, rw.SrcPort)
		case echo:
			put16(ihl+4, rw.SrcPort)
		}
	}
	if rw.Flags&RewriteDstPort != 0 {
		switch {
		case ports:
			put16(ihl+2, rw.DstPort)
		case echo:
			put16(ihl+4, rw.DstPort)
		}
	}
	if rw.Flags&(RewriteInnerSrc|RewriteInnerDst) == 0 || !h.Has(firewall.FlagICMPError) {
		return want, sums
	}
	// The quote of an ICMP error: its IPv4 header always (the parser
	// checked it is there with 8 bytes after it), its transport checksum
	// when the quote holds it, its ports unless it quotes a later fragment.
	q := ihl + 8
	qihl := int(frame[q]&0x0f) * 4
	ql4 := q + qihl
	sums = append(sums, csumCheck{name: "quoted IPv4 header", field: q + 10, start: q, end: ql4, ip: -1})
	qfirst := binary.BigEndian.Uint16(frame[q+6:])&0x1fff == 0
	qproto := frame[q+9]
	qports := qfirst && (qproto == firewall.ProtoTCP || qproto == firewall.ProtoUDP)
	qecho := qfirst && qproto == firewall.ProtoICMP && (frame[ql4] == 0 || frame[ql4] == 8)
	switch {
	case qfirst && qproto == firewall.ProtoUDP:
		sums = append(sums, csumCheck{name: "quoted UDP", field: ql4 + 6, start: ql4, end: total, ip: q, proto: qproto, udp: true})
	case qfirst && qproto == firewall.ProtoTCP && total >= ql4+18:
		sums = append(sums, csumCheck{name: "quoted TCP", field: ql4 + 16, start: ql4, end: total, ip: q, proto: qproto})
	case qecho:
		sums = append(sums, csumCheck{name: "quoted ICMP echo", field: ql4 + 2, start: ql4, end: total, ip: -1})
	}
	if rw.Flags&RewriteInnerSrc != 0 {
		put32(q+12, rw.InnerSrcAddr)
		if p := rw.InnerSrcPort; p != 0 {
			switch {
			case qports:
				put16(ql4, p)
			case qecho:
				put16(ql4+4, p)
			}
		}
	}
	if rw.Flags&RewriteInnerDst != 0 {
		put32(q+16, rw.InnerDstAddr)
		if p := rw.InnerDstPort; p != 0 {
			switch {
			case qports:
				put16(ql4+2, p)
			case qecho:
				put16(ql4+4, p)
			}
		}
	}
	return want, sums
}

// cutSizes turns cuts into view sizes (a nibble each), as FuzzFrameHeaders
// does: the frame reaches the fabric in as many pieces.
func cutSizes(cuts uint64) []int {
	var sizes []int
	for c := cuts; c != 0; c >>= 4 {
		sizes = append(sizes, int(c&0xf))
	}
	return sizes
}

// checkRewrite carries frame through the data plane's steps — frameHeaders,
// ParseHeaders, rewriteFrame — and checks the result against refRewrite. A
// frame the parser refuses is never rewritten (the data plane drops it);
// the sender's bytes are never written.
func checkRewrite(t *testing.T, frame []byte, cuts uint64, rw Rewrite, partial bool) {
	pkt := split(frame, cutSizes(cuts)...)
	defer pkt.DecRef()
	hdr, scratch := frameHeaders(pkt)
	defer releaseScratch(scratch)
	var h firewall.Header
	if len(hdr) < 20 || firewall.ParseHeaders(hdr, len(frame), &h) != firewall.ParseOK {
		return
	}
	partial = partial && h.Proto == firewall.ProtoTCP && !h.Has(firewall.FlagFragment)
	if partial {
		pkt.GSOOptions = stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, MSS: 1460, L3HdrLen: h.L4Offset}
	}
	orig := bytes.Clone(frame)

	buf := rewriteFrame(pkt, hdr, &rw)
	got := buf.Flatten()
	buf.Release()

	sent := pkt.ToView()
	sentBytes := bytes.Clone(sent.AsSlice())
	sent.Release()
	if !bytes.Equal(sentBytes, orig) {
		t.Fatalf("the sender's bytes were written:\n got %x\nwant %x", sentBytes, orig)
	}
	if len(got) != len(orig) {
		t.Fatalf("rewritten frame has %d bytes, want %d", len(got), len(orig))
	}
	want, sums := refRewrite(orig, &h, &rw, partial)
	for i := range sums {
		c := &sums[i]
		if c.end < c.start || c.end > len(got) {
			continue
		}
		if c.udp && binary.BigEndian.Uint16(orig[c.field:]) == 0 {
			if g := binary.BigEndian.Uint16(got[c.field:]); g != 0 {
				t.Fatalf("%s checksum: zero (none) became %#04x", c.name, g)
			}
			continue
		}
		before, after := c.residue(orig), c.residue(got)
		if onesZero(before) != onesZero(after) {
			valid := "valid"
			if onesZero(before) != 0 && !c.partial {
				valid = "corrupt"
			}
			t.Fatalf("%s checksum (field %#04x -> %#04x): the original was %s (residue %#04x), the rewritten frame's full recompute gives residue %#04x\nrewrite %+v\n got %x\nwant %x",
				c.name, binary.BigEndian.Uint16(orig[c.field:]), binary.BigEndian.Uint16(got[c.field:]), valid, before, after, rw, got, want)
		}
		copy(want[c.field:c.field+2], got[c.field:c.field+2])
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("rewrite %+v of %s:\n got %x\nwant %x\ndiff at %s", rw, flowString(&h), got, want, firstDiff(got, want))
	}
	// The next steps (ingress rules, conntrack) see applyTo's view of the
	// frame: it must be the frame the receiver gets, for the rewrites the
	// data plane makes — inner fields for ICMP errors only, ports where
	// the frame has them. (The data plane never reads applyTo's inner
	// ports: translateReturn translates the quote's itself.)
	var after firewall.Header
	if perr := firewall.Parse(got, &after); perr != firewall.ParseOK {
		t.Fatalf("rewrite %+v of %s: the rewritten frame no longer parses: %v", rw, flowString(&h), perr)
	}
	hasPorts := !h.Has(firewall.FlagLaterFragment) && (h.Proto == firewall.ProtoTCP || h.Proto == firewall.ProtoUDP || h.Has(firewall.FlagICMPEcho))
	if rw.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 && !h.Has(firewall.FlagICMPError) ||
		rw.Flags&(RewriteSrcPort|RewriteDstPort) != 0 && !hasPorts {
		return
	}
	view := h
	applyTo(&view, &rw)
	view.Inner.SrcPort, view.Inner.DstPort = after.Inner.SrcPort, after.Inner.DstPort
	if after != view {
		t.Fatalf("rewrite %+v: the frame says\n%+v\napplyTo says\n%+v", rw, after, view)
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("byte %d", i)
		}
	}
	return "the end"
}

// fixChecksums makes the frame's IPv4, transport and (for an ICMP error)
// quoted checksums valid, as a sending stack writes them; bits of which say
// which. Malformed frames are left as they are.
func fixChecksums(b []byte, which uint8) {
	var h firewall.Header
	if firewall.Parse(b, &h) != firewall.ParseOK {
		return
	}
	ihl, total := int(h.L4Offset), int(h.TotalLen)
	if which&1 != 0 {
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], ^checksum.Checksum(b[:ihl], 0))
	}
	if h.Has(firewall.FlagLaterFragment) {
		return
	}
	l4 := b[ihl:total]
	if h.Has(firewall.FlagICMPError) && which&4 != 0 {
		fixQuote(l4[8:])
	}
	if which&2 == 0 {
		return
	}
	var off int
	var init uint16
	switch h.Proto {
	case firewall.ProtoTCP:
		off = 16
	case firewall.ProtoUDP:
		off = 6
	case firewall.ProtoICMP:
		off = 2
	default:
		return
	}
	if h.Proto != firewall.ProtoICMP {
		init = header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(h.Proto),
			tcpip.AddrFrom4Slice(b[12:16]), tcpip.AddrFrom4Slice(b[16:20]), uint16(len(l4)))
	}
	l4[off], l4[off+1] = 0, 0
	putCsum(l4[off:], ^checksum.Checksum(l4, init))
}

// fixQuote makes the quoted packet's IPv4 header checksum valid, and its
// transport checksum too if the quote holds the whole packet.
func fixQuote(q []byte) {
	if len(q) < 20 {
		return
	}
	qihl := int(q[0]&0x0f) * 4
	if qihl < 20 || len(q) < qihl+8 {
		return
	}
	q[10], q[11] = 0, 0
	binary.BigEndian.PutUint16(q[10:], ^checksum.Checksum(q[:qihl], 0))
	qtotal := int(binary.BigEndian.Uint16(q[2:]))
	if qtotal != len(q) || binary.BigEndian.Uint16(q[6:])&0x1fff != 0 {
		return
	}
	l4 := q[qihl:]
	off := 0
	switch q[9] {
	case protoTCP:
		off = 16
	case protoUDP:
		off = 6
	case protoICMP:
		off = 2
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	l4[off], l4[off+1] = 0, 0
	var init uint16
	if q[9] != protoICMP {
		init = header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(q[9]),
			tcpip.AddrFrom4Slice(q[12:16]), tcpip.AddrFrom4Slice(q[16:20]), uint16(len(l4)))
	}
	putCsum(l4[off:], ^checksum.Checksum(l4, init))
}

// ipPacket builds an IPv4 header with optWords words of options around payload.
func ipPacket(proto byte, optWords int, frag uint16, src, dst uint32, payload []byte) []byte {
	ihl := 20 + 4*optWords
	b := make([]byte, ihl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8], b[9] = 64, proto
	binary.BigEndian.PutUint32(b[12:], src)
	binary.BigEndian.PutUint32(b[16:], dst)
	for i := 20; i < ihl; i++ {
		b[i] = 1 // NOP options
	}
	copy(b[ihl:], payload)
	return b
}

func addr4(a, b, c, d byte) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

func withPorts(l4 []byte, sport, dport uint16) []byte {
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	return l4
}

// l4TCP, l4UDP and l4Echo are transport headers (with payload) for seeds.
func l4TCP(sport, dport uint16, optWords int, payload string) []byte {
	b := withPorts(make([]byte, 20+4*optWords+len(payload)), sport, dport)
	b[12] = byte(5+optWords) << 4
	b[13] = 0x18
	copy(b[20+4*optWords:], payload)
	return b
}

func l4UDP(sport, dport uint16, payload string) []byte {
	b := withPorts(make([]byte, 8+len(payload)), sport, dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

func l4Echo(typ uint8, id uint16, payload string) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], 1)
	copy(b[8:], payload)
	return b
}

// icmpError builds an ICMP error of type typ quoting the first n bytes of
// the packet quoted (all of it if n is larger).
func icmpError(typ, code uint8, quoted []byte, n int) []byte {
	n = min(n, len(quoted))
	return append([]byte{typ, code, 0, 0, 0, 0, 0, 0}, quoted[:n]...)
}

var (
	fzPriv   = addr4(10, 0, 1, 5)
	fzPriv2  = addr4(10, 0, 2, 9)
	fzEIP    = addr4(47, 0, 0, 80)
	fzGW     = addr4(47, 0, 0, 1)
	fzRemote = addr4(203, 0, 113, 7)
)

// dataPlaneRewrites are the translations the data plane makes (route.go,
// plan.go): EIP out and in, SNAT, a DNAT target's answer, DNAT in, and a
// gateway's return translation, each with its ICMP-error form.
var dataPlaneRewrites = []Rewrite{
	{Flags: RewriteSrcAddr, SrcAddr: fzEIP},                                                               // EIP out
	{Flags: RewriteSrcAddr | RewriteInnerDst, SrcAddr: fzEIP, InnerDstAddr: fzEIP},                        // EIP out, ICMP error
	{Flags: RewriteSrcAddr | RewriteSrcPort, SrcAddr: fzGW, SrcPort: 1025},                                // SNAT, DNAT answer
	{Flags: RewriteSrcAddr | RewriteInnerDst, SrcAddr: fzGW, InnerDstAddr: fzGW, InnerDstPort: 8080},      // DNAT answer, ICMP error
	{Flags: RewriteDstAddr, DstAddr: fzPriv},                                                              // EIP in
	{Flags: RewriteDstAddr | RewriteInnerSrc, DstAddr: fzPriv, InnerSrcAddr: fzPriv},                      // EIP in, ICMP error
	{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: fzPriv2, DstPort: 22},                               // DNAT in, SNAT return
	{Flags: RewriteDstAddr | RewriteInnerSrc, DstAddr: fzPriv, InnerSrcAddr: fzPriv, InnerSrcPort: 40000}, // SNAT return, ICMP error
}

func addRewriteSeed(f *testing.F, frame []byte, rw Rewrite, fix uint8, cuts uint64, partial bool) {
	f.Add(frame, uint8(rw.Flags), rw.SrcAddr, rw.DstAddr, rw.SrcPort, rw.DstPort,
		rw.InnerSrcAddr, rw.InnerDstAddr, rw.InnerSrcPort, rw.InnerDstPort, fix, cuts, partial)
}

// FuzzRewrite sends arbitrary IPv4 frames through every translation: the
// rewritten frame must be the reference's, with every checksum kept as
// valid (or as corrupt) as it was. fix makes the frame's checksums valid
// first (bits: IPv4 header, transport, quote), cuts splits it into views,
// partial marks a TCP super-segment with a partial checksum.
func FuzzRewrite(f *testing.F) {
	frames := [][]byte{
		ipPacket(6, 0, 0, fzPriv, fzRemote, l4TCP(40000, 443, 0, "GET / HTTP/1.1\r\n")),
		ipPacket(6, 3, 0, fzRemote, fzEIP, l4TCP(51000, 22, 10, "odd")),
		ipPacket(17, 0, 0, fzPriv, fzRemote, l4UDP(5353, 53, "query")),
		ipPacket(17, 1, 0, fzRemote, fzGW, l4UDP(53, 1025, "answer!")),
		ipPacket(1, 0, 0, fzPriv, fzRemote, l4Echo(8, 77, "ping data")),
		ipPacket(1, 0, 0, fzRemote, fzGW, l4Echo(0, 1025, "pong")),
		ipPacket(17, 0, 0x2000, fzPriv, fzRemote, l4UDP(5353, 53, "first fragment")),
		ipPacket(17, 0, 185, fzPriv, fzRemote, []byte("later fragment payload")),
		ipPacket(47, 0, 0, fzPriv, fzRemote, []byte("gre")),
		ipPacket(1, 0, 0, fzRemote, fzEIP, icmpError(3, 3, ipPacket(17, 0, 0, fzEIP, fzRemote, l4UDP(40000, 53, "q")), 28)),
		ipPacket(1, 0, 0, fzRemote, fzGW, icmpError(11, 0, ipPacket(6, 0, 0, fzGW, fzRemote, l4TCP(1025, 80, 0, "")), 40)),
		ipPacket(1, 0, 0, fzPriv, fzRemote, icmpError(3, 3, ipPacket(17, 0, 0, fzRemote, fzPriv, l4UDP(53, 8080, "q")), 1000)),
		// Padding after the IPv4 total length where a longer quote's TCP
		// checksum would be: no checksum covers it, nothing may write it.
		append(ipPacket(1, 0, 0, fzRemote, fzGW, icmpError(11, 0, ipPacket(6, 0, 0, fzGW, fzRemote, l4TCP(1025, 80, 0, "")), 28)), make([]byte, 12)...),
	}
	for i, fr := range frames {
		for j, rw := range dataPlaneRewrites {
			fix := uint8(7)
			if (i+j)%5 == 0 {
				fix = 0 // leave the checksums as built: corrupt ones
			}
			addRewriteSeed(f, fr, rw, fix, uint64(i*131+j*7)%0x10000, i%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, flags uint8, src, dst uint32, sport, dport uint16,
		isrc, idst uint32, isport, idport uint16, fix uint8, cuts uint64, partial bool) {
		frame = bytes.Clone(frame)
		fixChecksums(frame, fix)
		rw := Rewrite{Flags: RewriteFlags(flags) & (RewriteInnerDst<<1 - 1), SrcAddr: src, DstAddr: dst, SrcPort: sport, DstPort: dport,
			InnerSrcAddr: isrc, InnerDstAddr: idst, InnerSrcPort: isport, InnerDstPort: idport}
		checkRewrite(t, frame, cuts, rw, partial)
	})
}

// FuzzRewriteICMPError builds ICMP errors (destination unreachable, time
// exceeded, and any other type) that quote the first n bytes of an
// arbitrary packet, with valid checksums unless fix says otherwise, and
// translates them the way the data plane translates errors: the outer
// ICMP checksum, the quoted IPv4 header checksum and the quoted transport
// checksum (when the quote holds it) must stay as valid as they were.
func FuzzRewriteICMPError(f *testing.F) {
	quotes := []struct {
		p []byte
		n int
	}{
		{ipPacket(17, 0, 0, fzEIP, fzRemote, l4UDP(40000, 53, "query")), 1 << 16},
		{ipPacket(17, 0, 0, fzEIP, fzRemote, l4UDP(40000, 53, "query")), 28},
		{ipPacket(6, 0, 0, fzGW, fzRemote, l4TCP(1025, 443, 2, "hello")), 1 << 16},
		{ipPacket(6, 0, 0, fzGW, fzRemote, l4TCP(1025, 443, 0, "")), 28},       // 8 bytes of TCP: no checksum
		{ipPacket(6, 0, 0, fzGW, fzRemote, l4TCP(1025, 443, 0, "")), 37},       // checksum cut in half
		{ipPacket(6, 2, 0, fzGW, fzRemote, l4TCP(1025, 443, 0, "x")), 1 << 16}, // quoted options
		{ipPacket(1, 0, 0, fzGW, fzRemote, l4Echo(8, 1025, "traceroute -I")), 1 << 16},
		{ipPacket(17, 0, 185, fzGW, fzRemote, []byte("a later fragment quoted")), 1 << 16},
		{ipPacket(17, 0, 0x2000, fzGW, fzRemote, l4UDP(1025, 53, "first fragment quoted")), 1 << 16},
		{ipPacket(17, 0, 0, fzGW, fzRemote, l4UDP(1025, 53, "q")), 24}, // shorter than 8 bytes of UDP
		{ipPacket(47, 0, 0, fzGW, fzRemote, []byte("gre payload")), 1 << 16},
	}
	types := [][2]uint8{{3, 3}, {3, 4}, {11, 0}, {12, 0}, {5, 1}, {8, 0}}
	for i, q := range quotes {
		for j, rw := range dataPlaneRewrites {
			if rw.Flags&(RewriteInnerSrc|RewriteInnerDst) == 0 {
				continue
			}
			ty := types[(i+j)%len(types)]
			fix := uint8(7)
			if (i+j)%4 == 0 {
				fix = 3 // the quote's checksums left as built
			}
			f.Add(ty[0], ty[1], q.p, uint16(q.n), uint8(i%3), uint8(rw.Flags), rw.InnerSrcAddr, rw.InnerDstAddr, rw.InnerSrcPort, rw.InnerDstPort, fix)
		}
	}
	f.Fuzz(func(t *testing.T, typ, code uint8, quoted []byte, n uint16, optWords uint8, flags uint8,
		isrc, idst uint32, isport, idport uint16, fix uint8) {
		quoted = bytes.Clone(quoted)
		if fix&4 != 0 {
			fixQuote(quoted) // as the sender had it, before the error cut it
		}
		msg := icmpError(typ, code, quoted, int(n))
		frame := ipPacket(1, int(optWords%11), 0, fzRemote, fzGW, msg)
		if len(frame) > 0xffff {
			return
		}
		fixChecksums(frame, fix&3)
		// As the data plane translates errors: the outer address, and the
		// quote's address (and port) to match.
		rw := Rewrite{Flags: RewriteFlags(flags) & (RewriteInnerSrc | RewriteInnerDst),
			InnerSrcAddr: isrc, InnerDstAddr: idst, InnerSrcPort: isport, InnerDstPort: idport}
		if rw.Flags&RewriteInnerSrc != 0 {
			rw.Flags |= RewriteDstAddr
			rw.DstAddr = isrc
		}
		if rw.Flags&RewriteInnerDst != 0 {
			rw.Flags |= RewriteSrcAddr
			rw.SrcAddr = idst
		}
		checkRewrite(t, frame, 0, rw, false)
	})
}
