package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// nicID is the ID of an instance's only NIC.
const nicID tcpip.NICID = 1

// Config describes an instance.
type Config struct {
	Name string     // answered by the http service
	Addr netip.Addr // private IPv4 address
	MTU  uint32     // 0: DefaultMTU
	// NoOffload turns off checksum offload and GSO on the VNIC: every
	// frame is at most MTU bytes and carries full checksums.
	NoOffload bool
}

// Instance is a VPC instance: a gVisor stack (IPv4 with ICMP, TCP with SACK,
// UDP; no iptables) with one VNIC, one private address and a default route
// through the VNIC. It starts unplugged: attach its NIC to a Fabric (or Pipe
// it to another VNIC) for it to reach anything.
type Instance struct {
	name  string
	addr  netip.Addr
	stack *stack.Stack
	nic   *VNIC

	mu       sync.Mutex
	closed   bool
	services []io.Closer    // listeners and packet conns of running services
	wg       sync.WaitGroup // service goroutines
	allTCP   *catchAll      // the catch-all TCP service (Port AllPorts), if any
	allUDP   *catchAll      // the catch-all UDP service, if any
}

// NewInstance builds an instance's stack and VNIC. NewInstances builds
// many faster.
func NewInstance(cfg Config) (*Instance, error) {
	insts, err := newInstances([]Config{cfg}, nil)
	if err != nil {
		return nil, err
	}
	return insts[0], nil
}

func (i *Instance) configure() error {
	s := i.stack
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fmt.Errorf("enable SACK: %w", stackError(err))
	}
	recovery := tcpRecovery
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &recovery); err != nil {
		return fmt.Errorf("set TCP recovery: %w", stackError(err))
	}
	timeWait := tcpip.TCPTimeWaitTimeoutOption(TCPTimeWait)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &timeWait); err != nil {
		return fmt.Errorf("set TCP TIME-WAIT: %w", stackError(err))
	}
	linger := tcpip.TCPLingerTimeoutOption(tcpFinWait2)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &linger); err != nil {
		return fmt.Errorf("set TCP FIN-WAIT-2 timeout: %w", stackError(err))
	}
	// ICMP errors are never rate-limited: gVisor, like Linux, sends at most
	// 1,000 a second in bursts of 50 per stack, so of a burst of UDP probes
	// to a closed port the later ones got no port unreachable and timed out
	// as a block. A scenario's answer must not depend on how many probes
	// share the moment.
	s.SetICMPLimit(rate.Inf)
	if err := s.CreateNICWithOptions(nicID, i.nic, stack.NICOptions{Name: "eth0"}); err != nil {
		return fmt.Errorf("create NIC: %w", stackError(err))
	}
	addr := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(i.addr.As4()), PrefixLen: 32},
	}
	if err := s.AddProtocolAddress(nicID, addr, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("add address %v: %w", i.addr, stackError(err))
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	return nil
}

// tcpRecovery is the TCP loss detection of every instance: RACK off, classic
// duplicate-ACK/SACK recovery. The fabric never reorders and loses frames
// only when the filter drops them. Measured with BenchmarkBulkTCP, RACK gave
// the same throughput but about one spurious retransmission per 2.5 GiB
// sent, RACK off one per 30 GiB (RACK's spurious retransmits in-process:
// tailscale#9707, gvisor#9778).
var tcpRecovery = tcpip.TCPRecovery(0)

// TCPTimeWait is how long an instance's TCP connection stays in TIME-WAIT
// after it closed first (Linux and gVisor: 60 s). TIME-WAIT keeps the
// connection's endpoint (about 8 KiB of heap on the closing side; ~45 KiB
// per closed connection through an exposed port, both stacks counted) so
// that a delayed segment of it cannot corrupt a new connection on the same
// ports and a lost final ACK can be sent again. Between instances a frame
// is never queued or delayed (it crosses the fabric in the sender's call),
// so no old segment arrives late; a final ACK the firewall drops is
// answered when the peer retransmits its FIN, after one RTO (200 ms
// minimum), well inside a second. 60 s pinned ~2.6 GiB at 1,000 closed
// proxied connections per second.
// FreeBSD skips TIME-WAIT for local peers altogether
// (net.inet.tcp.nolocaltimewait); vpclab keeps a short one. With 1 s, a
// client instance runs out of ephemeral ports towards one server only
// beyond ~49,500 connections per second (ports 16000–65535), so gVisor's TIME-WAIT port reuse
// stays at its default (loopback only).
const TCPTimeWait = time.Second

// TCPFinWait2 is how long an instance's TCP connection that was closed
// while the peer keeps its side open waits in FIN-WAIT-2 for the peer's
// FIN before it is dropped (Linux tcp_fin_timeout and gVisor: 60 s). It
// applies only to connections the application has closed, not to a
// half-close (CloseWrite), and is above BannerHold, so a banner still
// closes its side in time.
const TCPFinWait2 = 15 * time.Second

// tcpFinWait2 is TCPFinWait2; tests shorten it. NewInstance reads it.
var tcpFinWait2 = TCPFinWait2

// Name returns the instance's name.
func (i *Instance) Name() string { return i.name }

// Addr returns the instance's private address.
func (i *Instance) Addr() netip.Addr { return i.addr }

// NIC returns the instance's VNIC, to attach to a Fabric.
func (i *Instance) NIC() *VNIC { return i.nic }

// Stack returns the instance's gVisor stack, for baselines that configure
// gVisor itself (its iptables, in bench). vpclab never changes it after
// NewInstance. Its iptables are an empty set that was never enabled:
// install others whole (SetIPTables with stack.DefaultTables), do not
// edit these (see stackOptions).
func (i *Instance) Stack() *stack.Stack { return i.stack }

// Dial connects to addr over "tcp" or "udp" (a connected UDP socket). A
// refused TCP connection (RST) fails with an error matching
// syscall.ECONNREFUSED; one that gets no answer fails when ctx ends.
func (i *Instance) Dial(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("instance %s: dial %s %v: not an IPv4 address", i.name, network, addr)
	}
	remote := fullAddr(addr)
	switch network {
	case "tcp", "tcp4":
		c, err := i.dialTCP(ctx, remote)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Source: net.TCPAddrFromAddrPort(netip.AddrPortFrom(i.addr, 0)), Addr: net.TCPAddrFromAddrPort(addr), Err: err}
		}
		return c, nil
	case "udp", "udp4":
		c, err := gonet.DialUDP(i.stack, nil, &remote, ipv4.ProtocolNumber)
		if err != nil {
			return nil, fmt.Errorf("instance %s: dial udp %v: %w", i.name, addr, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("instance %s: dial %v: unknown network %q", i.name, addr, network)
}

// dialTCP is gonet.DialContextTCP with the connect error converted to an
// errno instead of a string.
func (i *Instance) dialTCP(ctx context.Context, remote tcpip.FullAddress) (net.Conn, error) {
	wq := new(waiter.Queue)
	ep, terr := i.stack.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, stackError(terr)
	}
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)

	terr = ep.Connect(remote)
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, ctx.Err()
		case <-notify:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, stackError(terr)
	}
	return gonet.NewTCPConn(wq, ep), nil
}

// Listen accepts TCP connections on port (any local address).
func (i *Instance) Listen(port uint16) (net.Listener, error) {
	l, err := gonet.ListenTCP(i.stack, tcpip.FullAddress{Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("instance %s: listen tcp :%d: %w", i.name, port, err)
	}
	return l, nil
}

// ListenPacket receives UDP datagrams on port (any local address).
func (i *Instance) ListenPacket(port uint16) (net.PacketConn, error) {
	c, err := gonet.DialUDP(i.stack, &tcpip.FullAddress{Port: port}, nil, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("instance %s: listen udp :%d: %w", i.name, port, err)
	}
	return c, nil
}

// Listening reports whether a new connection to the instance's address on
// proto ("tcp", "udp" or "icmp") and port would find a socket: a TCP
// listener or a bound UDP socket, whether a service or a caller opened it,
// or a catch-all service of proto (every port). When it is false the stack
// answers with a TCP RST or an ICMP port unreachable. ICMP echo requests
// are always answered; other protocols never are.
func (i *Instance) Listening(proto string, port uint16) bool {
	var tp tcpip.TransportProtocolNumber
	var all *catchAll
	i.mu.Lock()
	switch proto {
	case "tcp":
		tp, all = tcp.ProtocolNumber, i.allTCP
	case "udp":
		tp, all = udp.ProtocolNumber, i.allUDP
	}
	i.mu.Unlock()
	if all.covers() {
		return true
	}
	switch proto {
	case "tcp", "udp":
	case "icmp":
		return true
	default:
		return false
	}
	// The stack's own demultiplexer: a remote-less id matches exactly the
	// sockets a new flow from anywhere would reach.
	id := stack.TransportEndpointID{LocalPort: port, LocalAddress: tcpip.AddrFrom4(i.addr.As4())}
	return i.stack.FindTransportEndpoint(ipv4.ProtocolNumber, tp, id, nicID) != nil
}

// Close stops the instance: its services, every connection and the stack's
// goroutines. Its VNIC is unplugged from the fabric or pipe. Close waits for
// all of it and is idempotent.
//
// Every connection the peer holds open gets a RST, including one whose
// handshake was completing as Close began (see settleHandshakes); a
// handshake still unanswered after HandshakeSettle is dropped without one,
// as a vanished machine's would be.
func (i *Instance) Close() error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	services := i.services
	i.services = nil
	i.mu.Unlock()

	i.settleHandshakes(HandshakeSettle)
	for _, c := range services {
		c.Close()
	}
	i.stack.Close() // aborts every endpoint and wakes gonet waiters
	if out := i.nic.out.Load(); out != nil {
		if p, ok := out.w.(*Port); ok {
			p.Detach()
		}
	}
	i.nic.unplug()
	i.wg.Wait()    // service goroutines have seen their endpoints die
	i.stack.Wait() // TCP processors end; the NIC is removed (VNIC.Close)
	return nil
}

// HandshakeSettle bounds how long Close waits for the instance's
// half-open TCP connections (SYN-RCVD: the SYN-ACK sent, no ACK yet) to
// complete before it aborts them. A peer's Dial returns when its stack is
// ESTABLISHED, a moment before its ACK reaches this stack: aborting in that
// moment sends nothing (gVisor, like Linux, sends no RST for a connection
// in SYN-RCVD; it has no acknowledged sequence number a peer would accept),
// the ACK then finds no stack, and the peer's connection hangs for good.
// Once ESTABLISHED, the abort sends a RST the peer accepts. In-process the
// ACK arrives within microseconds; the bound is for a peer that never
// sends it (its ACK dropped, a SYN flood), where Close then waits this
// long once.
const HandshakeSettle = 250 * time.Millisecond

// settleHandshakes waits until none of the TCP endpoints that are in
// SYN-RCVD now still is, or until limit has passed. Connections the stack
// accepts meanwhile are not waited for: a peer connecting while the
// instance closes races the Close, as it would against a VM shutting down.
func (i *Instance) settleHandshakes(limit time.Duration) {
	var halfOpen []*tcp.Endpoint
	for _, e := range i.stack.RegisteredEndpoints() {
		if ep, ok := e.(*tcp.Endpoint); ok && ep.EndpointState() == tcp.StateSynRecv {
			halfOpen = append(halfOpen, ep)
		}
	}
	if len(halfOpen) == 0 {
		return
	}
	deadline := time.Now().Add(limit)
	poll := 50 * time.Microsecond
	for {
		halfOpen = slices.DeleteFunc(halfOpen, func(ep *tcp.Endpoint) bool {
			return ep.EndpointState() != tcp.StateSynRecv
		})
		if len(halfOpen) == 0 || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(poll)
		poll = min(2*poll, 5*time.Millisecond)
	}
}

func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(ap.Addr().As4()), Port: ap.Port()}
}
