package netstack

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// AllPorts as a ServiceSpec's Port starts a catch-all service: it answers
// on every port of its protocol that has no listener or bound socket of its
// own. A specific listener or service always wins over it.
const AllPorts uint16 = 0

// CatchAllMaxInFlight bounds the TCP handshakes a catch-all service
// completes at once (SYNs received, handshake not yet done); a SYN beyond
// it is ignored, as a full listen backlog ignores it, and the client
// retransmits. Established connections are not bounded, as with a
// listener.
const CatchAllMaxInFlight = 1024

// CatchAllMaxUDPFlows bounds the UDP flows (one per remote address and
// port) a catch-all service answers at once; a datagram that would open
// one more is dropped without an ICMP error, as a full socket buffer
// drops it.
const CatchAllMaxUDPFlows = 1024

// CatchAllUDPIdle is how long a catch-all UDP flow lives without a
// datagram from its remote end; the next datagram opens a new flow.
const CatchAllUDPIdle = 60 * time.Second

// catchAllUDPIdle is CatchAllUDPIdle; tests shorten it.
var catchAllUDPIdle = CatchAllUDPIdle

// catchAll is a running catch-all service of one protocol: the stack's
// default transport handler for it, which sees exactly the packets no
// endpoint took. It is one of the instance's services: Close stops it
// before the stack closes, and every goroutine it starts counts in the
// instance's wait group, added under mu while the service is open.
type catchAll struct {
	inst   *Instance
	proto  string // "tcp" or "udp"
	handle func(c net.Conn, port uint16)
	answer func(b []byte, port uint16) []byte

	fwd *tcp.Forwarder
	// offered counts the SYNs and first datagrams the service was offered
	// (tests: a port the firewall blocks never gets here).
	offered atomic.Uint64

	mu     sync.Mutex
	closed bool
	// inFlight mirrors the forwarder's own set of handshakes (both change
	// only under mu), so that the handler knows whether HandlePacket
	// started a goroutine and counts it.
	inFlight map[stack.TransportEndpointID]struct{}
	// starting holds handshakes between the closed check and the return of
	// CreateEndpoint; Close waits until each is registered with the stack,
	// so that the stack's Close aborts it.
	starting map[stack.TransportEndpointID]struct{}
	flows    map[stack.TransportEndpointID]*gonet.UDPConn
}

// serveAll starts the catch-all service of spec (Port == AllPorts).
func (i *Instance) serveAll(spec ServiceSpec, proto string) error {
	ca := &catchAll{inst: i, proto: proto}
	switch {
	case spec.Kind == ServiceHTTP && proto == "tcp":
		ca.handle = func(c net.Conn, _ uint16) { i.serveHTTP(c) }
	case spec.Kind == ServiceEcho && proto == "tcp":
		ca.handle = func(c net.Conn, _ uint16) { serveEcho(c) }
	case spec.Kind == ServiceEcho && proto == "udp":
		ca.answer = func(b []byte, _ uint16) []byte { return b }
	case spec.Kind == ServiceBanner && proto == "tcp":
		hold := bannerHold
		ca.handle = func(c net.Conn, port uint16) {
			serveBanner(c, bannerBytes(i.name, ServiceSpec{Port: port, Text: spec.Text}), hold)
		}
	case spec.Kind == ServiceBanner && proto == "udp":
		ca.answer = catchAllBannerAnswer(i.name, spec.Text)
	default:
		return fmt.Errorf("instance %s: serve %s/%s on all ports: unsupported service", i.name, spec.Kind, proto)
	}

	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return fmt.Errorf("instance %s: serve %s on all ports: instance closed", i.name, spec.Kind)
	}
	var tp tcpip.TransportProtocolNumber
	switch proto {
	case "tcp":
		if i.allTCP != nil {
			return fmt.Errorf("instance %s: serve %s/tcp on all ports: a catch-all tcp service already runs", i.name, spec.Kind)
		}
		tp = tcp.ProtocolNumber
		ca.inFlight = make(map[stack.TransportEndpointID]struct{})
		ca.starting = make(map[stack.TransportEndpointID]struct{})
		ca.fwd = tcp.NewForwarder(i.stack, 0, CatchAllMaxInFlight, ca.handshake)
		i.allTCP = ca
	case "udp":
		if i.allUDP != nil {
			return fmt.Errorf("instance %s: serve %s/udp on all ports: a catch-all udp service already runs", i.name, spec.Kind)
		}
		tp = udp.ProtocolNumber
		ca.flows = make(map[stack.TransportEndpointID]*gonet.UDPConn)
		i.allUDP = ca
	}
	i.services = append(i.services, ca)
	if proto == "tcp" {
		i.stack.SetTransportProtocolHandler(tp, ca.handleTCP)
	} else {
		i.stack.SetTransportProtocolHandler(tp, ca.handleUDP)
	}
	return nil
}

// catchAllBannerAnswer returns the UDP banner answer for each port, built
// once per port on first use.
func catchAllBannerAnswer(instance, text string) func([]byte, uint16) []byte {
	var mu sync.Mutex
	byPort := make(map[uint16][]byte)
	return func(_ []byte, port uint16) []byte {
		mu.Lock()
		defer mu.Unlock()
		b, ok := byPort[port]
		if !ok {
			b = bannerBytes(instance, ServiceSpec{Port: port, Text: text})
			if len(byPort) < 4096 {
				byPort[port] = b
			}
		}
		return b
	}
}

// covers reports whether the catch-all answers new flows.
func (ca *catchAll) covers() bool {
	if ca == nil {
		return false
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return !ca.closed
}

// handleTCP is the stack's TCP default handler: it sees the segments no
// endpoint took. A SYN to the instance's own address goes to the
// forwarder; everything else returns false, and the stack answers as it
// would without the service (a RST).
func (ca *catchAll) handleTCP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	h := header.TCP(pkt.TransportHeader().Slice())
	if len(h) < header.TCPMinimumSize || h.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) != header.TCPFlagSyn {
		return false
	}
	if id.LocalAddress != tcpip.AddrFrom4(ca.inst.addr.As4()) {
		return false
	}
	ca.offered.Add(1)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.closed {
		return false
	}
	_, dup := ca.inFlight[id]
	full := len(ca.inFlight) >= CatchAllMaxInFlight
	if !ca.fwd.HandlePacket(id, pkt) || dup || full {
		return true // ignored by the forwarder: a retransmitted SYN, or the backlog is full
	}
	// HandlePacket started a goroutine running ca.handshake.
	ca.inFlight[id] = struct{}{}
	ca.inst.wg.Add(1)
	return true
}

// handshake runs in the goroutine the forwarder starts for a SYN: it
// completes the handshake and then serves the connection.
func (ca *catchAll) handshake(r *tcp.ForwarderRequest) {
	defer ca.inst.wg.Done()
	id := r.ID()
	ca.mu.Lock()
	if ca.closed {
		ca.completeLocked(r, id, false)
		ca.mu.Unlock()
		return
	}
	ca.starting[id] = struct{}{}
	ca.mu.Unlock()

	var wq waiter.Queue
	ep, err := r.CreateEndpoint(&wq)

	ca.mu.Lock()
	delete(ca.starting, id)
	ca.completeLocked(r, id, err != nil && !ca.closed)
	ca.mu.Unlock()
	if err != nil {
		return
	}
	c := gonet.NewTCPConn(&wq, ep)
	defer c.Close()
	ca.handle(c, id.LocalPort)
}

// completeLocked ends a forwarder request and its mirror entry together.
// The reset, a RST segment, never reaches handleTCP, so holding mu while
// it is sent cannot deadlock.
func (ca *catchAll) completeLocked(r *tcp.ForwarderRequest, id stack.TransportEndpointID, reset bool) {
	r.Complete(reset)
	delete(ca.inFlight, id)
}

// handleUDP is the stack's UDP default handler: a datagram no socket took
// opens a flow, a connected endpoint for its remote address and port that
// then receives the flow's datagrams itself. The request is built over
// the borrowed packet (udp.NewForwarderRequest): udp.Forwarder.HandlePacket
// clones the packet and never releases the clone.
func (ca *catchAll) handleUDP(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	if id.LocalAddress != tcpip.AddrFrom4(ca.inst.addr.As4()) {
		return false
	}
	ca.offered.Add(1)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.closed {
		return false
	}
	if len(ca.flows) >= CatchAllMaxUDPFlows {
		return true // dropped, without an ICMP error
	}
	var wq waiter.Queue
	ep, err := udp.NewForwarderRequest(ca.inst.stack, id, pkt).CreateEndpoint(&wq)
	if err != nil {
		return false
	}
	c := gonet.NewUDPConn(&wq, ep)
	ca.flows[id] = c
	ca.inst.wg.Add(1)
	go ca.flow(id, c)
	return true
}

// flow answers one UDP flow until it is idle for catchAllUDPIdle or the
// service closes.
func (ca *catchAll) flow(id stack.TransportEndpointID, c *gonet.UDPConn) {
	defer ca.inst.wg.Done()
	defer func() {
		ca.mu.Lock()
		if ca.flows[id] == c {
			delete(ca.flows, id)
		}
		ca.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	failed := 0
	for {
		c.SetReadDeadline(time.Now().Add(catchAllUDPIdle))
		n, err := c.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return
			}
			// An ICMP error about an earlier answer reads as one error;
			// an endpoint that fails every read is dead.
			if failed++; failed > 3 || ca.isClosed() {
				return
			}
			continue
		}
		failed = 0
		c.Write(ca.answer(buf[:n], id.LocalPort))
	}
}

func (ca *catchAll) isClosed() bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.closed
}

// Close stops the service taking new flows; its connections end with the
// stack's Close, which comes next. UDP flows are closed now. Close waits
// (at most HandshakeSettle) until every handshake that passed the closed
// check is registered with the stack, so that the stack's Close aborts it
// rather than leaving it to time out.
func (ca *catchAll) Close() error {
	ca.mu.Lock()
	if ca.closed {
		ca.mu.Unlock()
		return nil
	}
	ca.closed = true
	flows := make([]*gonet.UDPConn, 0, len(ca.flows))
	for _, c := range ca.flows {
		flows = append(flows, c)
	}
	ca.mu.Unlock()
	for _, c := range flows {
		c.Close()
	}
	if ca.proto != "tcp" {
		return nil
	}
	deadline := time.Now().Add(HandshakeSettle)
	for {
		ca.mu.Lock()
		pending := false
		for id := range ca.starting {
			if ca.inst.stack.FindTransportEndpoint(ipv4.ProtocolNumber, tcp.ProtocolNumber, id, nicID) == nil {
				pending = true
				break
			}
		}
		ca.mu.Unlock()
		if !pending || !time.Now().Before(deadline) {
			return nil
		}
		time.Sleep(50 * time.Microsecond)
	}
}
