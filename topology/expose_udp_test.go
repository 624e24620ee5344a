package topology

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// udpExposeTopology exposes web-1's UDP echo on port 53 (open to the
// internet) at host port open, its UDP echo on 54 (no rule opens it) at
// blocked, port 55 (open, nothing listens) at nobody, and its HTTP port 80
// over TCP at host port open too: a TCP and a UDP expose share the number.
func udpExposeTopology(t *testing.T, open, blocked, nobody int) *Topology {
	t.Helper()
	top, err := Load("udp.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: udp, port_range: 53/53, source: 0.0.0.0/0}
      - {direction: ingress, protocol: udp, port_range: 55/55, source: 0.0.0.0/0}
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: echo, port: 53, protocol: udp}, {kind: echo, port: 54, protocol: udp}, {kind: http, port: 80}]
    expose:
      - {port: 53, host_port: %[1]d, protocol: udp}
      - {port: 54, host_port: %[2]d, protocol: udp}
      - {port: 55, host_port: %[3]d, protocol: udp}
      - {port: 80, host_port: %[1]d}
`, open, blocked, nobody)))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// freePorts returns n distinct host ports that were free (for TCP and UDP)
// a moment ago: each is held until all are chosen, so two calls of
// freePort cannot hand out the same port.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue // busy for UDP: the TCP listener stays held, try another
		}
		pc.Close()
		ports = append(ports, port)
	}
	return ports
}

// udpClient is a host UDP socket connected to an exposed port.
func udpClient(t *testing.T, port int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg and returns the datagram that comes back within wait.
func exchange(c *net.UDPConn, msg string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, maxDatagram)
	n, err := c.Read(b)
	return string(b[:n]), err
}

// waitStats polls the stats of port i until ok holds or 5 s pass.
func waitStats(t *testing.T, x *Exposure, i int, what string, ok func(ExposedPortStats) bool) ExposedPortStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := x.Stats().Ports[i]
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: %s never held; stats %+v", i, what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExposeUDP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := freePorts(t, 3)
	open, blocked, nobody := p[0], p[1], p[2]
	x, closeAll := buildExposed(t, udpExposeTopology(t, open, blocked, nobody), ExposeOptions{})
	defer closeAll()
	if got := x.Ports[0]; got.Protocol != "udp" || got.Target.String() != "47.100.0.10:53" || x.Ports[3].Protocol != "tcp" {
		t.Fatalf("ports = %+v, want udp 53, 54, 55 then tcp 80", x.Ports)
	}

	t.Run("echo", func(t *testing.T) {
		c := udpClient(t, open)
		for i := range 3 {
			msg := fmt.Sprintf("query %d", i)
			got, err := exchange(c, msg, 5*time.Second)
			if err != nil || got != msg {
				t.Fatalf("echo of %q = %q, %v", msg, got, err)
			}
		}
		big := strings.Repeat("x", 8000) // more than a frame: IP fragments through the data plane
		if got, err := exchange(c, big, 5*time.Second); err != nil || got != big {
			t.Fatalf("echo of 8000 bytes = %d bytes, %v", len(got), err)
		}
		// The counters follow the writes, which the client may have read
		// the answer of already.
		s := waitStats(t, x, 0, "4 datagrams each way", func(s ExposedPortStats) bool { return s.DatagramsOut == 4 && s.DatagramsIn == 4 })
		if s.Accepted != 1 || s.Active != 1 {
			t.Errorf("stats %+v; want one flow, 4 datagrams each way", s.ExposeCounters)
		}
	})

	t.Run("two clients, two flows", func(t *testing.T) {
		before := x.Stats().Ports[0].Accepted
		a, b := udpClient(t, open), udpClient(t, open)
		// Interleaved: each gets its own answers, never the other's.
		for i := range 5 {
			for _, c := range []struct {
				conn *net.UDPConn
				name string
			}{{a, "a"}, {b, "b"}} {
				msg := fmt.Sprintf("%s-%d", c.name, i)
				if got, err := exchange(c.conn, msg, 5*time.Second); err != nil || got != msg {
					t.Fatalf("client %s: echo of %q = %q, %v", c.name, msg, got, err)
				}
			}
		}
		if s := x.Stats().Ports[0]; s.Accepted-before != 2 {
			t.Errorf("%d flows opened for two clients, want 2", s.Accepted-before)
		}
	})

	t.Run("tcp on the same port number", func(t *testing.T) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", open))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 200") {
			t.Errorf("TCP on host port %d read %q, want the instance's HTTP answer", open, b[:n])
		}
	})

	t.Run("blocked", func(t *testing.T) {
		c := udpClient(t, blocked)
		got, err := exchange(c, "anyone?", 300*time.Millisecond)
		if !isTimeout(err) {
			t.Errorf("a blocked port answered %q, %v; want silence", got, err)
		}
		s := waitStats(t, x, 1, "a blocked datagram counted", func(s ExposedPortStats) bool { return s.DatagramsBlocked == 1 && s.DatagramsIn == 1 })
		if s.DatagramsOut != 0 {
			t.Errorf("stats %+v; want 1 datagram in, blocked, none out", s.ExposeCounters)
		}
	})

	t.Run("nothing listens", func(t *testing.T) {
		c := udpClient(t, nobody)
		got, err := exchange(c, "anyone?", 300*time.Millisecond)
		if !isTimeout(err) {
			t.Errorf("a port where nothing listens answered %q, %v; want silence", got, err)
		}
		// The flow's socket reports the ICMP port unreachable on its
		// next send, as a connected Linux socket does.
		if got, err := exchange(c, "again?", 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("a port where nothing listens answered %q, %v; want silence", got, err)
		}
		waitStats(t, x, 2, "the port unreachable counted, both datagrams sent", func(s ExposedPortStats) bool {
			return s.DatagramsRefused == 1 && s.DatagramsIn == 2
		})
	})

	// Close ends every flow, and the host port with it.
	x.Close()
	if s := x.Stats(); s.Active != 0 {
		t.Errorf("%d flows active after Close", s.Active)
	}
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: open}); err != nil {
		t.Errorf("host port %d still bound after Close: %v", open, err)
	} else {
		c.Close()
	}
}

// TestExposeUDPIdle: a silent flow ends after the UDP idle timeout, while
// one in use stays; the silent client's next datagram opens a new flow.
func TestExposeUDPIdle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := freePorts(t, 3)
	open := p[0]
	const idle = 500 * time.Millisecond
	x, closeAll := buildExposed(t, udpExposeTopology(t, open, p[1], p[2]), ExposeOptions{UDPIdleTimeout: idle})
	defer closeAll()
	quiet, busy := udpClient(t, open), udpClient(t, open)
	for _, c := range []*net.UDPConn{quiet, busy} {
		if got, err := exchange(c, "hi", 5*time.Second); err != nil || got != "hi" {
			t.Fatalf("echo = %q, %v", got, err)
		}
	}
	for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(idle / 4) {
		if got, err := exchange(busy, "still here", 5*time.Second); err != nil || got != "still here" {
			t.Fatalf("busy client: echo = %q, %v", got, err)
		}
	}
	s := waitStats(t, x, 0, "the quiet flow expired", func(s ExposedPortStats) bool { return s.IdleClosed == 1 && s.Active == 1 })
	if s.Accepted != 2 {
		t.Errorf("stats %+v; want the busy flow alone active", s.ExposeCounters)
	}
	if got, err := exchange(quiet, "back", 5*time.Second); err != nil || got != "back" {
		t.Fatalf("the quiet client after its flow expired: echo = %q, %v", got, err)
	}
	if s := x.Stats().Ports[0]; s.Accepted != 3 || s.Active != 2 {
		t.Errorf("stats %+v; want a new flow for the returning client", s.ExposeCounters)
	}
}

// TestExposeUDPCap: a new client over MaxConnsPerPort flows is dropped
// and counted; once a flow expires, a new client gets one.
func TestExposeUDPCap(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := freePorts(t, 3)
	open := p[0]
	x, closeAll := buildExposed(t, udpExposeTopology(t, open, p[1], p[2]),
		ExposeOptions{MaxConnsPerPort: 1, UDPIdleTimeout: time.Second})
	defer closeAll()
	first, second := udpClient(t, open), udpClient(t, open)
	if got, err := exchange(first, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("first client: echo = %q, %v", got, err)
	}
	if got, err := exchange(second, "two", 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("second client over the cap: %q, %v; want silence", got, err)
	}
	if s := waitStats(t, x, 0, "a datagram over the cap", func(s ExposedPortStats) bool { return s.DatagramsOverCap == 1 }); s.Accepted != 1 {
		t.Errorf("stats %+v; want 1 flow", s.ExposeCounters)
	}
	waitStats(t, x, 0, "the first flow expired", func(s ExposedPortStats) bool { return s.Active == 0 })
	if got, err := exchange(second, "two", 5*time.Second); err != nil || got != "two" {
		t.Fatalf("second client after the first flow expired: echo = %q, %v", got, err)
	}
}

// TestExposeUDPBusyPort: a host UDP port in use is named in the error.
func TestExposeUDPBusyPort(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.LocalAddr().(*net.UDPAddr).Port
	p := freePorts(t, 2)
	lab, err := Build(udpExposeTopology(t, p[0], port, p[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	x, err := lab.Expose(ExposeOptions{})
	var pe *PortInUseError
	if !errors.As(err, &pe) {
		if x != nil {
			x.Close()
		}
		t.Fatalf("Expose on a busy UDP port = %v, want a *PortInUseError", err)
	}
	if pe.Protocol != "udp" || pe.Port != 54 || !errors.Is(err, os.ErrExist) && !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %v; want udp port 54, address in use", err)
	}
}
