package netstack

import (
	"encoding/binary"

	"github.com/vpclab/vpclab/firewall"
)

// A shard that drops a frame another shard's endpoint sent — the edge
// refusing a SNAT port, a receiver whose conntrack refuses what the sender
// allowed — tells the sender's shard with a drop notice over the link, so
// that the sender's NIC counts it and its drop subscribers (a probe, an
// exposed port) see the event with the code and reason one process gives.
//
// A notice is an IPv4 packet of protocol protoDropNotice from the dropped
// frame's receiver (an address of the dropping shard, which WireGuard's
// allowed IPs check) to its sender (which routes it to the sender's shard),
// carrying noticeLen bytes of verdict and then the dropped frame's headers:
//
//	code u8 | detail u8 | direction u8 | flags u8 | entry i32 | frame size u32 | headers …
const (
	// protoDropNotice is IP protocol 253, reserved for experimentation
	// (RFC 3692): no instance's traffic uses it on the link.
	protoDropNotice = 253
	noticeLen       = 12
	// noticePolicy: a policy of the direction decided (the receiver looks
	// up its own, which is the same).
	noticePolicy = 1 << 0
	// noticeForget: the dropping shard forgot the flow's conntrack entry,
	// so the sender's shard forgets its own.
	noticeForget = 1 << 1
)

// notifyDrop sends a drop notice about frame ip (the headers of a frame
// of size bytes) from remote endpoint from to local endpoint to. It
// allocates nothing.
func (v *VPC) notifyDrop(from, to *endpoint, vd *firewall.Verdict, ip []byte, size int, forget bool) {
	if to == nil || to.shard != nil || from.shard == nil {
		return // the notice comes from an address of this shard
	}
	var flags byte
	if vd.Policy != nil {
		flags |= noticePolicy
	}
	if forget {
		flags |= noticeForget
	}
	hdr := ip[:min(len(ip), maxHeaderBytes)]
	from.shard.link.tun.sendWith(func(b []byte) int {
		n := 20 + noticeLen + len(hdr)
		if len(b) < n {
			return 0
		}
		clear(b[:20])
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		b[8] = 64
		b[9] = protoDropNotice
		binary.BigEndian.PutUint32(b[12:], to.addr)
		binary.BigEndian.PutUint32(b[16:], from.addr)
		binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
		p := b[20:]
		p[0], p[1], p[2], p[3] = byte(vd.Code), vd.Detail, byte(vd.Dir), flags
		binary.BigEndian.PutUint32(p[4:], uint32(vd.Entry))
		binary.BigEndian.PutUint32(p[8:], uint32(size))
		copy(p[noticeLen:], hdr)
		return n
	})
}

// ipChecksum is the IPv4 header checksum of h (its checksum field zero).
func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// dropNotice takes a drop notice b from another shard: it counts and
// publishes the drop on the sender's NIC, which this shard runs, as if
// this shard had dropped the frame. A notice that does not parse, or
// names a sender this shard does not run, is ignored (counted as a link
// drop).
func (l *ShardLink) dropNotice(b []byte) {
	v := l.v
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl+noticeLen {
		l.dropped.Add(1)
		return
	}
	p := b[ihl:]
	hdr := p[noticeLen:]
	size := int(binary.BigEndian.Uint32(p[8:]))
	var h firewall.Header
	if firewall.ParseHeaders(hdr, size, &h) != firewall.ParseOK {
		l.dropped.Add(1)
		return
	}
	from, to := v.endpointAt(h.Src), v.endpointAt(h.Dst)
	if from == nil || from.shard != nil || to == nil || to.shard == nil || int(p[0]) >= firewall.NumCodes {
		l.dropped.Add(1)
		return
	}
	vd := firewall.Verdict{Code: firewall.Code(p[0]), Detail: p[1], Dir: firewall.Direction(p[2]), Entry: int32(binary.BigEndian.Uint32(p[4:]))}
	if p[3]&noticePolicy != 0 {
		nic := from.nic
		if vd.Dir == firewall.Ingress {
			nic = to.nic
		}
		if nic != nil {
			vd.Policy = nic.Policy().Direction(vd.Dir)
		}
	}
	if p[3]&noticeForget != 0 {
		v.fw.Conntrack().Delete(&h)
	}
	v.drop(nil, from, to, &h, vd, hdr, size)
}
