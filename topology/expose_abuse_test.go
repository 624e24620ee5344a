package topology

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// abuseTopology has web-1 expose an http service (port 80) and an echo
// service (port 7), both open to the internet, on the given host ports.
func abuseTopology(t *testing.T, httpPort, echoPort int) *Topology {
	t.Helper()
	top, err := Load("abuse.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}
      - {direction: ingress, protocol: tcp, port_range: 7/7, source: 0.0.0.0/0}
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 80}, {kind: echo, port: 7}]
    expose: [{port: 80, host_port: %d}, {port: 7, host_port: %d}]
`, httpPort, echoPort)))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// waitFor polls cond until it holds or d passes, running the garbage
// collector between tries; it reports whether cond held. Waiting is never
// the assertion: the caller says what did not come back.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		runtime.GC()
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// tracked is the number of connections the exposure holds open.
func (x *Exposure) tracked() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.conns)
}

// httpGet sends one HTTP/1.0 GET to the host port and returns the reply.
func httpGet(port int, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestExposeWriterThatLeaves: a client that writes to an echo service
// without reading, until everything between it and the service is full,
// then leaves (its close resets, its data unread), must not leave anything
// behind: before the fix, the copy towards the instance stayed blocked
// writing into a service that was itself blocked writing back, keeping
// megabytes, three goroutines and the host socket forever.
func TestExposeWriterThatLeaves(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	httpPort, echoPort := freePort(t), freePort(t)
	x, closeAll := buildExposed(t, abuseTopology(t, httpPort, echoPort), ExposeOptions{})
	defer closeAll()
	baseG := runtime.NumGoroutine()

	for _, leave := range []string{"close", "reset"} {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", echoPort))
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 256<<10)
		written := 0
		for { // write until the pipe is full: a write makes no progress for 300 ms
			c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := c.Write(junk)
			written += n
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write: %v", err)
				}
				break
			}
			if written > 512<<20 {
				t.Fatalf("wrote %d MiB without the pipe filling up", written>>20)
			}
		}
		if leave == "reset" {
			c.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
		if !waitFor(10*time.Second, func() bool { return x.tracked() == 0 && runtime.NumGoroutine() <= baseG }) {
			t.Fatalf("%s after writing %d MiB unread: %d connections tracked, %d goroutines (baseline %d) 10 s later",
				leave, written>>20, x.tracked(), runtime.NumGoroutine(), baseG)
		}
	}
	// The port still serves.
	if got, err := httpGet(httpPort, 5*time.Second); err != nil || !strings.Contains(got, "200 OK") {
		t.Errorf("GET after the writers left: %q, %v", got, err)
	}
}
