package topology

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/vpclab/vpclab/netstack"
)

// maxDatagram is the largest UDP payload IPv4 carries.
const maxDatagram = 65507

// datagramBuffers holds the receive buffers of ended UDP flows.
var datagramBuffers = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// refusedText is how gonet words the error a connected UDP socket reads
// after the peer answered ICMP port unreachable (gonet passes gVisor's
// errors on as text).
var refusedText = (&tcpip.ErrConnectionRefused{}).String()

// udpPort is the host socket of an exposed UDP port and the flows of its
// clients.
type udpPort struct {
	pc *net.UDPConn

	mu    sync.Mutex
	flows map[netip.AddrPort]*udpFlow // by host client address

	overCap bool // the last new client was refused over the cap (serveUDP only)
}

// udpFlow is one host client's flow: a UDP socket of the host client in
// the VPC, connected to the instance's EIP and port.
type udpFlow struct {
	l      *listener
	client netip.AddrPort // the host client's address
	vc     net.Conn       // the flow's socket in the VPC
	src    uint16         // vc's port, as drop events carry it
	start  time.Time
	last   atomic.Int64 // the last datagram either way, as nanoseconds since start
	logged atomic.Bool  // a blocked datagram of the flow was logged
}

// touch records that a datagram moved now.
func (f *udpFlow) touch() { f.last.Store(int64(time.Since(f.start))) }

func listenUDP(addr netip.AddrPort) (*udpPort, error) {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	return &udpPort{pc: pc, flows: map[netip.AddrPort]*udpFlow{}}, nil
}

// serveUDP forwards the datagrams host clients send to an exposed UDP port,
// each into its client's flow, until the Exposure closes. It alone opens
// flows, so a client never gets two.
func (x *Exposure) serveUDP(l *listener) {
	defer x.wg.Done()
	buf := make([]byte, maxDatagram)
	var retry hostRetry
	for {
		n, from, err := l.udp.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			// Out of buffers, or an ICMP error Linux reports on the
			// socket: the next read goes on, after a backoff should it
			// repeat at once.
			if !retry.failed(x, l, "udp read", err) {
				return
			}
			continue
		}
		retry.delay = 0
		f := x.udpFlowOf(l, from)
		if f == nil {
			continue
		}
		_, err = f.vc.Write(buf[:n])
		if err != nil && isUDPRefused(err) {
			// An earlier datagram was answered port unreachable, and this
			// write picked the error up instead of sending (gonet's read
			// wakes on data only, so the flow's reader never sees it).
			// The error is the earlier datagram's: send this one.
			l.counters.datagramsRefused.Add(1)
			_, err = f.vc.Write(buf[:n])
		}
		if err == nil {
			l.counters.datagramsIn.Add(1)
		}
	}
}

// udpFlowOf returns the flow of a host client, opening one when it has
// none; nil when the port is at its cap or the flow cannot be opened (the
// datagram is then dropped, and counted).
func (x *Exposure) udpFlowOf(l *listener, client netip.AddrPort) *udpFlow {
	u := l.udp
	u.mu.Lock()
	f := u.flows[client]
	if f != nil {
		f.touch() // under u.mu: udpExpire sees it
		u.mu.Unlock()
		return f
	}
	u.mu.Unlock()
	if x.maxConns > 0 && l.counters.active.Load() >= x.maxConns {
		l.counters.datagramsOverCap.Add(1)
		if !u.overCap {
			x.log.Warn("expose: udp flow cap reached; dropping datagrams of new clients", "listen", l.port.Listen,
				"instance", l.port.Instance, "port", l.port.Port, "max_conns_per_port", x.maxConns)
		}
		u.overCap = true
		return nil
	}
	u.overCap = false
	vc, err := x.client.Dial(x.ctx, "udp", l.port.Target)
	if err != nil {
		if x.ctx.Err() == nil {
			l.counters.dialFailed.Add(1)
			x.log.Warn("expose: udp flow failed", "listen", l.port.Listen, "instance", l.port.Instance,
				"port", l.port.Port, "target", l.port.Target, "from", l.port.Client, "err", err)
		}
		return nil
	}
	if !x.track(vc) {
		return nil
	}
	f = &udpFlow{l: l, client: client, vc: vc, start: time.Now()}
	if a, ok := vc.LocalAddr().(*net.UDPAddr); ok {
		f.src = uint16(a.Port)
	}
	l.counters.accepted.Add(1)
	l.counters.active.Add(1) // only this goroutine adds: the cap is never overshot
	x.mu.Lock()
	x.udpSrc[f.src] = f
	x.mu.Unlock()
	u.mu.Lock()
	u.flows[client] = f
	u.mu.Unlock()
	x.wg.Add(1)
	go x.udpReturn(f)
	return f
}

// udpReturn forwards the datagrams the instance sends back on a flow to its
// host client, until the flow is idle for the UDP idle timeout or the
// Exposure closes.
func (x *Exposure) udpReturn(f *udpFlow) {
	defer x.wg.Done()
	defer x.endFlow(f)
	l := f.l
	bp := datagramBuffers.Get().(*[]byte)
	defer datagramBuffers.Put(bp)
	buf := *bp
	if x.udpIdle > 0 {
		f.vc.SetReadDeadline(f.start.Add(x.udpIdle))
	}
	for {
		n, err := f.vc.Read(buf)
		switch {
		case err == nil:
			f.touch()
			if _, err := l.udp.pc.WriteToUDPAddrPort(buf[:n], f.client); err == nil {
				l.counters.datagramsOut.Add(1)
			}
		case isTimeout(err):
			if x.udpExpire(f) {
				l.counters.idleClosed.Add(1)
				x.log.Debug("expose: idle udp flow ended", "listen", l.port.Listen, "instance", l.port.Instance,
					"port", l.port.Port, "client", f.client, "idle_timeout", x.udpIdle)
				return
			}
		case x.ctx.Err() == nil && isUDPRefused(err):
			l.counters.datagramsRefused.Add(1)
		default: // closed
			return
		}
	}
}

// udpExpire is called when a flow's read deadline passed: it removes the
// flow from its port and reports true when no datagram moved for the idle
// timeout, else moves the deadline to the idle timeout after the last one.
// It decides under the port's lock, where serveUDP touches a flow it
// found, so a datagram is never written to a flow that has just expired.
func (x *Exposure) udpExpire(f *udpFlow) bool {
	u := f.l.udp
	u.mu.Lock()
	defer u.mu.Unlock()
	last := time.Duration(f.last.Load())
	if time.Since(f.start)-last >= x.udpIdle {
		if u.flows[f.client] == f {
			delete(u.flows, f.client)
		}
		return true
	}
	f.vc.SetReadDeadline(f.start.Add(last + x.udpIdle))
	return false
}

// endFlow forgets a flow and closes its socket.
func (x *Exposure) endFlow(f *udpFlow) {
	u := f.l.udp
	u.mu.Lock()
	if u.flows[f.client] == f {
		delete(u.flows, f.client)
	}
	u.mu.Unlock()
	x.mu.Lock()
	if x.udpSrc[f.src] == f {
		delete(x.udpSrc, f.src)
	}
	x.mu.Unlock()
	f.l.counters.active.Add(-1)
	x.untrack(f.vc)
}

// udpBlocked counts a datagram of f the groups dropped, and logs the first
// of each flow: a client that retries would otherwise log each retry.
func (x *Exposure) udpBlocked(f *udpFlow, ev *netstack.DropEvent) {
	f.l.counters.datagramsBlocked.Add(1)
	if f.logged.CompareAndSwap(false, true) {
		p := f.l.port
		x.log.Warn("expose: udp blocked", "listen", p.Listen, "instance", p.Instance, "port", p.Port,
			"client", f.client, "from", p.Client, "why", ev.Explanation.String())
	}
}

// isUDPRefused reports whether err is a connected UDP socket's report of an
// ICMP port unreachable.
func isUDPRefused(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Err != nil && oe.Err.Error() == refusedText
}
