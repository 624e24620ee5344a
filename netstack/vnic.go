package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// DefaultMTU is the MTU of a VNIC unless its configuration says otherwise.
const DefaultMTU = 1500

// gsoMaxSize bounds a TCP super-segment. TCP fills a segment with up to
// GSOMaxSize-61 payload bytes (tcp/snd.go) and adds up to 60 bytes of TCP
// header, so leaving room for the largest IPv4 header keeps every
// super-segment's IPv4 total length within 16 bits.
const gsoMaxSize = 0xffff - header.IPv4MaximumHeaderSize

// VNIC is the virtual network interface of an instance: the gVisor link
// endpoint its stack transmits through. It carries raw IPv4 packets (no link
// header, no ARP). A transmitted packet is handed synchronously, in the
// sender's goroutine, to whatever the VNIC is plugged into — a fabric Port or
// a peer VNIC — and never queued, so a busy receiver slows the sender down
// instead of dropping its frames.
//
// With offload (the default) the VNIC advertises TX and RX checksum offload
// and host GSO: TCP hands it super-segments of up to 64 KiB with a partial
// checksum, which cross unsegmented and are accepted by the receiving VNIC
// without checksum verification. Every VNIC of a fabric must then offload,
// since the checksums a sender skips are never filled in.
type VNIC struct {
	mtu     atomic.Uint32
	offload bool

	// disp is the receiving stack; nil once the NIC is removed.
	disp atomic.Pointer[dispatcherRef]
	// out is where transmitted frames go; nil while unplugged.
	out atomic.Pointer[wireRef]

	// unplugged counts frames transmitted while nothing was plugged in.
	unplugged atomic.Uint64

	closeMu     sync.Mutex
	closeAction func()
}

// wire is what a VNIC is plugged into.
type wire interface {
	// transmit carries one outgoing packet. It runs in the sender's
	// goroutine and must not retain pkt after returning.
	transmit(pkt *stack.PacketBuffer)
}

type wireRef struct{ w wire }

type dispatcherRef struct{ d stack.NetworkDispatcher }

// NewVNIC returns an unplugged VNIC with the given MTU (DefaultMTU if zero).
// offload enables checksum offload and host GSO (see VNIC).
func NewVNIC(mtu uint32, offload bool) *VNIC {
	if mtu == 0 {
		mtu = DefaultMTU
	}
	v := &VNIC{offload: offload}
	v.mtu.Store(mtu)
	return v
}

// Pipe plugs two VNICs into each other, with no fabric and no filter in
// between: what one transmits, the other receives. It replaces whatever
// either was plugged into (detach them from a fabric first).
func Pipe(a, b *VNIC) {
	a.plug(pipeEnd{peer: b})
	b.plug(pipeEnd{peer: a})
}

type pipeEnd struct{ peer *VNIC }

func (p pipeEnd) transmit(pkt *stack.PacketBuffer) { p.peer.deliver(pkt) }

func (v *VNIC) plug(w wire) { v.out.Store(&wireRef{w: w}) }

func (v *VNIC) unplug() { v.out.Store(nil) }

// Unplugged reports how many frames the stack transmitted while the VNIC was
// plugged into nothing (they are dropped).
func (v *VNIC) Unplugged() uint64 { return v.unplugged.Load() }

// deliver hands a packet transmitted elsewhere to this VNIC's stack and
// reports whether a stack was attached to receive it.
//
// The receiving stack gets a fresh PacketBuffer over the sender's bytes:
// ToBuffer shares the payload chunks (reference-counted, no byte copy) but
// none of the sender's per-packet state (parsed headers, GSO options,
// conntrack tuple, owner). The stack takes its own references to whatever it
// keeps (a TCP segment in a receive queue), so the buffer is released here
// as soon as DeliverNetworkPacket returns; the sender's packet is untouched.
func (v *VNIC) deliver(pkt *stack.PacketBuffer) bool {
	return v.deliverBuffer(pkt.ToBuffer())
}

// deliverBuffer is deliver for a frame given as a buffer, which it takes
// ownership of (released whether or not a stack received it).
func (v *VNIC) deliverBuffer(buf buffer.Buffer) bool {
	d := v.disp.Load()
	if d == nil {
		buf.Release()
		return false
	}
	in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buf})
	d.d.DeliverNetworkPacket(header.IPv4ProtocolNumber, in)
	in.DecRef()
	return true
}

// WritePackets implements stack.LinkWriter. The caller keeps its reference
// to every packet: nothing here retains one beyond the call.
func (v *VNIC) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := pkts.Len()
	out := v.out.Load()
	if out == nil {
		v.unplugged.Add(uint64(n))
		return n, nil
	}
	for _, pkt := range pkts.AsSlice() {
		out.w.transmit(pkt)
	}
	return n, nil
}

// MTU implements stack.LinkEndpoint.
func (v *VNIC) MTU() uint32 { return v.mtu.Load() }

// SetMTU implements stack.LinkEndpoint.
func (v *VNIC) SetMTU(mtu uint32) { v.mtu.Store(mtu) }

// MaxHeaderLength implements stack.LinkEndpoint: raw IP, no link header.
func (*VNIC) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint: raw IP has no link address.
func (*VNIC) LinkAddress() tcpip.LinkAddress { return "" }

// SetLinkAddress implements stack.LinkEndpoint; raw IP ignores it.
func (*VNIC) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint.
func (v *VNIC) Capabilities() stack.LinkEndpointCapabilities {
	if v.offload {
		return stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload
	}
	return stack.CapabilityNone
}

// GSOMaxSize implements stack.GSOEndpoint.
func (v *VNIC) GSOMaxSize() uint32 {
	if v.offload {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint.
func (v *VNIC) SupportedGSO() stack.SupportedGSO {
	if v.offload {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

// Attach implements stack.LinkEndpoint. A nil dispatcher (the NIC is being
// removed) stops delivery.
func (v *VNIC) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		v.disp.Store(nil)
		return
	}
	v.disp.Store(&dispatcherRef{d: d})
}

// IsAttached implements stack.LinkEndpoint.
func (v *VNIC) IsAttached() bool { return v.disp.Load() != nil }

// Wait implements stack.LinkEndpoint: a VNIC owns no goroutine.
func (*VNIC) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (*VNIC) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint: there is no link header.
func (*VNIC) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint: there is no link header.
func (*VNIC) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.LinkEndpoint. The stack calls it when it removes
// the NIC; the VNIC stops receiving and is unplugged from its wire (a fabric
// Port stays attached until it is detached, but no longer reaches a stack).
func (v *VNIC) Close() {
	v.closeMu.Lock()
	action := v.closeAction
	v.closeAction = nil
	v.closeMu.Unlock()
	if action != nil {
		action()
	}
	v.disp.Store(nil)
	v.unplug()
}

// SetOnCloseAction implements stack.LinkEndpoint.
func (v *VNIC) SetOnCloseAction(action func()) {
	v.closeMu.Lock()
	v.closeAction = action
	v.closeMu.Unlock()
}

var (
	_ stack.LinkEndpoint = (*VNIC)(nil)
	_ stack.GSOEndpoint  = (*VNIC)(nil)
)
