package firewall

import "net/netip"

// IP protocol numbers the firewall knows by name.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
	ProtoGRE  uint8 = 47
)

// TCP flag bits as they appear in byte 13 of the TCP header.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
)

// ICMPv4 message types the firewall treats specially.
const (
	ICMPEchoReply       uint8 = 0
	ICMPDestUnreachable uint8 = 3
	ICMPEchoRequest     uint8 = 8
	ICMPTimeExceeded    uint8 = 11
	ICMPParamProblem    uint8 = 12
)

// Tuple is the five-tuple the classifier looks at. Addresses are IPv4 in host
// order (a.b.c.d is a<<24|b<<16|c<<8|d) so that ranges compare as integers.
// For protocols without ports (ICMP, GRE, ...) both ports are zero.
type Tuple struct {
	Src, Dst         uint32
	SrcPort, DstPort uint16
	Proto            uint8
}

// HeaderFlags describe what kind of packet a Header holds.
type HeaderFlags uint8

const (
	// FlagFragment is set for any IPv4 fragment (MF set or offset non-zero).
	FlagFragment HeaderFlags = 1 << iota
	// FlagLaterFragment is set for fragments with a non-zero offset: they carry
	// no transport header, so their ports are unknown (zero).
	FlagLaterFragment
	// FlagICMPError is set for ICMP errors (destination unreachable, time
	// exceeded, parameter problem) whose quoted header was parsed into Inner.
	FlagICMPError
	// FlagICMPEcho is set for ICMP echo request and reply; ICMPID holds the id.
	FlagICMPEcho
)

// Header is a parsed IPv4 packet header: everything the firewall needs from a
// frame, in a flat value that the parser fills without allocating.
type Header struct {
	Tuple
	Flags    HeaderFlags
	TCPFlags uint8 // TCP only
	ICMPType uint8 // ICMP only
	ICMPCode uint8 // ICMP only
	ICMPID   uint16
	IPID     uint16 // IPv4 identification, used to follow fragments
	// Inner is the five-tuple quoted by an ICMP error (FlagICMPError): the
	// header of the packet that caused the error, as its sender wrote it.
	// A quoted ICMP echo has its echo id as both ports (the conntrack key).
	Inner Tuple
	// L4Offset is the offset of the transport header in the frame;
	// TotalLen the IPv4 total length.
	L4Offset uint16
	TotalLen uint16
}

// Has reports whether all flags in f are set.
func (h *Header) Has(f HeaderFlags) bool { return h.Flags&f == f }

// AddrToU32 converts an IPv4 (or IPv4-mapped IPv6) address to the host-order
// integer the hot path uses. ok is false for a real IPv6 address.
func AddrToU32(a netip.Addr) (v uint32, ok bool) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// U32ToAddr converts a host-order integer back to a netip.Addr.
func U32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
