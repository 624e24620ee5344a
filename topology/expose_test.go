package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// freePort returns a host port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// exposeTopology has web-1 expose port 80 (open to the internet) and port
// 22 (a banner its group does not open) on the given host ports.
// buildExposed builds top and exposes it; close closes the exposure, then
// the lab (defer it, so a test's deferred goleak check runs after it).
func buildExposed(t *testing.T, top *Topology, opts ExposeOptions) (x *Exposure, close func()) {
	t.Helper()
	lab, err := Build(top)
	if err != nil {
		t.Fatal(err)
	}
	x, err = lab.Expose(opts)
	if err != nil {
		lab.Close()
		t.Fatal(err)
	}
	return x, func() {
		x.Close()
		lab.Close()
	}
}

func exposeTopology(t *testing.T, open, closed int) *Topology {
	t.Helper()
	src := fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}]
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 80}, {kind: banner, port: 22, text: "SSH-2.0-x"}]
    expose: [{port: 80, host_port: %d}, {port: 22, host_port: %d}]
`, open, closed)
	top, err := Load("expose.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func TestExpose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, closed := freePort(t), freePort(t)
	x, closeAll := buildExposed(t, exposeTopology(t, open, closed), ExposeOptions{DialTimeout: 10 * time.Second})
	defer closeAll()
	if len(x.Ports) != 2 || x.Ports[0].Client != HostClientName || x.Ports[0].ClientIP.String() != "198.51.100.1" {
		t.Fatalf("ports = %+v, want two from %s (198.51.100.1)", x.Ports, HostClientName)
	}

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for range 3 { // several connections, one after the other
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", open))
		if err != nil {
			t.Fatalf("GET through the exposed port: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "web-1") {
			t.Errorf("body = %q, want the instance name", body)
		}
	}

	// Port 22 is not open to the internet: the host accepts, then the
	// connection is reset as soon as the drop event arrives, well before
	// the 10 s dial timeout.
	start := time.Now()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", closed))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(8 * time.Second))
	if _, err := io.WriteString(c, "SSH-2.0-client\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	c.Close()
	if len(b) != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("blocked expose read %q, %v; want a reset with no data", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("blocked expose took %v; the drop event should end it at once", d)
	}

	// A connection still open when the exposure closes is closed with it.
	idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", open))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	x.Close()
	idle.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("read on a forwarded connection after Close succeeded")
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", open)); err == nil {
		t.Error("the host port still accepts after Close")
	}
}

func TestExposeBusyPort(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	lab, err := Build(exposeTopology(t, freePort(t), port))
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
		t.Fatalf("Expose on a busy port = %v, want a *PortInUseError", err)
	}
	if pe.Instance != "web-1" || pe.Port != 22 || int(pe.Listen.Port()) != port {
		t.Errorf("error names %s:%d on %v, want web-1:22 on port %d", pe.Instance, pe.Port, pe.Listen, port)
	}
	if msg := err.Error(); !strings.Contains(msg, "web-1") || !strings.Contains(msg, fmt.Sprint(port)) {
		t.Errorf("error %q does not name the instance and the port", msg)
	}
}

func TestExposeExistingHostClient(t *testing.T) {
	top, err := Load("x.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
instances:
  - {name: web-1, vswitch: web, eip: 47.100.0.10, expose: [{port: 80, host_port: %d}]}
internet:
  host_client: 203.0.113.5
  hosts: [{name: laptop, ip: 203.0.113.5}]
`, freePort(t))))
	if err != nil {
		t.Fatal(err)
	}
	x, closeAll := buildExposed(t, top, ExposeOptions{})
	defer closeAll()
	if x.Ports[0].Client != "laptop" {
		t.Errorf("client = %s, want the file's host with internet.host_client's address", x.Ports[0].Client)
	}
}

// TestExposeRefusedResets: an exposed port whose VPC side cannot be reached
// — the groups drop it (an HTTP port and a raw TCP port) or nothing listens
// behind an open rule — resets every host connection, whatever the client
// sends and however fast: Go's net.Dial reads ECONNRESET and curl says
// "Connection reset by peer" (exit 56) every time, never "Empty reply from
// server" or "Couldn't connect".
func TestExposeRefusedResets(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	httpPort, rawPort, nobodyPort := freePort(t), freePort(t), freePort(t)
	top, err := Load("refused.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 9/9, source: 0.0.0.0/0}]
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 8080}, {kind: banner, port: 22, text: "SSH-2.0-x"}]
    expose: [{port: 8080, host_port: %d}, {port: 22, host_port: %d}, {port: 9, host_port: %d}]
`, httpPort, rawPort, nobodyPort)))
	if err != nil {
		t.Fatal(err)
	}
	_, closeAll := buildExposed(t, top, ExposeOptions{DialTimeout: 10 * time.Second})
	defer closeAll()

	curl, curlErr := exec.LookPath("curl")
	for _, port := range []struct {
		name string
		port int
	}{{"http port, blocked", httpPort}, {"raw tcp port, blocked", rawPort}, {"open port, nothing listens", nobodyPort}} {
		t.Run(port.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", port.port)
			for i := range 4 {
				for _, send := range []string{"", "GET / HTTP/1.0\r\n\r\n"} {
					start := time.Now()
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatalf("attempt %d: dial: %v", i, err)
					}
					c.SetDeadline(time.Now().Add(8 * time.Second))
					if send != "" {
						if _, err := io.WriteString(c, send); err != nil {
							t.Fatalf("attempt %d: write: %v", i, err)
						}
					}
					b, err := io.ReadAll(c)
					c.Close()
					if len(b) != 0 || !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("attempt %d, sending %q: read %q, %v; want ECONNRESET and no data", i, send, b, err)
					}
					if d := time.Since(start); d > 3*time.Second {
						t.Errorf("attempt %d: the reset took %v", i, d)
					}
				}
				if curlErr != nil {
					continue
				}
				var stderr bytes.Buffer
				cmd := exec.Command(curl, "-sS", "-m", "8", "-o", "/dev/null", "http://"+addr+"/")
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 56 || !strings.Contains(stderr.String(), "Connection reset by peer") {
					t.Errorf("attempt %d: curl: %v, %q; want exit 56, \"Connection reset by peer\"", i, err, stderr.String())
				}
			}
		})
	}
	if curlErr != nil {
		t.Logf("curl is not installed (%v): checked with Go's net.Dial only", curlErr)
	}
}
