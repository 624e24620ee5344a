package topology

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// forward dials the instance through the data plane for one host
// connection and copies bytes both ways until both directions end.
func (x *Exposure) forward(host net.Conn, l *listener) {
	defer x.wg.Done()
	defer l.counters.active.Add(-1)
	defer x.untrack(host)
	p := l.port

	ctx, cancel := context.WithTimeout(x.ctx, x.timeout)
	pd := &pendingDial{dst: l.private, start: time.Now(), cancel: cancel}
	x.mu.Lock()
	x.pending[pd] = struct{}{}
	x.mu.Unlock()
	vc, err := x.client.Dial(ctx, "tcp", p.Target)
	x.mu.Lock()
	delete(x.pending, pd)
	ev := pd.event
	x.mu.Unlock()
	cancel()
	if err != nil {
		defer refuse(host)
		switch {
		case ev != nil:
			l.counters.blockedByGroups.Add(1)
			x.log.Warn("expose: blocked", "listen", p.Listen, "instance", p.Instance, "port", p.Port,
				"from", p.Client, "why", ev.Explanation.String())
		case x.ctx.Err() != nil:
		default:
			l.counters.dialFailed.Add(1)
			x.log.Warn("expose: dial failed", "listen", p.Listen, "instance", p.Instance, "port", p.Port,
				"target", p.Target, "from", p.Client, "err", err)
		}
		return
	}
	if !x.track(vc) {
		return
	}
	defer x.untrack(vc)

	pr := &proxy{host: host, vc: vc, idle: x.idle, start: time.Now()}
	if pr.run() {
		l.counters.idleClosed.Add(1)
		x.log.Debug("expose: idle connection closed", "listen", p.Listen, "instance", p.Instance,
			"port", p.Port, "idle_timeout", x.idle)
	}
}

// Each direction copies through a buffer of copyBufferSize, and moves to
// one of bulkBufferSize the first time a read fills it: a bulk transfer
// then makes a quarter of the syscalls and gVisor writes per byte (through
// an exposed echo, 16 KiB buffers carried 36% of loopback's throughput and
// 64 KiB ones 62%: bench/RESULTS.md), while an interactive or idle
// connection, whose goroutines hold their buffers while they wait, keeps
// the small ones.
const (
	copyBufferSize = 16 << 10
	bulkBufferSize = 64 << 10
)

// copyBuffers and bulkBuffers hold the copy buffers of finished
// connections.
var (
	copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}
	bulkBuffers = sync.Pool{New: func() any { b := make([]byte, bulkBufferSize); return &b }}
)

// proxy copies bytes between a host connection and its connection through
// the data plane.
//
// A direction that ends with a clean EOF half-closes the other side, so the
// peer sees EOF while the other direction goes on (a client may send its
// request, shut down writing and read the reply). A direction that ends in
// an error — a reset, a write to a peer that left, a closed connection, the
// idle timeout — closes both connections: the other direction may be
// blocked writing to a peer that will never read again, and only a close
// ends that write.
//
// Idleness: each direction arms its source's read deadline and its
// destination's write deadline at the time of the last byte moved in
// either direction plus the idle timeout. When one passes, the direction
// looks at that time: a byte moved since re-arms the deadlines, else the
// connection is idle and closed. Moving bytes only stores a time (no
// allocation, no timer reset per read); a deadline is set once per idle
// period at most. A write that progresses slowly counts as activity when
// it returns, so a peer that stops reading is closed within twice the
// idle timeout.
type proxy struct {
	host, vc net.Conn
	idle     time.Duration // 0: none
	start    time.Time
	last     atomic.Int64 // the last byte moved, as nanoseconds since start
	idled    atomic.Bool  // a direction ended on the idle timeout
}

// run copies until both directions end, and reports whether the
// connection was closed for idleness.
func (p *proxy) run() (idle bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.end(p.vc, p.pipe(p.vc, p.host))
	}()
	p.end(p.host, p.pipe(p.host, p.vc))
	<-done
	return p.idled.Load()
}

// end finishes one direction that copied into dst: a clean end (nil)
// half-closes dst, an error closes both connections.
func (p *proxy) end(dst net.Conn, err error) {
	if err == nil {
		closeWrite(dst)
		return
	}
	if isTimeout(err) {
		p.idled.Store(true)
	}
	p.host.Close()
	p.vc.Close()
}

// pipe copies src into dst until src's clean EOF (nil) or an error.
func (p *proxy) pipe(dst, src net.Conn) error {
	bp, pool := copyBuffers.Get().(*[]byte), &copyBuffers
	defer func() { pool.Put(bp) }()
	buf := *bp
	if p.idle > 0 {
		deadline := p.start.Add(p.idle)
		src.SetReadDeadline(deadline)
		dst.SetWriteDeadline(deadline)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			p.touch()
			if err := p.write(dst, src, buf[:n]); err != nil {
				return err
			}
			if n == len(buf) && pool == &copyBuffers {
				copyBuffers.Put(bp)
				bp, pool = bulkBuffers.Get().(*[]byte), &bulkBuffers
				buf = *bp
			}
		}
		switch {
		case rerr == nil:
		case rerr == io.EOF:
			return nil
		case isTimeout(rerr) && p.rearm(dst, src):
		default:
			return rerr
		}
	}
}

// write writes b to dst whole, riding out deadlines while the connection
// is not idle.
func (p *proxy) write(dst, src net.Conn, b []byte) error {
	for len(b) > 0 {
		n, err := dst.Write(b)
		b = b[n:]
		if n > 0 {
			p.touch()
		}
		if err != nil && !(isTimeout(err) && p.rearm(dst, src)) {
			return err
		}
	}
	return nil
}

// touch records that a byte moved now.
func (p *proxy) touch() {
	if p.idle > 0 {
		p.last.Store(int64(time.Since(p.start)))
	}
}

// rearm is called when a deadline of the direction src → dst passed. When
// a byte moved within the idle timeout, it moves the direction's deadlines
// to the idle timeout after that byte and reports true; else the
// connection is idle.
func (p *proxy) rearm(dst, src net.Conn) bool {
	if p.idle <= 0 {
		return false
	}
	last := time.Duration(p.last.Load())
	if time.Since(p.start)-last >= p.idle {
		return false
	}
	deadline := p.start.Add(last + p.idle)
	src.SetReadDeadline(deadline)
	dst.SetWriteDeadline(deadline)
	return true
}

// isTimeout reports whether err is a passed deadline (of the host's
// net.TCPConn or of gVisor's gonet connection).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeWrite half-closes c when it can, so the peer sees EOF while the
// other direction goes on; else it closes c.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
