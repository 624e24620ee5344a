package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// shutdownTopology exposes an http, an echo and a banner port of web-1,
// all open to the internet.
func shutdownTopology(http, echo, banner int) string {
	return fmt.Sprintf(`version: 1
name: shutdown
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 1/65535, source: 0.0.0.0/0}
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 80}, {kind: echo, port: 7}, {kind: banner, port: 22}]
    expose: [{port: 80, host_port: %d}, {port: 7, host_port: %d}, {port: 22, host_port: %d}]
`, http, echo, banner)
}

// TestShutdownUnderLoad sends SIGINT to a real `vpclab up` process while
// host connections are being opened, are idle, stream through the echo
// service, write without reading, and hold http and banner sessions: it
// must exit 0 within 2 s, and leave nothing behind — every host port free,
// every client connection ended.
func TestShutdownUnderLoad(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs SIGINT")
	}
	httpPort, echoPort, bannerPort := hostPort(t), hostPort(t), hostPort(t)
	ports := []int{httpPort, echoPort, bannerPort}
	file := writeTopology(t, shutdownTopology(httpPort, echoPort, bannerPort))

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "up", file)
	// A -race binary sleeps 1 s at exit (for late race reports) unless
	// told not to: that second is not vpclab's.
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = &stdout, &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	defer func() {
		if !waited { // a failed test: end the process, and its Wait
			cmd.Process.Kill()
			<-exited
		}
	}()
	for _, p := range ports {
		dialUntil(t, p)
	}

	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	var (
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		mu      sync.Mutex
		conns   []net.Conn
		dialled atomic.Int64
		echoed  atomic.Int64
	)
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	// Every client reads until its connection ends; wg counts them.
	drain := func(c net.Conn, n *atomic.Int64) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			k, err := c.Read(buf)
			if n != nil {
				n.Add(int64(k))
			}
			if err != nil {
				return
			}
		}
	}
	dial := func(p int) net.Conn {
		c, err := net.DialTimeout("tcp", addr(p), 2*time.Second)
		if err != nil {
			t.Errorf("dial %d: %v", p, err)
			return nil
		}
		keep(c)
		return c
	}
	// Idle: connected, nothing sent (the proxy has dialled the instance, or
	// is dialling it).
	for range 40 {
		if c := dial(echoPort); c != nil {
			wg.Add(1)
			go drain(c, nil)
		}
	}
	// Mid-transfer: streaming through echo, reading the echo back.
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for range 16 {
		c := dial(echoPort)
		if c == nil {
			continue
		}
		wg.Add(2)
		go drain(c, &echoed)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	// Writers that never read: the echo backs up into the proxy.
	for range 8 {
		c := dial(echoPort)
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	// http requests without reading the reply, and banner sessions held.
	for range 8 {
		for _, p := range []int{httpPort, bannerPort} {
			c := dial(p)
			if c == nil {
				continue
			}
			if p == httpPort {
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			wg.Add(1)
			go drain(c, nil)
		}
	}
	// New connections all the time, each a full exchange: some are in
	// their handshake (with the host, or the proxy's with the instance)
	// when SIGINT comes.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 5)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr(echoPort), time.Second)
				if err != nil {
					time.Sleep(time.Millisecond) // refused once up has gone
					continue
				}
				dialled.Add(1)
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write([]byte("hello"))
				io.ReadFull(c, buf)
				c.Close()
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for echoed.Load() < 64<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if echoed.Load() < 64<<10 {
		t.Fatalf("only %d bytes echoed before the signal: the load never ran", echoed.Load())
	}

	// A burst of connections the proxy is still dialling through the VPC.
	for range 32 {
		if c := dial(echoPort); c != nil {
			wg.Add(1)
			go drain(c, nil)
		}
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
		waited = true
	case <-time.After(2 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT) // the goroutine dump goes to stderr
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		waited = true
		t.Fatalf("up did not exit within 2 s of SIGINT\nstderr:\n%s", tail(stderr.String(), 8000))
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("up exited with %v after SIGINT (want 0) in %v\nstderr:\n%s", err, took, tail(stderr.String(), 4000))
	}
	t.Logf("exit 0 %v after SIGINT; %d connections dialled under load, %d bytes echoed", took, dialled.Load(), echoed.Load())
	if !strings.Contains(stderr.String(), "torn down") {
		t.Errorf("stderr lacks the teardown:\n%s", tail(stderr.String(), 4000))
	}

	close(stop)
	// Nothing behind: every host port can be listened on again ...
	for _, p := range ports {
		ln, err := net.Listen("tcp", addr(p))
		if err != nil {
			t.Errorf("port %d not free after up exited: %v", p, err)
			continue
		}
		ln.Close()
	}
	// ... and every client connection has ended (its reads and writes
	// fail) without the client closing it.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("client connections still open 5 s after up exited")
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		<-done
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
