package netstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/curve25519"
	wgconn "golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/vpclab/vpclab/firewall"
)

// Error codes of VPN gateway changes (ours).
const (
	ErrVPNGatewayExists  = "InvalidVpnGatewayId.AlreadyExists"
	ErrVPNClientCIDR     = "InvalidClientCidr.Overlapped"
	ErrVPNPeerAddress    = "InvalidVpnPeerAddress"
	ErrVPNListen         = "InvalidVpnListen"
	vpnDefaultMTU        = 1420 // wg-quick's default tunnel MTU
	vpnQueueLen          = 256  // frames waiting for WireGuard to encrypt
	vpnBufSize           = 2048 // a frame buffer: an MTU-sized frame fits
	vpnSpoofedLogPrefix4 = "IPv4 packet with disallowed source address"
	vpnSpoofedLogPrefix6 = "IPv6 packet with disallowed source address"
)

// VPNPeerSpec is a WireGuard peer allowed to join through a VPN gateway.
type VPNPeerSpec struct {
	Name      string
	PublicKey [32]byte
	Addr      netip.Addr // its VPN address, inside the gateway's client CIDR
}

// VPNGatewaySpec describes a VPN gateway.
type VPNGatewaySpec struct {
	Name       string
	VSwitch    string
	Listen     netip.AddrPort // UDP address WireGuard listens on
	ClientCIDR netip.Prefix
	PrivateKey [32]byte
	Peers      []VPNPeerSpec
	MTU        int // tunnel MTU; 0: 1420
	// Offline attaches the peers without starting WireGuard (no socket):
	// for explanations and probes from a stand-in (VPNProbe), beside a
	// running lab that holds the listen address.
	Offline bool
}

// VPNGateway is a WireGuard endpoint through which peers join the VPC. Each
// peer is an endpoint of the fabric at its VPN address: what it sends enters
// the VPC as its frames (the receiving instance's ingress rules decide, with
// the peer's address as the remote side), and what instances send to its
// address leaves through the tunnel. WireGuard itself answers only peers
// whose key is configured and drops any packet whose source is not the
// sending peer's address (its allowed IPs), which the gateway counts.
type VPNGateway struct {
	name    string
	vpc     *VPC
	dev     *device.Device
	tun     *vpnTUN
	bind    *loopBind
	peers   []*endpoint
	byAddr  map[uint32]*endpoint
	spoofed atomic.Uint64
	closed  sync.Once
}

// VPNStats are a VPN gateway's counters.
type VPNStats struct {
	// Spoofed counts packets from a peer whose source was not the peer's
	// VPN address, dropped by WireGuard's allowed-IPs check.
	Spoofed uint64
	// QueueDrops counts frames for a peer dropped because the gateway was
	// closing.
	QueueDrops uint64
}

// AddVPNGateway starts a VPN gateway: a WireGuard device listening on
// spec.Listen, with one fabric endpoint per peer.
func (v *VPC) AddVPNGateway(spec VPNGatewaySpec) (*VPNGateway, error) {
	cc := spec.ClientCIDR.Masked()
	switch {
	case !cc.IsValid() || !cc.Addr().Is4():
		return nil, vpcErr(ErrInvalidCIDR, "vpn gateway %s: client CIDR %v is not an IPv4 prefix", spec.Name, spec.ClientCIDR)
	case cc.Overlaps(v.cidr):
		return nil, vpcErr(ErrVPNClientCIDR, "vpn gateway %s: client CIDR %v overlaps the VPC CIDR %v", spec.Name, cc, v.cidr)
	case !spec.Listen.IsValid() || !spec.Listen.Addr().IsLoopback():
		return nil, vpcErr(ErrVPNListen, "vpn gateway %s: listen %v is not a loopback address and port", spec.Name, spec.Listen)
	}
	mtu := spec.MTU
	if mtu == 0 {
		mtu = vpnDefaultMTU
	}
	gw := &VPNGateway{name: spec.Name, vpc: v, byAddr: map[uint32]*endpoint{}}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil, vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	if _, dup := v.vpns[spec.Name]; dup || spec.Name == "" {
		v.mu.Unlock()
		return nil, vpcErr(ErrVPNGatewayExists, "vpn gateway %q exists or has no name", spec.Name)
	}
	vsw := v.vswitches[spec.VSwitch]
	if vsw == nil {
		v.mu.Unlock()
		return nil, vpcErr(ErrVSwitchNotFound, "vpn gateway %s: no vswitch %q", spec.Name, spec.VSwitch)
	}
	for _, p := range spec.Peers {
		a := p.Addr.Unmap()
		if !a.Is4() || !cc.Contains(a) {
			gw.detach()
			v.mu.Unlock()
			return nil, vpcErr(ErrVPNPeerAddress, "vpn gateway %s: peer %s: address %v is not inside the client CIDR %v", spec.Name, p.Name, p.Addr, cc)
		}
		if _, taken := v.endpoints[p.Name]; taken {
			gw.detach()
			v.mu.Unlock()
			return nil, vpcErr(ErrInstanceExists, "vpn gateway %s: peer name %q is taken", spec.Name, p.Name)
		}
		key, _ := firewall.AddrToU32(a)
		ep := &endpoint{name: p.Name, kind: OwnerVPNPeer, vsw: vsw, addr: key, vpnProbeSlot: make(chan struct{}, 1)}
		nic := NewVNIC(uint32(mtu), true)
		nic.Attach(&vpnDispatcher{gw: gw, ep: ep})
		port, err := v.fab.Attach(nic, a, ep)
		if err != nil {
			gw.detach()
			v.mu.Unlock()
			return nil, vpcErr(ErrVPNPeerAddress, "vpn gateway %s: peer %s: %v", spec.Name, p.Name, err)
		}
		ep.port = port
		gw.peers = append(gw.peers, ep)
		gw.byAddr[key] = ep
	}
	v.vpns[spec.Name] = gw
	v.mu.Unlock()

	gw.tun = newVPNTUN(spec.Name, mtu, gw)
	gw.bind = &loopBind{listen: spec.Listen}
	if spec.Offline {
		return gw, nil
	}
	// WireGuard names a peer in its log by an abbreviation of its key.
	byKey := map[string][]*endpoint{}
	for i, p := range spec.Peers {
		k := wgAbbrev(p.PublicKey)
		byKey[k] = append(byKey[k], gw.peers[i])
	}
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) {
			if strings.HasPrefix(format, vpnSpoofedLogPrefix4) || strings.HasPrefix(format, vpnSpoofedLogPrefix6) {
				var eps []*endpoint
				if len(args) > 0 {
					eps = byKey[fmt.Sprint(args[0])]
				}
				var ep *endpoint
				if len(eps) == 1 {
					ep = eps[0]
				}
				gw.dropSpoofed(ep, nil)
			}
		},
		Errorf: func(string, ...any) {},
	}
	gw.dev = device.NewDevice(gw.tun, gw.bind, logger)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "private_key=%s\n", hex.EncodeToString(spec.PrivateKey[:]))
	for _, p := range spec.Peers {
		// A gateway of one peer routes every IPv4 address to it, so that
		// WireGuard hands over what the peer sends from any source and
		// fromPeer, which knows the claimed source, drops a spoofed one.
		// With several peers each owns its address: WireGuard's own check
		// drops a packet from another source, before vpclab sees it.
		allowed := p.Addr.Unmap().String() + "/32"
		if len(spec.Peers) == 1 {
			allowed = "0.0.0.0/0"
		}
		fmt.Fprintf(&cfg, "public_key=%s\nallowed_ip=%s\n", hex.EncodeToString(p.PublicKey[:]), allowed)
	}
	err := gw.dev.IpcSet(cfg.String())
	if err == nil {
		err = gw.dev.Up()
	}
	if err != nil {
		gw.Close()
		return nil, vpcErr(ErrVPNListen, "vpn gateway %s: %v", spec.Name, err)
	}
	return gw, nil
}

// VPNGateway returns the named VPN gateway, or nil.
func (v *VPC) VPNGateway(name string) *VPNGateway {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.vpns[name]
}

// vpnPeerLocked finds a VPN peer's endpoint by name; v.mu is held.
func (v *VPC) vpnPeerLocked(name string) (*endpoint, bool) {
	for _, g := range v.vpns {
		for _, ep := range g.peers {
			if ep.name == name {
				return ep, true
			}
		}
	}
	return nil, false
}

// VPNProbe returns a stack that stands in for VPN peer name at the
// gateway, for probes (vpclab test, probe): what it sends enters the VPC
// exactly as the peer's decrypted packets do (the same fabric port, route
// and rules), and what the VPC sends to the peer's address reaches it
// instead of the tunnel until release is called. Only the WireGuard
// encryption is skipped. One probe stack per peer exists at a time; a
// second call waits for the first's release or ctx.
func (v *VPC) VPNProbe(ctx context.Context, name string) (inst *Instance, release func(), err error) {
	v.mu.Lock()
	ep, ok := v.vpnPeerLocked(name)
	v.mu.Unlock()
	if !ok {
		return nil, nil, vpcErr(ErrInstanceNotFound, "no VPN peer %q", name)
	}
	select {
	case ep.vpnProbeSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	inst, err = NewInstance(Config{Name: name, Addr: u32Addr(ep.addr), MTU: ep.port.nic.MTU()})
	if err != nil {
		<-ep.vpnProbeSlot
		return nil, nil, err
	}
	inst.nic.plug(ep.port)
	ep.vpnProbe.Store(inst)
	return inst, func() {
		ep.vpnProbe.Store(nil)
		inst.nic.unplug() // or Close would detach the peer's port
		inst.Close()
		<-ep.vpnProbeSlot
	}, nil
}

// Name returns the gateway's name.
func (g *VPNGateway) Name() string { return g.name }

// Addr returns the UDP address WireGuard listens on (with the actual port).
func (g *VPNGateway) Addr() netip.AddrPort { return g.bind.addr() }

// Stats returns the gateway's counters.
func (g *VPNGateway) Stats() VPNStats {
	return VPNStats{Spoofed: g.spoofed.Load(), QueueDrops: g.tun.dropped.Load()}
}

// Close stops the WireGuard device (every goroutine it started) and
// detaches the peers from the fabric.
func (g *VPNGateway) Close() error {
	g.closed.Do(func() {
		if g.dev != nil {
			g.dev.Close()
		} else {
			g.tun.Close()
		}
		v := g.vpc
		v.mu.Lock()
		if v.vpns[g.name] == g {
			delete(v.vpns, g.name)
		}
		g.detach()
		v.mu.Unlock()
	})
	return nil
}

// detach takes the peers off the fabric.
func (g *VPNGateway) detach() {
	for _, ep := range g.peers {
		g.vpc.fab.detach(ep.port)
		ep.port.nic.Attach(nil)
	}
}

// fromPeer carries one packet WireGuard decrypted into the VPC, as a frame
// the peer that owns its source address transmits.
func (g *VPNGateway) fromPeer(b []byte) {
	if len(b) < header.IPv4MinimumSize || b[0]>>4 != 4 {
		g.spoofed.Add(1) // IPv6 or garbage: no peer has such a source
		return
	}
	ep := g.byAddr[binary.BigEndian.Uint32(b[12:16])]
	if ep == nil {
		// Only a gateway of one peer lets WireGuard pass another source.
		var from *endpoint
		if len(g.peers) == 1 {
			from = g.peers[0]
		}
		g.dropSpoofed(from, b)
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	ep.port.transmit(pkt)
	pkt.DecRef()
}

// dropSpoofed counts a packet from peer ep (nil: not known) whose source
// is not ep's address and, if anyone subscribes, publishes a
// SOURCE_SPOOFED drop event naming the gateway, the peer and, when ip (the
// packet) is known, the claimed source and the destination.
func (g *VPNGateway) dropSpoofed(ep *endpoint, ip []byte) {
	g.spoofed.Add(1)
	vd := firewall.Verdict{Code: firewall.SourceSpoofed, Entry: -1}
	if ep != nil {
		ep.drops[vd.Code].Add(1)
	}
	v := g.vpc
	captured := ep != nil && ip != nil && v.captures(ep)
	if !captured && !v.drops.active() {
		return
	}
	ev := DropEvent{Time: time.Now(), Verdict: vd, Explanation: firewall.Explain(vd)}
	var h firewall.Header
	peer := "an unknown peer"
	if ep != nil {
		ev.From = ep.name
		peer = fmt.Sprintf("peer %s (%s)", ep.name, u32Addr(ep.addr))
	}
	if ip != nil {
		firewall.Parse(ip, &h)
		ev.Flow = h.Tuple
		if name, kind := v.owner(h.Dst); kind != OwnerNone {
			ev.To = name
		} else {
			ev.To = u32Addr(h.Dst).String()
		}
		ev.Explanation.Step = fmt.Sprintf("vpn gateway %s: %s sent a packet with source %s; only its own address may be a source",
			g.name, peer, u32Addr(h.Src))
	} else {
		ev.Explanation.Step = fmt.Sprintf("vpn gateway %s: %s sent a packet whose source is not its address; "+
			"WireGuard's allowed-IPs check dropped it, so the claimed source is not known", g.name, peer)
	}
	v.drops.publish(&ev)
	if captured {
		v.captureDrop(ep, ip, len(ip), &ev)
	}
}

// wgAbbrev is how wireguard-go's log names a peer: peer(abcd…wxyz), the
// first 4 and characters 39..42 of its key in base64.
func wgAbbrev(pub [32]byte) string {
	k := base64.StdEncoding.EncodeToString(pub[:])
	return "peer(" + k[0:4] + "…" + k[39:43] + ")"
}

// vpnDispatcher receives what the fabric delivers to a peer's address and
// queues it for WireGuard.
type vpnDispatcher struct {
	gw *VPNGateway
	ep *endpoint
}

func (d *vpnDispatcher) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	if pr := d.ep.vpnProbe.Load(); pr != nil {
		switch probeOwns(pr, pkt) {
		case probeOnly:
			pr.nic.deliver(pkt)
			return
		case probeToo:
			pr.nic.deliver(pkt)
		}
	}
	t := d.gw.tun
	size := pkt.Size()
	b := t.get(size)
	buf := pkt.ToBuffer()
	n, _ := buf.ReadAt(b, 0)
	buf.Release()
	t.toPeer(b[:n])
	t.put(b)
}

const (
	probeNot = iota
	probeOnly
	probeToo
)

// probeOwns says where a frame for a peer goes while a probe stack stands
// in for it: a TCP or UDP frame of a connection the probe stack has goes
// to it alone, one of any other connection to the real peer alone (so
// neither side resets the other's connections); ICMP goes to both, which
// ignore what they did not ask for.
func probeOwns(pr *Instance, pkt *stack.PacketBuffer) int {
	ip, scratch := frameHeaders(pkt)
	defer releaseScratch(scratch)
	if len(ip) < header.IPv4MinimumSize {
		return probeNot
	}
	ihl := int(ip[0]&0x0f) * 4
	proto := tcpip.TransportProtocolNumber(ip[9])
	switch {
	case proto == header.ICMPv4ProtocolNumber:
		return probeToo
	case proto != header.TCPProtocolNumber && proto != header.UDPProtocolNumber,
		binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0, len(ip) < ihl+4:
		return probeNot
	}
	id := stack.TransportEndpointID{
		LocalAddress:  tcpip.AddrFrom4Slice(ip[16:20]),
		LocalPort:     binary.BigEndian.Uint16(ip[ihl+2:]),
		RemoteAddress: tcpip.AddrFrom4Slice(ip[12:16]),
		RemotePort:    binary.BigEndian.Uint16(ip[ihl:]),
	}
	if pr.stack.FindTransportEndpoint(header.IPv4ProtocolNumber, proto, id, nicID) != nil {
		return probeOnly
	}
	return probeNot
}

func (*vpnDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// vpnTUN is the TUN side of the gateway's WireGuard device: Read hands
// WireGuard the frames instances send to peers, Write takes the packets
// peers send.
type vpnTUN struct {
	name    string
	mtu     int
	gw      *VPNGateway
	out     chan []byte
	done    chan struct{}
	events  chan tun.Event
	once    sync.Once
	free    chan []byte
	dropped atomic.Uint64
}

func newVPNTUN(name string, mtu int, gw *VPNGateway) *vpnTUN {
	t := &vpnTUN{name: name, mtu: mtu, gw: gw, out: make(chan []byte, vpnQueueLen),
		done: make(chan struct{}), events: make(chan tun.Event, 1), free: make(chan []byte, 2*vpnQueueLen)}
	t.events <- tun.EventUp
	return t
}

// get returns a buffer of n bytes, from the free list when one is big
// enough; put returns it. A channel rather than a sync.Pool: putting a slice
// into a Pool allocates its header.
func (t *vpnTUN) get(n int) []byte {
	select {
	case b := <-t.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]byte, n, max(n, vpnBufSize))
}

func (t *vpnTUN) put(b []byte) {
	if cap(b) > 0xffff {
		return
	}
	select {
	case t.free <- b[:0]:
	default:
	}
}

// toPeer queues frame p (which it does not keep) for WireGuard: a TCP
// super-segment (host GSO) is cut to the tunnel MTU, and every checksum the
// VPC's offload left partial is filled in, since the peer is a real host.
// It blocks while WireGuard is behind, as a VNIC does.
func (t *vpnTUN) toPeer(p []byte) {
	if len(p) < header.IPv4MinimumSize {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	frag := binary.BigEndian.Uint16(p[6:8])&0x3fff != 0
	if len(p) <= t.mtu || p[9] != uint8(header.TCPProtocolNumber) || frag || len(p) < ihl+header.TCPMinimumSize {
		b := t.get(len(p))
		copy(b, p)
		fillChecksums(b)
		t.queue(b)
		return
	}
	thl := int(p[ihl+12]>>4) * 4
	hl := ihl + thl
	if thl < header.TCPMinimumSize || hl >= len(p) || hl >= t.mtu {
		return
	}
	payload := p[hl:]
	mss := t.mtu - hl
	seq := binary.BigEndian.Uint32(p[ihl+4:])
	id := binary.BigEndian.Uint16(p[4:6])
	flags := p[ihl+13]
	for off := 0; off < len(payload); off += mss {
		end := min(off+mss, len(payload))
		b := t.get(hl + end - off)
		copy(b, p[:hl])
		copy(b[hl:], payload[off:end])
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		binary.BigEndian.PutUint16(b[4:6], id)
		id++
		binary.BigEndian.PutUint32(b[ihl+4:], seq+uint32(off))
		if end < len(payload) {
			b[ihl+13] = flags &^ (uint8(header.TCPFlagFin) | uint8(header.TCPFlagPsh))
		}
		fillChecksums(b)
		t.queue(b)
	}
}

// fillChecksums computes the IPv4 header checksum and, for an unfragmented
// TCP or UDP packet, the transport checksum.
func fillChecksums(b []byte) {
	ihl := int(b[0]&0x0f) * 4
	if ihl < header.IPv4MinimumSize || len(b) < ihl {
		return
	}
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], ^checksum.Checksum(b[:ihl], 0))
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return
	}
	var at int
	switch tcpip.TransportProtocolNumber(b[9]) {
	case header.TCPProtocolNumber:
		at = 16
	case header.UDPProtocolNumber:
		at = 6
	default:
		return
	}
	seg := b[ihl:]
	if len(seg) < at+2 {
		return
	}
	seg[at], seg[at+1] = 0, 0
	pseudo := header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(b[9]),
		tcpip.AddrFrom4Slice(b[12:16]), tcpip.AddrFrom4Slice(b[16:20]), uint16(len(seg)))
	sum := ^checksum.Checksum(seg, pseudo)
	if sum == 0 && b[9] == uint8(header.UDPProtocolNumber) {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[at:], sum)
}

func (t *vpnTUN) queue(b []byte) {
	select {
	case t.out <- b:
	case <-t.done:
		t.dropped.Add(1)
		t.put(b)
	}
}

// File implements tun.Device: there is no file.
func (*vpnTUN) File() *os.File { return nil }

// Read implements tun.Device.
func (t *vpnTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var b []byte
	select {
	case b = <-t.out:
	case <-t.done:
		return 0, os.ErrClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n][offset:], b)
		t.put(b)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case b = <-t.out:
		default:
			return n, nil
		}
	}
}

// Write implements tun.Device: each packet enters the VPC.
func (t *vpnTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		t.gw.fromPeer(b[offset:])
	}
	return len(bufs), nil
}

// MTU implements tun.Device.
func (t *vpnTUN) MTU() (int, error) { return t.mtu, nil }

// Name implements tun.Device.
func (t *vpnTUN) Name() (string, error) { return "vpn-" + t.name, nil }

// Events implements tun.Device.
func (t *vpnTUN) Events() <-chan tun.Event { return t.events }

// BatchSize implements tun.Device.
func (*vpnTUN) BatchSize() int { return 16 }

// Close implements tun.Device.
func (t *vpnTUN) Close() error {
	t.once.Do(func() {
		close(t.done)
		close(t.events)
	})
	return nil
}

// loopBind is WireGuard's UDP side, on one host address (wireguard-go's
// own binds listen on every address).
type loopBind struct {
	listen netip.AddrPort
	mu     sync.Mutex
	conn   *net.UDPConn
	bound  netip.AddrPort
}

func (b *loopBind) addr() netip.AddrPort {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bound
}

// Open implements conn.Bind; it listens on the configured address (port
// comes from there, not from WireGuard's listen_port).
func (b *loopBind) Open(uint16) ([]wgconn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return nil, 0, wgconn.ErrBindAlreadyOpen
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(b.listen))
	if err != nil {
		return nil, 0, err
	}
	b.conn = c
	b.bound = c.LocalAddr().(*net.UDPAddr).AddrPort()
	// WireGuard runs one goroutine per receive function, so last needs
	// no lock: it spares an endpoint allocation per datagram from the same
	// peer address.
	var last *wgconn.StdNetEndpoint
	recv := func(packets [][]byte, sizes []int, eps []wgconn.Endpoint) (int, error) {
		n, ap, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if last == nil || last.AddrPort != ap {
			last = &wgconn.StdNetEndpoint{AddrPort: ap}
		}
		sizes[0] = n
		eps[0] = last
		return 1, nil
	}
	return []wgconn.ReceiveFunc{recv}, b.bound.Port(), nil
}

// Close implements conn.Bind.
func (b *loopBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.conn = nil
	return err
}

// SetMark implements conn.Bind.
func (*loopBind) SetMark(uint32) error { return nil }

// Send implements conn.Bind.
func (b *loopBind) Send(bufs [][]byte, ep wgconn.Endpoint) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	se, ok := ep.(*wgconn.StdNetEndpoint)
	if !ok {
		return errors.New("vpn: foreign endpoint")
	}
	for _, p := range bufs {
		if _, err := c.WriteToUDPAddrPort(p, se.AddrPort); err != nil {
			return err
		}
	}
	return nil
}

// ParseEndpoint implements conn.Bind.
func (*loopBind) ParseEndpoint(s string) (wgconn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &wgconn.StdNetEndpoint{AddrPort: ap}, nil
}

// BatchSize implements conn.Bind.
func (*loopBind) BatchSize() int { return 1 }

var (
	_ tun.Device              = (*vpnTUN)(nil)
	_ wgconn.Bind             = (*loopBind)(nil)
	_ stack.NetworkDispatcher = (*vpnDispatcher)(nil)
)

// NewVPNKey returns a new WireGuard private key (a clamped Curve25519
// scalar, as wg genkey makes it) and its public key.
func NewVPNKey() (priv, pub [32]byte, err error) {
	if _, err = rand.Read(priv[:]); err != nil {
		return priv, pub, err
	}
	priv[0] &= 248
	priv[31] = priv[31]&127 | 64
	pub, err = VPNPublicKey(priv)
	return priv, pub, err
}

// VPNPublicKey returns the public key of a WireGuard private key.
func VPNPublicKey(priv [32]byte) ([32]byte, error) {
	var pub [32]byte
	b, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return pub, err
	}
	copy(pub[:], b)
	return pub, nil
}
