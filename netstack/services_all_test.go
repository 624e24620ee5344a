package netstack

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/firewall"
)

// randomPorts returns n distinct ports in 1..65535, none in skip.
func randomPorts(n int, skip ...uint16) []uint16 {
	seen := make(map[uint16]bool)
	for _, p := range skip {
		seen[p] = true
	}
	var ports []uint16
	for len(ports) < n {
		p := uint16(1 + rand.IntN(65535))
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// roundTrip dials proto to to from cli, writes msg and returns what came
// back (len(want) bytes, or one datagram), within 5 s.
func roundTrip(t *testing.T, cli *Instance, proto string, to netip.AddrPort, msg string, n int) (string, error) {
	t.Helper()
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), proto, to)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	buf := make([]byte, n)
	if proto == "udp" {
		m, err := c.Read(buf)
		return string(buf[:m]), err
	}
	_, err = io.ReadFull(c, buf)
	return string(buf), err
}

func TestCatchAllTCPEchoOnRandomPorts(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts})

	ports := randomPorts(50)
	var wg sync.WaitGroup
	errs := make([]error, len(ports))
	for k, port := range ports {
		wg.Go(func() {
			msg := fmt.Sprintf("hello port %d", port)
			got, err := roundTrip(t, cli, "tcp", ap(srv.Addr(), port), msg, len(msg))
			if err == nil && got != msg {
				err = fmt.Errorf("got %q, want %q", got, msg)
			}
			errs[k] = err
		})
	}
	wg.Wait()
	for k, err := range errs {
		assert.NoError(t, err, "port %d", ports[k])
		assert.True(t, srv.Listening("tcp", ports[k]), "Listening(tcp, %d)", ports[k])
	}
	assert.False(t, srv.Listening("udp", ports[0]), "a TCP catch-all does not cover UDP")
	assert.False(t, cli.Listening("tcp", ports[0]), "the client runs no catch-all")
}

func TestCatchAllUDP(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	ban := newInstance(t, fab, "ban", "10.0.0.3")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts, Protocol: "udp"})
	serve(t, ban, ServiceSpec{Kind: ServiceBanner, Port: AllPorts, Protocol: "udp"})

	for _, port := range randomPorts(20) {
		msg := fmt.Sprintf("datagram to %d", port)
		got, err := roundTrip(t, cli, "udp", ap(srv.Addr(), port), msg, 100)
		require.NoError(t, err, "echo port %d", port)
		assert.Equal(t, msg, got, "echo port %d", port)
		assert.True(t, srv.Listening("udp", port))
		assert.False(t, srv.Listening("tcp", port), "a UDP catch-all does not cover TCP")
	}
	for port, want := range map[uint16]string{22: "SSH-2.0-OpenSSH_9.6\r\n", 25: "220 ban ESMTP vpclab\r\n", 5353: "ban\r\n"} {
		got, err := roundTrip(t, cli, "udp", ap(ban.Addr(), port), "hi", 100)
		require.NoError(t, err, "banner port %d", port)
		assert.Equal(t, want, got, "banner port %d", port)
	}

	// A flow answers every datagram of its remote end, then ends when idle.
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "udp", ap(srv.Addr(), 4000))
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	for k := range 3 {
		msg := fmt.Sprint("n", k)
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, msg, string(buf[:n]))
	}
}

func TestCatchAllUDPFlowEndsWhenIdle(t *testing.T) {
	old := catchAllUDPIdle
	catchAllUDPIdle = 100 * time.Millisecond
	t.Cleanup(func() { catchAllUDPIdle = old })
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts, Protocol: "udp"})

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "udp", ap(srv.Addr(), 4000))
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	for k := range 2 {
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		_, err = c.Read(buf)
		require.NoError(t, err, "round %d", k)
		flows := func() int {
			srv.allUDP.mu.Lock()
			defer srv.allUDP.mu.Unlock()
			return len(srv.allUDP.flows)
		}
		assert.Equal(t, 1, flows())
		require.Eventually(t, func() bool { return flows() == 0 }, 2*time.Second, 10*time.Millisecond,
			"the flow ends after the idle timeout")
	}
	assert.EqualValues(t, 2, srv.allUDP.offered.Load(), "the second datagram after idle opened a new flow")
}

// TestCatchAllSpecificListenerWins: ports with their own service or socket
// keep it; the catch-all answers the others.
func TestCatchAllSpecificListenerWins(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts, Protocol: "udp"})
	serve(t, srv, ServiceSpec{Kind: ServiceHTTP, Port: 80}) // after the catch-all
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 53, Protocol: "udp", Text: "dns"})
	l, err := srv.Listen(9000) // a caller's own listener
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "mine\n")
			c.Close()
		}
	}()

	resp, body, err := httpGet(ctxTimeout(t, 5*time.Second), cli, ap(srv.Addr(), 80))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "srv\n", body)

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", ap(srv.Addr(), 9000))
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	require.NoError(t, err)
	assert.Equal(t, "mine\n", line)

	got, err := roundTrip(t, cli, "udp", ap(srv.Addr(), 53), "q", 100)
	require.NoError(t, err)
	assert.Equal(t, "dns\r\n", got)

	got, err = roundTrip(t, cli, "tcp", ap(srv.Addr(), 81), "echo", 4)
	require.NoError(t, err)
	assert.Equal(t, "echo", got)
	assert.EqualValues(t, 1, srv.allTCP.offered.Load(), "only port 81 reached the catch-all")
	assert.EqualValues(t, 0, srv.allUDP.offered.Load())
}

func TestCatchAllTCPBannerAndHTTP(t *testing.T) {
	fab := newFabric(t, nil)
	ban := newInstance(t, fab, "mx", "10.0.0.1")
	web := newInstance(t, fab, "web", "10.0.0.3")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, ban, ServiceSpec{Kind: ServiceBanner, Port: AllPorts})
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: AllPorts})

	for port, want := range map[uint16]string{22: "SSH-2.0-OpenSSH_9.6\r\n", 587: "220 mx ESMTP vpclab\r\n", 8000: "mx\r\n"} {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", ap(ban.Addr(), port))
		require.NoError(t, err)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		require.NoError(t, err, "port %d", port)
		assert.Equal(t, want, line, "port %d", port)
	}
	for _, port := range randomPorts(5) {
		resp, body, err := httpGet(ctxTimeout(t, 5*time.Second), cli, ap(web.Addr(), port))
		require.NoError(t, err, "port %d", port)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "web\n", body)
	}
}

func TestCatchAllServeErrors(t *testing.T) {
	inst := newInstance(t, nil, "srv", "10.0.0.1")
	serve(t, inst, ServiceSpec{Kind: ServiceEcho, Port: AllPorts})
	for _, tc := range []struct {
		spec ServiceSpec
		want string
	}{
		{ServiceSpec{Kind: ServiceBanner, Port: AllPorts}, "instance srv: serve banner/tcp on all ports: a catch-all tcp service already runs"},
		{ServiceSpec{Kind: ServiceHTTP, Port: AllPorts, Protocol: "udp"}, "instance srv: serve http/udp on all ports: unsupported service"},
		{ServiceSpec{Kind: "ftp", Port: AllPorts}, "instance srv: serve ftp/tcp on all ports: unsupported service"},
	} {
		assert.EqualError(t, inst.Serve(tc.spec), tc.want)
	}
	inst.Close()
	assert.EqualError(t, inst.Serve(ServiceSpec{Kind: ServiceEcho, Port: AllPorts, Protocol: "udp"}),
		"instance srv: serve echo on all ports: instance closed")
	assert.False(t, inst.Listening("tcp", 1234), "a closed instance covers nothing")
}

// TestCatchAllCloseEndsEverything: open TCP connections, banner holds and
// UDP flows of catch-all services end with the instance's Close.
func TestCatchAllCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fab := NewFabric(nil)
	defer fab.Close()
	srv, err := NewInstance(Config{Name: "srv", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	cli, err := NewInstance(Config{Name: "cli", Addr: netip.MustParseAddr("10.0.0.2")})
	require.NoError(t, err)
	defer cli.Close()
	for _, inst := range []*Instance{srv, cli} {
		_, err := fab.Attach(inst.NIC(), inst.Addr(), nil)
		require.NoError(t, err)
	}
	require.NoError(t, srv.Serve(ServiceSpec{Kind: ServiceEcho, Port: AllPorts}))
	require.NoError(t, srv.Serve(ServiceSpec{Kind: ServiceBanner, Port: AllPorts, Protocol: "udp"}))

	for _, port := range randomPorts(10) {
		got, err := roundTrip(t, cli, "tcp", ap(srv.Addr(), port), "x", 1)
		require.NoError(t, err)
		require.Equal(t, "x", got)
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", ap(srv.Addr(), port)) // left open
		require.NoError(t, err)
		defer c.Close()
		_, err = roundTrip(t, cli, "udp", ap(srv.Addr(), port), "x", 100) // a flow left behind
		require.NoError(t, err)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	assert.Empty(t, srv.allUDP.flows)
	assert.Empty(t, srv.allTCP.inFlight)
}

// TestCatchAllFirewallDecides: the security group decides before the
// catch-all sees anything; a blocked port never reaches the forwarder.
func TestCatchAllFirewallDecides(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-cli"})
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{
		allowIn("tcp", "1000/2000", "10.0.0.0/16"),
		allowIn("udp", "53/53", "10.0.0.0/16"),
	}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-cli"}})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", VSwitch: "vsw-b", Groups: []string{"sg-srv"}})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: AllPorts, Protocol: "udp"})
	sub := v.SubscribeDrops(64)
	defer sub.Close()

	for _, tc := range []struct {
		proto string
		port  uint16
		allow bool
	}{
		{"tcp", 1000, true}, {"tcp", 1999, true}, {"tcp", 999, false}, {"tcp", 2001, false}, {"tcp", 22, false},
		{"udp", 53, true}, {"udp", 54, false}, {"udp", 1000, false},
	} {
		t.Run(fmt.Sprint(tc.proto, tc.port), func(t *testing.T) {
			drain(sub)
			all := srv.allTCP
			if tc.proto == "udp" {
				all = srv.allUDP
			}
			before := all.offered.Load()
			if tc.allow {
				require.NoError(t, probe(cli, tc.proto, ap(srv.Addr(), tc.port), allowWait))
				assert.Equal(t, before+1, all.offered.Load())
				return
			}
			err := probe(cli, tc.proto, ap(srv.Addr(), tc.port), blockWait)
			require.True(t, isTimeout(err), "want a timeout, got %v", err)
			waitDrop(t, sub, firewall.SGDefaultDeny, "cli", "srv")
			assert.Equal(t, before, all.offered.Load(), "a blocked %s/%d reached the catch-all", tc.proto, tc.port)
			assert.True(t, srv.Listening(tc.proto, tc.port), "the catch-all covers the port; the group blocks it")
		})
	}
}

// TestCatchAllBoundsHandshakes: SYNs whose handshake never completes (the
// SYN-ACK goes nowhere) hold at most CatchAllMaxInFlight goroutines, a
// retransmitted SYN none more, and Close ends them all at once.
func TestCatchAllBoundsHandshakes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := NewInstance(Config{Name: "srv", Addr: netip.MustParseAddr("10.0.0.1")}) // unplugged
	require.NoError(t, err)
	require.NoError(t, srv.Serve(ServiceSpec{Kind: ServiceEcho, Port: AllPorts}))
	syn := func(sport uint16) {
		pkt := ipFrame(6, netip.MustParseAddr("10.0.0.9"), srv.Addr(), l4(sport, 80, 20, 0x02), 0)
		srv.NIC().deliver(pkt)
		pkt.DecRef()
	}
	inFlight := func() int {
		srv.allTCP.mu.Lock()
		defer srv.allTCP.mu.Unlock()
		return len(srv.allTCP.inFlight)
	}
	for k := range CatchAllMaxInFlight + 10 {
		syn(uint16(20000 + k))
	}
	syn(20000) // a retransmission
	assert.Equal(t, CatchAllMaxInFlight, inFlight())
	assert.EqualValues(t, 10, srv.stack.Stats().TCP.ForwardMaxInFlightDrop.Value())
	// The retransmission reaches the handshake's endpoint once it is
	// registered, the catch-all before.
	assert.InDelta(t, CatchAllMaxInFlight+10, srv.allTCP.offered.Load(), 1)

	// Close aborts the handshakes rather than waiting for them to time out,
	// which takes gVisor a minute of SYN-ACK retransmissions (1+2+…+32 s).
	// The bound is that wait's sixth, not a measure of Close: Close takes
	// HandshakeSettle at most, and a loaded machine must not fail it.
	start := time.Now()
	require.NoError(t, srv.Close())
	assert.Less(t, time.Since(start), 10*time.Second, "Close waited for handshakes to time out")
	assert.Equal(t, 0, inFlight())
}
