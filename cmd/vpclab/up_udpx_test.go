package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/topology"
)

// udpUpTopology exposes web-1's UDP echo on 53 (open) at host port open,
// its UDP echo on 54 (no rule opens it) at blocked, and its HTTP port over
// TCP at open too.
func udpUpTopology(open, blocked int) string {
	return fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: udp, port_range: 53/53, source: 0.0.0.0/0}
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
      - {port: 80, host_port: %[1]d}
`, open, blocked)
}

// udpEcho sends msg to a host UDP port and returns what comes back within
// wait.
func udpEcho(port int, msg string, wait time.Duration) (string, error) {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if c.LocalAddr().String() == c.RemoteAddr().String() {
		// Nothing was bound there and the kernel picked the port itself
		// as the source: the socket would hear its own datagram.
		return "", fmt.Errorf("port %d: connected to itself", port)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 2048)
	n, err := c.Read(b)
	return string(b[:n]), err
}

// TestUpUDPExpose: up lists a UDP exposed port as such, `nc -u` (the
// real client) and a Go client get the instance's echo through it, a
// blocked port answers nothing, and up's exit line counts what it
// dropped.
func TestUpUDPExpose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, blocked := hostPort(t), hostPort(t)
	for blocked == open {
		blocked = hostPort(t)
	}
	file := writeTopology(t, udpUpTopology(open, blocked))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startUp(ctx, "up", file, "--duration", "30s", "--udp-idle-timeout", "10s")
	defer func() {
		cancel()
		wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := udpEcho(open, "ready?", 200*time.Millisecond)
		if err == nil && got == "ready?" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UDP port %d never echoed: %q, %v", open, got, err)
		}
	}
	if got, err := udpEcho(blocked, "anyone?", 300*time.Millisecond); err == nil {
		t.Errorf("blocked UDP port answered %q", got)
	}

	nc := requireTool(t, "nc", "netcat-openbsd")
	var out, stderr bytes.Buffer
	cmd := exec.Command(nc, "-u", "-w", "1", "127.0.0.1", fmt.Sprint(open))
	cmd.Stdin = strings.NewReader("hello from nc\n")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil && out.Len() == 0 {
		t.Fatalf("nc -u: %v, %s", err, stderr.String())
	}
	if out.String() != "hello from nc\n" {
		t.Errorf("nc -u read %q, want the echo of its line", out.String())
	}

	cancel()
	stdoutText, stderrText, code := wait()
	wait = func() (string, string, int) { return "", "", 0 }
	if code != 0 {
		t.Fatalf("up exited %d: %s", code, stderrText)
	}
	for _, want := range []string{
		fmt.Sprintf("127.0.0.1:%d/udp  web-1:53", open),
		fmt.Sprintf("127.0.0.1:%d/udp  web-1:54", blocked),
		fmt.Sprintf("127.0.0.1:%d      web-1:80", open),
	} {
		if !strings.Contains(stdoutText, want) {
			t.Errorf("up's listing lacks %q:\n%s", want, stdoutText)
		}
	}
	if !strings.Contains(stderrText, "vpclab up: exposed UDP ports: 1 blocked by security groups") {
		t.Errorf("up's exit lines do not count the blocked datagram:\n%s", stderrText)
	}
}

func TestUDPIdleOption(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
		err      string
	}{
		{time.Minute, time.Minute, ""},
		{0, -1, ""},
		{-time.Second, 0, "--udp-idle-timeout -1s: must not be negative (0: never)"},
	} {
		got, err := udpIdleOption(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("udpIdleOption(%v) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("udpIdleOption(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestUDPExposeSummary(t *testing.T) {
	s := topology.ExposeStats{Ports: []topology.ExposedPortStats{
		{Protocol: "tcp", ExposeCounters: topology.ExposeCounters{Accepted: 4, BlockedByGroups: 1}},
		{Protocol: "udp", ExposeCounters: topology.ExposeCounters{Accepted: 2, IdleClosed: 1, DatagramsIn: 9, DatagramsBlocked: 3, DatagramsOverCap: 1}},
		{Protocol: "udp", ExposeCounters: topology.ExposeCounters{Accepted: 1, DatagramsIn: 2, DatagramsRefused: 1}},
	}}
	tcp, udp := splitExposeStats(s)
	if got, want := exposeSummary(tcp), "1 blocked by security groups (of 4 connections accepted)"; got != want {
		t.Errorf("tcp summary %q, want %q", got, want)
	}
	want := "3 blocked by security groups, 1 answered port unreachable (nothing listens), 1 dropped over the flow cap (of 12 datagrams from 3 client flows)"
	if got := udpExposeSummary(udp); got != want {
		t.Errorf("udp summary %q, want %q", got, want)
	}
	if got := udpExposeSummary(topology.ExposeStats{ExposeCounters: topology.ExposeCounters{Accepted: 5, IdleClosed: 5, DatagramsIn: 50}}); got != "" {
		t.Errorf("udp summary of flows that merely ended idle = %q, want none", got)
	}
}

func TestBusyPort(t *testing.T) {
	for _, tc := range []struct {
		e    topology.PortInUseError
		want string
	}{
		{topology.PortInUseError{Protocol: "tcp", Listen: netip.MustParseAddrPort("127.0.0.1:8080")}, "8080"},
		{topology.PortInUseError{Protocol: "udp", Listen: netip.MustParseAddrPort("127.0.0.1:5353")}, "5353/udp"},
	} {
		if got := busyPort(&tc.e); got != tc.want {
			t.Errorf("busyPort(%s %v) = %q, want %q", tc.e.Protocol, tc.e.Listen, got, tc.want)
		}
	}
}
