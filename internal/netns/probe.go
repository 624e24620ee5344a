package netns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Verdicts of a probe, as topology's runner names them.
const (
	Allow  = "allow"
	Block  = "block"
	Refuse = "refuse"
	Failed = "error"
)

// Probe connects from node n to `to` over proto (tcp, udp or icmp) and
// says what the kernel did: allow (handshake, echo or reply), block (the
// timeout: a drop is silent), refuse (RST or ICMP port unreachable).
func (l *Lab) Probe(ctx context.Context, n Node, proto string, to netip.AddrPort, timeout time.Duration) (verdict, detail string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	switch proto {
	case "tcp":
		var c net.Conn
		err = inNS(n.NS, func() error {
			var d net.Dialer
			var e error
			c, e = d.DialContext(ctx, "tcp4", to.String())
			return e
		})
		if err == nil {
			c.Close()
			return Allow, "handshake completed"
		}
	case "udp":
		var c net.Conn
		if err = inNS(n.NS, func() error {
			var e error
			c, e = net.Dial("udp4", to.String())
			return e
		}); err != nil {
			return Failed, err.Error()
		}
		defer c.Close()
		dl, _ := ctx.Deadline()
		c.SetDeadline(dl)
		if _, err = c.Write([]byte("vpclab probe")); err == nil {
			buf := make([]byte, 2048)
			var k int
			if k, err = c.Read(buf); err == nil {
				return Allow, fmt.Sprintf("reply %q", buf[:k])
			}
		}
	case "icmp":
		return ping(ctx, n, to.Addr())
	default:
		return Failed, "unknown protocol " + proto
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refuse, "refused: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Block, "timeout"
	case errors.Is(err, syscall.EPERM):
		// A DROP in OUTPUT fails the sender's own write at once.
		return Block, "dropped on egress (EPERM from OUTPUT)"
	}
	return Failed, err.Error()
}

var pingID uint16 = uint16(os.Getpid())

// ping sends one ICMP echo request on a raw socket of the namespace and
// waits for the reply with its id and sequence.
func ping(ctx context.Context, n Node, to netip.Addr) (string, string) {
	var pc net.PacketConn
	if err := inNS(n.NS, func() error {
		var e error
		pc, e = net.ListenPacket("ip4:icmp", n.Addr.String())
		return e
	}); err != nil {
		return Failed, err.Error()
	}
	defer pc.Close()
	seq := uint16(time.Now().UnixNano())
	msg := []byte{8, 0, 0, 0, byte(pingID >> 8), byte(pingID), byte(seq >> 8), byte(seq), 'v', 'p', 'c'}
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	if _, err := pc.WriteTo(msg, &net.IPAddr{IP: to.AsSlice()}); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return Block, "dropped on egress (EPERM from OUTPUT)"
		}
		return Failed, err.Error()
	}
	dl, _ := ctx.Deadline()
	pc.SetReadDeadline(dl)
	buf := make([]byte, 1500)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			return Block, "timeout"
		}
		if k >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == pingID &&
			binary.BigEndian.Uint16(buf[6:]) == seq && from.String() == to.String() {
			return Allow, "echo reply"
		}
	}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
