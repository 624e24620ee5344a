package netstack

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// tcpEndpoints counts the instance's registered TCP endpoints in state (all
// of them if state is 0).
func tcpEndpoints(i *Instance, state tcp.EndpointState) int {
	n := 0
	for _, e := range i.stack.RegisteredEndpoints() {
		if ep, ok := e.(*tcp.Endpoint); ok && (state == 0 || ep.EndpointState() == state) {
			n++
		}
	}
	return n
}

// waitEndpoints waits up to within for the instance to have want TCP
// endpoints in state and reports the last count.
func waitEndpoints(i *Instance, state tcp.EndpointState, want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := tcpEndpoints(i, state)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTimeWaitIsShort: connections an instance closed first leave
// TIME-WAIT, and the stack, after TCPTimeWait instead of gVisor's 60 s, so
// that closed connections do not pin memory for a minute.
func TestTimeWaitIsShort(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})

	const n = 100
	for range n {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		c.Close() // the client closes first: its side goes to TIME-WAIT
	}
	if got := waitEndpoints(cli, tcp.StateTimeWait, n, 2*time.Second); got < n/2 {
		t.Fatalf("%d of %d closed connections in TIME-WAIT, want most: the test did not reach TIME-WAIT", got, n)
	}
	start := time.Now()
	if got := waitEndpoints(cli, 0, 0, TCPTimeWait+3*time.Second); got != 0 {
		t.Fatalf("%d TCP endpoints still registered %v after the connections closed, want 0 within TCPTimeWait (%v)",
			got, time.Since(start).Round(time.Millisecond), TCPTimeWait)
	}
	if got := tcpEndpoints(srv, 0); got != 1 {
		t.Errorf("server has %d TCP endpoints, want only its listener", got)
	}
}

// TestFinWait2IsBounded: a connection the instance closed while the peer
// keeps its side open leaves FIN-WAIT-2 after tcpFinWait2.
func TestFinWait2IsBounded(t *testing.T) {
	defer func(d time.Duration) { tcpFinWait2 = d }(tcpFinWait2)
	tcpFinWait2 = 200 * time.Millisecond

	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	l, err := srv.Listen(9)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close() // held open, never closed during the test
	c.Close()
	if got := waitEndpoints(cli, tcp.StateFinWait2, 1, 2*time.Second); got != 1 {
		t.Fatalf("%d connections in FIN-WAIT-2, want 1", got)
	}
	if got := waitEndpoints(cli, 0, 0, 3*time.Second); got != 0 {
		t.Fatalf("%d TCP endpoints still registered 3 s after close, want 0 (FIN-WAIT-2 timeout %v)", got, tcpFinWait2)
	}
}
