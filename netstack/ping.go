package netstack

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// pingPayload is the size of the data after the ICMP echo header.
const pingPayload = 8

// Ping sends one ICMP echo request with sequence number seq to dst and
// returns the round-trip time of the matching reply. It fails when ctx ends
// before the reply arrives. It uses an ICMP "ping socket" endpoint, so the
// stack picks the echo identifier and only replies to it are read.
func (i *Instance) Ping(ctx context.Context, dst netip.Addr, seq uint16) (time.Duration, error) {
	rtt, err := i.ping(ctx, dst, seq)
	if err != nil {
		return 0, fmt.Errorf("instance %s: ping %v seq %d: %w", i.name, dst, seq, err)
	}
	return rtt, nil
}

func (i *Instance) ping(ctx context.Context, dst netip.Addr, seq uint16) (time.Duration, error) {
	if !dst.Is4() {
		return 0, fmt.Errorf("not an IPv4 address")
	}
	var wq waiter.Queue
	ep, terr := i.stack.NewEndpoint(icmp.ProtocolNumber4, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return 0, stackError(terr)
	}
	defer ep.Close()
	entry, readable := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)

	if terr := ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(dst.As4())}); terr != nil {
		return 0, stackError(terr)
	}
	var req [header.ICMPv4MinimumSize + pingPayload]byte
	echo := header.ICMPv4(req[:])
	echo.SetType(header.ICMPv4Echo)
	echo.SetSequence(seq)
	start := time.Now()
	if _, terr := ep.Write(bytes.NewReader(req[:]), tcpip.WriteOptions{}); terr != nil {
		return 0, stackError(terr)
	}
	var buf [64]byte
	for {
		w := tcpip.SliceWriter(buf[:])
		res, terr := ep.Read(&w, tcpip.ReadOptions{})
		switch terr.(type) {
		case nil:
			reply := header.ICMPv4(buf[:min(res.Count, len(buf))])
			if len(reply) >= header.ICMPv4MinimumSize && reply.Type() == header.ICMPv4EchoReply && reply.Sequence() == seq {
				return time.Since(start), nil
			}
		case *tcpip.ErrWouldBlock:
			select {
			case <-readable:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		default:
			return 0, stackError(terr)
		}
	}
}
