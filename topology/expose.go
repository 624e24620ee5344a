package topology

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
)

// HostClientName is the name of the internet host that connections entering
// through `expose` come from, when no internet host of the file has the
// address internet.host_client (Expose adds it). When a file already names
// an instance or host so, a numeric suffix is appended.
const HostClientName = "host-client"

// ExposeOptions tune Expose.
type ExposeOptions struct {
	// Host is the host address to listen on (default 127.0.0.1).
	Host netip.Addr
	// DialTimeout bounds the connection through the data plane when no drop
	// event ends it first (default 5 s).
	DialTimeout time.Duration
	// Logger receives one line per connection that fails (default: slog's
	// default logger).
	Logger *slog.Logger
	// MaxConnsPerPort caps the connections one exposed port carries at
	// once; a host connection over the cap is reset (TCP RST) as soon as it
	// is accepted. 0 means DefaultMaxConnsPerPort; negative, no cap.
	MaxConnsPerPort int
	// IdleTimeout closes a connection on which no byte has moved in either
	// direction for that long (a write stalled by a peer that does not read
	// counts as silence). 0 means DefaultIdleTimeout; negative, never.
	IdleTimeout time.Duration
	// UDPIdleTimeout ends a UDP flow on which no datagram has moved in
	// either direction for that long. 0 means DefaultUDPIdleTimeout;
	// negative, never.
	UDPIdleTimeout time.Duration
}

// DefaultMaxConnsPerPort is the cap on concurrent connections per exposed
// port. It is above what interactive clients and common load generators
// open (wrk, hey and ab default to 10–50), and each connection costs a
// host file descriptor, two goroutines, two copy buffers and two gVisor
// endpoints whose buffers a stalled peer can fill (megabytes): the cap
// bounds what one host client can make the process hold.
const DefaultMaxConnsPerPort = 1024

// DefaultIdleTimeout is how long a connection may stay silent in both
// directions before Expose closes it. It is well above an interactive
// session's pauses between keystrokes and below the hours a forgotten
// client would hold its resources.
const DefaultIdleTimeout = 5 * time.Minute

// DefaultUDPIdleTimeout is how long a UDP flow of an exposed port may stay
// silent in both directions before it ends. UDP has no close, so a NAT
// forgets a mapping on silence alone, and sooner than a TCP connection:
// Linux's conntrack after 30 s for a flow that was never answered and 120 s
// for a stream. One minute outlives the pauses of request–response
// protocols (DNS, NTP, syslog), and a client's next datagram after it
// simply opens a new flow.
const DefaultUDPIdleTimeout = time.Minute

// ExposedPort is one host port forwarded into the VPC.
type ExposedPort struct {
	Instance string         `json:"instance"`
	Port     int            `json:"port"`      // the instance's port
	Protocol string         `json:"protocol"`  // "tcp" or "udp", of both the host port and the instance's
	Listen   netip.AddrPort `json:"listen"`    // the host address accepting connections
	Target   netip.AddrPort `json:"target"`    // the instance's EIP and port, dialled through the data plane
	Client   string         `json:"client"`    // the internet host the connections come from
	ClientIP netip.Addr     `json:"client_ip"` // its address (internet.host_client)
}

// Exposure is the set of running host listeners of a lab. Close stops them
// and every connection they carry.
type Exposure struct {
	Ports []ExposedPort

	log       *slog.Logger
	client    *netstack.Instance
	timeout   time.Duration
	maxConns  int64         // per port; 0: no cap
	idle      time.Duration // 0: no idle timeout
	udpIdle   time.Duration // UDP flows; 0: no idle timeout
	ctx       context.Context
	cancel    context.CancelFunc
	listeners []*listener // one per port, in the order of Ports
	drops     *netstack.DropSubscription
	wg        sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	pending map[*pendingDial]struct{}
	udpSrc  map[uint16]*udpFlow // UDP flows by their source port in the VPC, as drop events carry it
}

// pendingDial is a connection being dialled through the data plane; a drop
// event for its flow cancels it, so a blocked expose fails at once.
type pendingDial struct {
	dst    netip.AddrPort // the VPC-side (private) destination, as drop events carry it
	start  time.Time
	cancel context.CancelFunc
	event  *netstack.DropEvent // set under Exposure.mu
}

// PortInUseError reports a host port that could not be listened on.
type PortInUseError struct {
	Instance string
	Port     int            // the instance's port
	Protocol string         // "tcp" or "udp"
	Listen   netip.AddrPort // the host address
	Err      error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("expose %s:%d/%s: cannot listen on host %s %v: %v", e.Instance, e.Port, e.Protocol, e.Protocol, e.Listen, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// Expose listens on the host for every `expose` entry of the topology
// (127.0.0.1:host_port). Each accepted connection is dialled from the
// internet host with address internet.host_client to the instance's
// EIP:port through the data plane — security groups apply as to any
// internet traffic — and bytes are copied both ways. When that connection
// cannot be made (the groups drop it, known at once from the drop event;
// nothing listens; or DialTimeout passes) the host connection is reset
// (TCP RST) after the client's first bytes, or half a second of silence:
// every client sees "connection reset by peer", whatever it sends. When no internet host
// of the file has that address, Expose adds one named HostClientName (it
// stays until the lab closes).
//
// A clean EOF from either side is passed on as a half-close; a reset or
// any other error on either side closes both. Each port carries at most
// MaxConnsPerPort connections (one over it is reset at once) and closes
// those silent for IdleTimeout; a failed accept (EMFILE, for instance) is
// retried with a backoff, never fatal to the port. Stats counts all of it.
//
// An entry with protocol udp listens on a host UDP port instead: each host
// client address gets its own flow, a UDP socket of the host client
// connected to the instance's EIP:port, and datagrams are forwarded both
// ways. A flow silent for UDPIdleTimeout ends; a datagram from a new client
// while the port carries MaxConnsPerPort flows is dropped, and so is one the
// groups drop (counted: there is nothing to reset).
//
// If a host port cannot be listened on (it is busy), Expose closes what it
// opened and returns a *PortInUseError naming the port and the instance. A
// topology with nothing to expose yields an empty Exposure.
func (l *Lab) Expose(opts ExposeOptions) (*Exposure, error) {
	if !opts.Host.IsValid() {
		opts.Host = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.MaxConnsPerPort == 0:
		opts.MaxConnsPerPort = DefaultMaxConnsPerPort
	case opts.MaxConnsPerPort < 0:
		opts.MaxConnsPerPort = 0
	}
	switch {
	case opts.IdleTimeout == 0:
		opts.IdleTimeout = DefaultIdleTimeout
	case opts.IdleTimeout < 0:
		opts.IdleTimeout = 0
	}
	switch {
	case opts.UDPIdleTimeout == 0:
		opts.UDPIdleTimeout = DefaultUDPIdleTimeout
	case opts.UDPIdleTimeout < 0:
		opts.UDPIdleTimeout = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &Exposure{log: opts.Logger, timeout: opts.DialTimeout, ctx: ctx, cancel: cancel,
		maxConns: int64(opts.MaxConnsPerPort), idle: opts.IdleTimeout, udpIdle: opts.UDPIdleTimeout,
		conns: map[net.Conn]struct{}{}, pending: map[*pendingDial]struct{}{}, udpSrc: map[uint16]*udpFlow{}}
	t := l.Topology
	for _, in := range t.Instances {
		for _, e := range in.Expose {
			x.Ports = append(x.Ports, ExposedPort{
				Instance: in.Name, Port: e.Port, Protocol: e.Protocol,
				Listen: netip.AddrPortFrom(opts.Host, uint16(e.HostPort)),
				Target: netip.AddrPortFrom(in.EIP, uint16(e.Port)),
			})
		}
	}
	if len(x.Ports) == 0 {
		cancel()
		return x, nil
	}
	if !l.Edge() {
		// The edge shard serves every exposed port; this shard only learns
		// where the host client is.
		cancel()
		x.Ports = nil
		return x, l.remoteHostClient()
	}
	client, err := l.hostClient()
	if err != nil {
		cancel()
		return nil, err
	}
	x.client = client
	for i := range x.Ports {
		x.Ports[i].Client, x.Ports[i].ClientIP = client.Name(), client.Addr()
	}
	for i := range x.Ports {
		p := &x.Ports[i]
		if p.Protocol == "" {
			p.Protocol = "tcp" // a Topology built in Go rather than loaded
		}
		private := netip.AddrPortFrom(l.Topology.instance(p.Instance).IP, uint16(p.Port))
		ln := &listener{port: p, private: private}
		var err error
		if p.Protocol == "udp" {
			ln.udp, err = listenUDP(p.Listen)
		} else {
			ln.ln, err = net.Listen("tcp", p.Listen.String())
		}
		if err != nil {
			x.Close()
			return nil, &PortInUseError{Instance: p.Instance, Port: p.Port, Protocol: p.Protocol, Listen: p.Listen, Err: err}
		}
		x.listeners = append(x.listeners, ln)
	}
	x.drops = l.VPC.SubscribeDrops(256)
	x.wg.Add(1)
	go x.watchDrops()
	for _, ln := range x.listeners {
		x.wg.Add(1)
		if ln.udp != nil {
			go x.serveUDP(ln)
		} else {
			go x.accept(ln)
		}
	}
	return x, nil
}

// hostClient returns the internet host with address internet.host_client,
// adding it when the file has none.
func (l *Lab) hostClient() (*netstack.Instance, error) {
	t := l.Topology
	addr := t.hostClientAddr()
	for _, h := range t.Internet.Hosts {
		if h.IP == addr {
			if inst := l.VPC.Instance(h.Name); inst != nil {
				return inst, nil
			}
		}
	}
	name := l.hostClientName()
	inst, err := l.VPC.AddInternetHost(name, addr)
	if err != nil {
		return nil, fmt.Errorf("expose: internet host %s (internet.host_client %v): %w", name, addr, err)
	}
	return inst, nil
}

// hostClientAddr is the address of the host client (internet.host_client).
func (t *Topology) hostClientAddr() netip.Addr {
	if a := t.Internet.HostClient; a.IsValid() {
		return a
	}
	return netip.AddrFrom4([4]byte{198, 51, 100, 1})
}

// hostClientName is the name of the host client Expose adds: the same on
// every shard of a sharded VPC.
func (l *Lab) hostClientName() string {
	t := l.Topology
	name := HostClientName
	for n := 2; l.VPC.Instance(name) != nil || t.instance(name) != nil || t.host(name) != nil; n++ {
		name = fmt.Sprintf("%s-%d", HostClientName, n)
	}
	return name
}

// remoteHostClient makes a shard other than the edge know the host client
// the edge's Expose adds, as a proxy of it, so that instances here answer
// it; a host of the file with its address is known already.
func (l *Lab) remoteHostClient() error {
	t := l.Topology
	addr := t.hostClientAddr()
	for _, h := range t.Internet.Hosts {
		if h.IP == addr {
			return nil
		}
	}
	name := l.hostClientName()
	if err := l.VPC.AddRemoteInternetHost(name, addr, l.Shard.Peer(EdgeShard)); err != nil {
		return fmt.Errorf("expose: internet host %s (internet.host_client %v): %w", name, addr, err)
	}
	return nil
}

// Close stops the listeners, closes every connection in flight and waits
// for all goroutines of the Exposure. It is safe to call twice.
func (x *Exposure) Close() error {
	x.cancel()
	for _, ln := range x.listeners {
		ln.close()
	}
	x.mu.Lock()
	for c := range x.conns {
		c.Close()
	}
	x.mu.Unlock()
	if x.drops != nil {
		x.drops.Close()
	}
	x.wg.Wait()
	return nil
}

// watchDrops cancels the pending dials a drop event names: the client's
// TCP flow to the instance's private address and port. A dropped datagram
// of a UDP flow is counted on its exposed port.
func (x *Exposure) watchDrops() {
	defer x.wg.Done()
	for ev := range x.drops.C {
		if ev.From != x.client.Name() {
			continue
		}
		if ev.Flow.Proto == firewall.ProtoUDP {
			x.mu.Lock()
			f := x.udpSrc[ev.Flow.SrcPort]
			x.mu.Unlock()
			if f != nil && netip.AddrPortFrom(firewall.U32ToAddr(ev.Flow.Dst), ev.Flow.DstPort) == f.l.private {
				x.udpBlocked(f, &ev)
			}
			continue
		}
		if ev.Flow.Proto != firewall.ProtoTCP {
			continue
		}
		dst := netip.AddrPortFrom(firewall.U32ToAddr(ev.Flow.Dst), ev.Flow.DstPort)
		x.mu.Lock()
		for p := range x.pending {
			if p.dst == dst && !ev.Time.Before(p.start) && p.event == nil {
				p.event = &ev
				p.cancel()
			}
		}
		x.mu.Unlock()
	}
}

// track registers a connection to close on Close; it reports false (and
// closes c) when the Exposure is already closing.
func (x *Exposure) track(c net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ctx.Err() != nil {
		c.Close()
		return false
	}
	x.conns[c] = struct{}{}
	return true
}

func (x *Exposure) untrack(c net.Conn) {
	x.mu.Lock()
	delete(x.conns, c)
	x.mu.Unlock()
	c.Close()
}

// resetGrace is how long refuse waits for a silent client's first bytes.
const resetGrace = 500 * time.Millisecond

// refuse makes the coming Close of a host connection whose VPC side could
// not be dialled send a TCP RST (SO_LINGER 0), once the client has sent its
// first bytes or stayed silent for resetGrace, so that every client sees
// the same "connection reset by peer". A plain close would send a FIN to a
// client that has sent nothing yet (curl: "Empty reply from server") but a
// RST to one whose request lies unread; a reset that overtakes a client
// still completing its connect reads as "Couldn't connect" to curl.
func refuse(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(resetGrace))
	c.Read(make([]byte, 4096)) // data, EOF, the deadline or Close: all end the wait
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}
