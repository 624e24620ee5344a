package topology

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// listener is one exposed port's host listener and its counters.
type listener struct {
	ln       net.Listener   // a TCP port's
	udp      *udpPort       // a UDP port's
	port     *ExposedPort   // in Exposure.Ports
	private  netip.AddrPort // the instance's private address and port, as drop events carry it
	counters portCounters
	overCap  bool // the last connection was refused over the cap (accept's goroutine only)
}

// close closes the host socket, which ends the port's goroutine.
func (l *listener) close() {
	if l.ln != nil {
		l.ln.Close()
	}
	if l.udp != nil {
		l.udp.pc.Close()
	}
}

// acceptLogEvery spaces the log lines of failed accepts: a process out of
// descriptors fails an accept every time one is freed and taken again.
const acceptLogEvery = 10 * time.Second

// Backoff of the accept loop after a failed accept, as net/http's
// Server.Serve: 5 ms, doubling, at most 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// accept serves one exposed port until the Exposure closes. A failed
// accept never ends it: out of file descriptors (EMFILE, ENFILE), out of
// buffers, or a connection's pending network error that Linux reports
// through accept(2) (whose manual says to retry), the loop waits and
// retries, so the port serves again as soon as the condition passes. Only
// the listener's close ends it.
func (x *Exposure) accept(l *listener) {
	defer x.wg.Done()
	var retry hostRetry
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if !retry.failed(x, l, "accept", err) {
				return
			}
			continue
		}
		retry.delay = 0
		l.counters.accepted.Add(1)
		if x.maxConns > 0 && l.counters.active.Load() >= x.maxConns {
			l.counters.refusedOverCap.Add(1)
			if !l.overCap {
				x.log.Warn("expose: connection cap reached; resetting new connections", "listen", l.port.Listen,
					"instance", l.port.Instance, "port", l.port.Port, "max_conns_per_port", x.maxConns)
			}
			l.overCap = true
			resetNow(c)
			continue
		}
		l.overCap = false
		l.counters.active.Add(1) // only this goroutine adds: the cap is never overshot
		if !x.track(c) {
			l.counters.active.Add(-1)
			return
		}
		x.wg.Add(1)
		go x.forward(c, l)
	}
}

// resetNow closes a host connection with a TCP RST (SO_LINGER 0): the
// client's next read or write fails with "connection reset by peer" (its
// connect does, when the reset arrives before the client looked). It
// costs the process nothing beyond the accept: no goroutine, no dial.
func resetNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// hostRetry paces the retries of a host socket's failed accepts or reads.
type hostRetry struct {
	delay    time.Duration // the last backoff; 0 after a success
	logged   time.Time     // the last failure logged
	unlogged uint64        // failures since
}

// failed handles one failed accept or read (what) of l's host socket: it
// reports false when the socket or the Exposure is closing; else it counts
// the failure, logs it (at most every acceptLogEvery) and waits a backoff
// of 5 ms doubling to 1 s, as net/http's Server.Serve does, before the
// caller tries again.
func (r *hostRetry) failed(x *Exposure, l *listener, what string, err error) bool {
	if x.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	l.counters.acceptErrors.Add(1)
	if r.unlogged++; time.Since(r.logged) >= acceptLogEvery {
		x.log.Error("expose: "+what+" failed; retrying with backoff", "listen", l.port.Listen,
			"instance", l.port.Instance, "port", l.port.Port, "failures", r.unlogged, "err", err)
		r.logged, r.unlogged = time.Now(), 0
	}
	r.delay = min(max(2*r.delay, acceptBackoffMin), acceptBackoffMax)
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-x.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
