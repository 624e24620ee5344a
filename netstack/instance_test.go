package netstack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func serve(t *testing.T, inst *Instance, spec ServiceSpec) {
	t.Helper()
	if err := inst.Serve(spec); err != nil {
		t.Fatal(err)
	}
}

func TestTCPEcho(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("echo through the fabric "), 10000) // several segments
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echoed bytes differ")
	}
	if la := c.LocalAddr().String(); !strings.HasPrefix(la, "10.0.0.2:") {
		t.Errorf("LocalAddr = %s, want 10.0.0.2:*", la)
	}
	ps := fab.Port(srv.Addr()).Stats()
	if ps.RxFrames == 0 || ps.TxFrames == 0 {
		t.Errorf("server port stats %+v: want frames both ways", ps)
	}
}

func TestUDPEcho(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7, Protocol: "udp"})

	c, err := cli.Dial(ctxTimeout(t, time.Second), "udp", netip.MustParseAddrPort("10.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, size := range []int{1, 1000, 4000} { // 4000: fragmented at MTU 1500
		msg := bytes.Repeat([]byte{byte(size)}, size)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 8192)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("size %d: got %d bytes back", size, n)
		}
	}
}

func TestUDPListenPacket(t *testing.T) {
	fab := newFabric(t, nil)
	a := newInstance(t, fab, "a", "10.0.0.1")
	b := newInstance(t, fab, "b", "10.0.0.2")
	pc, err := a.ListenPacket(5000)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := b.Dial(ctxTimeout(t, time.Second), "udp", netip.MustParseAddrPort("10.0.0.1:5000"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "hi" || !strings.HasPrefix(from.String(), "10.0.0.2:") {
		t.Errorf("got %q from %v", buf[:n], from)
	}
}

func TestPing(t *testing.T) {
	fab := newFabric(t, nil)
	a := newInstance(t, fab, "a", "10.0.0.1")
	newInstance(t, fab, "b", "10.0.0.2")
	for seq := uint16(1); seq <= 3; seq++ {
		rtt, err := a.Ping(ctxTimeout(t, 5*time.Second), netip.MustParseAddr("10.0.0.2"), seq)
		if err != nil {
			t.Fatal(err)
		}
		if rtt <= 0 {
			t.Errorf("rtt = %v", rtt)
		}
	}
	// The instance's own address is answered inside the stack.
	if _, err := a.Ping(ctxTimeout(t, 5*time.Second), a.Addr(), 1); err != nil {
		t.Errorf("ping self: %v", err)
	}
}

func TestDialClosedPortRefused(t *testing.T) {
	fab := newFabric(t, nil)
	newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	_, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:81"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial closed port: %v, want connection refused", err)
	}
}

func TestUDPClosedPortRefused(t *testing.T) {
	fab := newFabric(t, nil)
	newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	c, err := cli.Dial(ctxTimeout(t, time.Second), "udp", netip.MustParseAddrPort("10.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x")) // answered by ICMP port unreachable
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 8))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("read after ICMP port unreachable: %v, want connection refused", err)
	}
}

func TestInstanceCloseEndsConnections(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7, Protocol: "udp"})
	serve(t, srv, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	var conns []net.Conn
	for _, port := range []uint16{7, 80} {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(srv.Addr(), port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// A client blocked reading from each connection.
	done := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			_, err := c.Read(make([]byte, 1))
			done <- err
		}()
	}
	srv.Close() // waits for the service goroutines (goleak checks the rest)
	for range conns {
		select {
		case err := <-done:
			if err == nil {
				t.Error("read succeeded after the server closed")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("client still blocked after the server closed")
		}
	}
	if fab.Port(srv.Addr()) != nil {
		t.Error("closed instance still attached")
	}
}
