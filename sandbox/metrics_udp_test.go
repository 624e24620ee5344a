package sandbox

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// TestMetricsExposeTCPAndUDPOnOneHostPort: a TCP and a UDP expose may share
// a host port number; their series differ by protocol (without the label
// the two would collide and every scrape would fail), and the UDP one
// counts the datagrams an echo carried.
func TestMetricsExposeTCPAndUDPOnOneHostPort(t *testing.T) {
	ln, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	port := ln.LocalAddr().(*net.UDPAddr).Port
	ln.Close()
	topo, err := topology.Load("udp.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg
    rules:
      - {direction: ingress, protocol: udp, port_range: 7/7, source: 0.0.0.0/0}
      - {direction: ingress, protocol: tcp, port_range: 7/7, source: 0.0.0.0/0}
instances:
  - name: echo
    vswitch: main
    security_groups: [sg]
    eip: 47.100.0.10
    services: [{kind: echo, port: 7, protocol: udp}, {kind: echo, port: 7}]
    expose: [{port: 7, host_port: %d, protocol: udp}, {port: 7, host_port: %d}]
`, port, port)))
	if err != nil {
		t.Fatal(err)
	}
	lab, err := topology.Build(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	x, err := lab.Expose(topology.ExposeOptions{})
	if err != nil {
		t.Skipf("host port %d taken meanwhile: %v", port, err)
	}
	defer x.Close()
	m := NewMetrics(lab, x)
	srv, err := ServeMetrics("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := range 3 {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "ping %d", i); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != fmt.Sprintf("ping %d", i) {
			t.Fatalf("echo %d: %q, %v", i, buf[:n], err)
		}
	}
	listen := fmt.Sprintf("listen=127.0.0.1:%d", port)
	// The reply can overtake the counter of the datagram after it: wait.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := scrape(t, srv.URL())
		in := value(t, fams, "vpclab_expose_datagrams_in_total", "instance=echo", listen, "port=7", "protocol=udp")
		out := value(t, fams, "vpclab_expose_datagrams_out_total", "instance=echo", listen, "port=7", "protocol=udp")
		tcp := value(t, fams, "vpclab_expose_accepted_total", "instance=echo", listen, "port=7", "protocol=tcp")
		if in == 3 && out == 3 && tcp == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("udp in %v, out %v, tcp accepted %v; want 3, 3, 0", in, out, tcp)
		}
	}
}
