package firewall

import (
	"encoding/binary"
	"strconv"
)

// ParseError says why Parse rejected a frame. It is a small integer so that a
// Verdict can carry it (Verdict.Detail) without allocating.
type ParseError uint8

const (
	// ParseOK means the frame was parsed.
	ParseOK ParseError = iota
	// ErrTruncated means the frame is shorter than its headers say: less
	// than an IPv4 header, or a transport header cut short.
	ErrTruncated
	// ErrBadVersion means the IP version is neither 4 nor 6.
	ErrBadVersion
	// ErrIPv6 means the frame is IPv6, which vpclab VPCs do not carry yet
	// (verdict IPV6_NOT_SUPPORTED).
	ErrIPv6
	// ErrBadIHL means the IPv4 header length is below 5 words or beyond the
	// frame.
	ErrBadIHL
	// ErrBadTotalLength means the IPv4 total length is shorter than the
	// header or longer than the frame.
	ErrBadTotalLength
	// ErrBadL4Header means the transport header is malformed, for example a
	// TCP data offset below 5 words or beyond the packet.
	ErrBadL4Header
	// ErrBadFragment means a fragment that no honest sender produces: a
	// later fragment overlapping the transport header (the tiny-fragment
	// attack of RFC 1858), a first fragment too short to hold the transport
	// header, or a fragment reaching past 65535 bytes.
	ErrBadFragment
	// ErrBadICMPQuote means an ICMP error whose quoted packet is not an IPv4
	// header followed by 8 bytes of its payload (RFC 792).
	ErrBadICMPQuote
)

var parseErrorText = [...]string{
	ParseOK:           "ok",
	ErrTruncated:      "truncated",
	ErrBadVersion:     "bad IP version",
	ErrIPv6:           "IPv6 not supported",
	ErrBadIHL:         "bad IPv4 header length",
	ErrBadTotalLength: "bad IPv4 total length",
	ErrBadL4Header:    "bad transport header",
	ErrBadFragment:    "bad fragment",
	ErrBadICMPQuote:   "bad ICMP error quote",
}

// String returns a short human description, such as "truncated".
func (e ParseError) String() string {
	if int(e) < len(parseErrorText) {
		return parseErrorText[e]
	}
	return "ParseError(" + strconv.Itoa(int(e)) + ")"
}

// Sizes and bits of the headers Parse reads.
const (
	ipv4MinHeader = 20
	ipv4MaxLen    = 65535
	ipv4MF        = 0x2000 // more fragments, in the flags/offset field
	ipv4OffMask   = 0x1fff // fragment offset in 8-byte units
	tcpMinHeader  = 20
	udpHeader     = 8
	icmpHeader    = 8
	quotedL4Bytes = 8 // an ICMP error quotes at least this much payload
)

// Parse parses a raw IPv4 packet (no link-layer header) into h, which it
// resets first. It reads the IPv4 header with options, fragment fields, and
// for unfragmented packets and first fragments the TCP ports and flags, UDP
// ports, or ICMP type, code, echo id and the five-tuple quoted by an ICMP
// error. Checksums and the UDP length are never checked: with GSO the data
// plane sees partial or zero checksums. Bytes after the IPv4 total length are
// ignored as padding.
//
// On error h holds the fields decoded before the error was found, which may
// be logged but must not be classified. Parse never allocates.
func Parse(b []byte, h *Header) ParseError { return ParseHeaders(b, len(b), h) }

// ParseHeaders is Parse for a packet of size bytes of which b holds only the
// first ones: at least the IPv4 header and the transport header (for an ICMP
// error, also the quoted header and 8 bytes), as a data plane sees a large
// segment whose payload lies elsewhere. The total length is checked against
// size; what the headers need but b lacks is ErrTruncated.
func ParseHeaders(b []byte, size int, h *Header) ParseError {
	*h = Header{}
	size = max(size, len(b))
	if len(b) == 0 {
		return ErrTruncated
	}
	switch b[0] >> 4 {
	case 4:
	case 6:
		return ErrIPv6
	default:
		return ErrBadVersion
	}
	if len(b) < ipv4MinHeader {
		return ErrTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeader || ihl > len(b) {
		return ErrBadIHL
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl || total > size {
		return ErrBadTotalLength
	}
	h.Proto = b[9]
	h.Src = binary.BigEndian.Uint32(b[12:16])
	h.Dst = binary.BigEndian.Uint32(b[16:20])
	h.IPID = binary.BigEndian.Uint16(b[4:6])
	h.L4Offset = uint16(ihl)
	h.TotalLen = uint16(total)
	l4 := b[ihl:min(total, len(b))]

	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&(ipv4MF|ipv4OffMask) != 0 {
		h.Flags |= FlagFragment
		if off := int(frag&ipv4OffMask) * 8; off != 0 {
			h.Flags |= FlagLaterFragment
			if off < minL4Header(h.Proto) || off+total > ipv4MaxLen {
				return ErrBadFragment
			}
			return ParseOK
		}
		if len(l4) < minL4Header(h.Proto) {
			return ErrBadFragment
		}
	}

	switch h.Proto {
	case ProtoTCP:
		if len(l4) < tcpMinHeader {
			return ErrTruncated
		}
		h.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		h.DstPort = binary.BigEndian.Uint16(l4[2:4])
		h.TCPFlags = l4[13]
		if doff := int(l4[12]>>4) * 4; doff < tcpMinHeader || doff > len(l4) {
			return ErrBadL4Header
		}
	case ProtoUDP:
		if len(l4) < udpHeader {
			return ErrTruncated
		}
		h.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		h.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP:
		return parseICMP(l4, h)
	}
	return ParseOK
}

// minL4Header is the transport header a first fragment must hold in full,
// and that a later fragment must not overlap.
func minL4Header(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return tcpMinHeader
	case ProtoUDP:
		return udpHeader
	case ProtoICMP:
		return icmpHeader
	}
	return 0
}

// parseICMP fills the ICMP fields of h from the ICMP message m.
func parseICMP(m []byte, h *Header) ParseError {
	if len(m) < icmpHeader {
		return ErrTruncated
	}
	h.ICMPType = m[0]
	h.ICMPCode = m[1]
	switch h.ICMPType {
	case ICMPEchoRequest, ICMPEchoReply:
		h.Flags |= FlagICMPEcho
		h.ICMPID = binary.BigEndian.Uint16(m[4:6])
	case ICMPDestUnreachable, ICMPTimeExceeded, ICMPParamProblem:
		if !parseQuote(m[icmpHeader:], &h.Inner) {
			return ErrBadICMPQuote
		}
		h.Flags |= FlagICMPError
	}
	return ParseOK
}

// parseQuote parses the packet quoted by an ICMP error: an IPv4 header and at
// least 8 bytes of its payload. The quoted total length is not checked, since
// errors quote only the start of the packet.
func parseQuote(q []byte, t *Tuple) bool {
	if len(q) < ipv4MinHeader+quotedL4Bytes || q[0]>>4 != 4 {
		return false
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < ipv4MinHeader || ihl+quotedL4Bytes > len(q) {
		return false
	}
	*t = Tuple{
		Src:   binary.BigEndian.Uint32(q[12:16]),
		Dst:   binary.BigEndian.Uint32(q[16:20]),
		Proto: q[9],
	}
	// A quoted later fragment carries no transport header.
	if binary.BigEndian.Uint16(q[6:8])&ipv4OffMask == 0 && (t.Proto == ProtoTCP || t.Proto == ProtoUDP) {
		t.SrcPort = binary.BigEndian.Uint16(q[ihl : ihl+2])
		t.DstPort = binary.BigEndian.Uint16(q[ihl+2 : ihl+4])
	}
	// A quoted echo carries its id as both ports, as conntrack keys echoes,
	// so that errors about a ping (traceroute -I) are related to it.
	if binary.BigEndian.Uint16(q[6:8])&ipv4OffMask == 0 && t.Proto == ProtoICMP &&
		(q[ihl] == ICMPEchoRequest || q[ihl] == ICMPEchoReply) {
		id := binary.BigEndian.Uint16(q[ihl+4 : ihl+6])
		t.SrcPort, t.DstPort = id, id
	}
	return true
}
