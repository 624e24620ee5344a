package netstack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
)

// tcpFlagsOf returns the TCP flags and payload length of a frame, or ok
// false if it is not an unfragmented TCP segment.
func tcpFlagsOf(buf buffer.Buffer) (flags byte, payload int, ok bool) {
	b := buf.Flatten()
	if len(b) < 20 || b[9] != 6 {
		return 0, 0, false
	}
	ihl := int(b[0]&0x0f) * 4
	if len(b) < ihl+20 {
		return 0, 0, false
	}
	doff := int(b[ihl+12]>>4) * 4
	return b[ihl+13], len(b) - ihl - doff, true
}

// TestInstanceCloseDuringHandshake reproduces the race behind the rare
// failure of TestInstanceCloseEndsConnections: the client's Dial returns
// as soon as its stack is ESTABLISHED, which is before its handshake ACK
// has reached the server. The fabric holds that ACK until the server is
// closing; a Close that aborted the server's SYN-RCVD endpoint right away
// ended it without a RST, and the ACK, released later, found no stack: the
// client stayed ESTABLISHED for good.
func TestInstanceCloseDuringHandshake(t *testing.T) {
	fab := NewFabric(nil)
	defer fab.Close()
	type held struct {
		dst  *Port
		buf  buffer.Buffer
		size int
	}
	heldc := make(chan held, 1)
	var holding atomic.Bool
	holding.Store(true)
	srvAddr := netip.MustParseAddr("10.0.0.1")
	fab.fault = func(src, dst *Port, buf buffer.Buffer, size int) bool {
		if dst == nil || dst.Addr() != srvAddr {
			return false
		}
		if flags, n, ok := tcpFlagsOf(buf); !ok || flags != 0x10 || n != 0 {
			return false // hold the first pure ACK: the handshake's last
		}
		if !holding.CompareAndSwap(true, false) {
			return false
		}
		heldc <- held{dst, buf, size}
		return true
	}
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(srvAddr, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := <-heldc

	// Release the ACK once the server is closing: when its port is gone,
	// or 20 ms into Close if Close waits for the handshake.
	var wg sync.WaitGroup
	wg.Go(func() {
		for !srv.isClosed() {
			time.Sleep(100 * time.Microsecond)
		}
		for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline) && fab.Port(srvAddr) != nil; {
			time.Sleep(100 * time.Microsecond)
		}
		fab.deliverNow(h.dst, h.buf, h.size)
	})
	srv.Close()
	wg.Wait()

	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read succeeded after the server closed")
	}
	if isTimeout(err) {
		t.Fatal("client still connected 3 s after the server closed: no RST reached it")
	}
}
