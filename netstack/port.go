package netstack

import (
	"net/netip"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Port is a VNIC attached to a Fabric as the owner of one IPv4 address.
type Port struct {
	// Tag is free for the fabric's user (the firewall hangs a NIC's policy
	// and state on it). It is set by Attach and never written by the
	// fabric; the Filter reads it concurrently, so anything that changes
	// later belongs behind a pointer with its own synchronization.
	Tag any

	addr   netip.Addr
	key    uint32
	nic    *VNIC
	fabric *Fabric

	// capture, if set, sees every frame crossing the port.
	capture atomic.Pointer[captureRef]

	// tx is written by the port's own sender, rx by every other sender:
	// separate cache lines keep them from bouncing.
	tx portCounters
	_  [64]byte
	rx portCounters
}

type portCounters struct {
	frames, bytes     atomic.Uint64
	filtered, dropped atomic.Uint64
}

// PortStats are a port's counters. Frames and bytes count what crossed the
// port's VNIC; a GSO super-segment counts as one frame.
type PortStats struct {
	TxFrames, TxBytes uint64 // transmitted by the port's VNIC, before any drop
	TxFiltered        uint64 // transmitted frames the filter dropped
	TxDropped         uint64 // transmitted frames dropped as malformed or unroutable
	RxFrames, RxBytes uint64 // delivered to the port's stack
	RxDropped         uint64 // addressed to the port but no stack to receive them
}

// Addr returns the IPv4 address the port owns.
func (p *Port) Addr() netip.Addr { return p.addr }

// NIC returns the VNIC attached through the port.
func (p *Port) NIC() *VNIC { return p.nic }

// Stats returns a snapshot of the port's counters.
func (p *Port) Stats() PortStats {
	return PortStats{
		TxFrames:   p.tx.frames.Load(),
		TxBytes:    p.tx.bytes.Load(),
		TxFiltered: p.tx.filtered.Load(),
		TxDropped:  p.tx.dropped.Load(),
		RxFrames:   p.rx.frames.Load(),
		RxBytes:    p.rx.bytes.Load(),
		RxDropped:  p.rx.dropped.Load(),
	}
}

// Detach removes the port from its fabric and unplugs its VNIC. Frames to
// its address become unroutable. Detaching twice is harmless.
func (p *Port) Detach() { p.fabric.detach(p) }

// transmit implements wire: the port's VNIC hands the fabric a frame.
func (p *Port) transmit(pkt *stack.PacketBuffer) { p.fabric.forward(p, pkt) }
