package netstack

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// httpGet sends a GET over a fresh connection from cli and returns the
// response and its body.
func httpGet(ctx context.Context, cli *Instance, to netip.AddrPort) (*http.Response, string, error) {
	c, err := cli.Dial(ctx, "tcp", to)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n"); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func TestHTTPService(t *testing.T) {
	fab := newFabric(t, nil)
	web := newInstance(t, fab, "web-1", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	for range 3 {
		resp, body, err := httpGet(ctxTimeout(t, 5*time.Second), cli, netip.MustParseAddrPort("10.0.0.1:80"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || body != "web-1\n" {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, "web-1\n")
		}
	}
}

// readLine reads one line from c within 5 s.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read banner line: %q, %v", line, err)
	}
	return line
}

func TestBannerService(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "smtp", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	for _, tc := range []struct {
		name string
		port uint16
		text string
		want string // the bytes the client reads first
	}{
		{"text with CRLF as is", 2525, "220 smtp ready\r\n", "220 smtp ready\r\n"},
		{"text with LF as is", 2526, "hello\n", "hello\n"},
		{"CRLF added", 2022, "SSH-2.0-x", "SSH-2.0-x\r\n"},
		{"CRLF after the last line", 2527, "220-first\r\n220 second", "220-first\r\n"},
		{"default ssh", 22, "", "SSH-2.0-OpenSSH_9.6\r\n"},
		{"default smtp", 25, "", "220 smtp ESMTP vpclab\r\n"},
		{"default submission", 587, "", "220 smtp ESMTP vpclab\r\n"},
		{"default other", 8000, "", "smtp\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: tc.port, Text: tc.text})
			c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(srv.Addr(), tc.port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if got := readLine(t, bufio.NewReader(c)); got != tc.want {
				t.Errorf("first line %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBannerHoldsOpen: after its text the banner keeps the connection open
// while the client talks (an SSH client sends its own identification
// before it reads the server's), discards what the client sends without
// keeping it, and closes once the client has closed.
func TestBannerHoldsOpen(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	// A text that already ends its line: the old banner, which closed
	// after its text, fails on the hold alone.
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 22, Text: "SSH-2.0-OpenSSH_9.6\r\n"})

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:22"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if got := readLine(t, r); got != "SSH-2.0-OpenSSH_9.6\r\n" {
		t.Fatalf("identification %q", got)
	}
	// 4 MiB is more than both receive and send buffers hold: the writes
	// complete only if the banner reads and discards.
	junk := bytes.Repeat([]byte("SSH-2.0-client\r\n"), 4<<20/16)
	if _, err := c.Write(junk); err != nil {
		t.Fatalf("the banner did not take what the client sent: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := r.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("after the banner: read %d, %v; want the connection held open (a read timeout)", n, err)
	}
	// The client closes its side: the banner closes too.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the client closed: read %d, %v; want EOF", n, err)
	}
}

// TestBannerHoldEnds: a client that never closes is cut off after the hold.
func TestBannerHoldEnds(t *testing.T) {
	defer func(d time.Duration) { bannerHold = d }(bannerHold)
	bannerHold = 200 * time.Millisecond
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 25})

	start := time.Now()
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:25"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "220 srv ESMTP vpclab\r\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 4*time.Second {
		t.Errorf("the banner closed after %v, want about %v", d, bannerHold)
	}
}

// TestBannerEndsOnClose: a held connection does not keep Close waiting
// (the goroutine check of TestMain sees any left behind).
func TestBannerEndsOnClose(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 22})
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:22"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	readLine(t, bufio.NewReader(c))
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close waited %v for a held banner connection", d)
	}
}

func TestUDPBanner(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 25, Protocol: "udp", Text: "udp banner"})
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 53, Protocol: "udp"})
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 54, Protocol: "udp", Text: "as is\n"})
	for port, want := range map[uint16]string{25: "udp banner\r\n", 53: "srv\r\n", 54: "as is\n"} {
		u, err := cli.Dial(ctxTimeout(t, 5*time.Second), "udp", netip.AddrPortFrom(srv.Addr(), port))
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		u.Write([]byte("?"))
		u.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, err := u.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("udp banner on %d: %q, %v; want %q", port, buf[:n], err, want)
		}
	}
}

func TestDefaultBanner(t *testing.T) {
	for _, tc := range []struct {
		port uint16
		want string
	}{
		{22, "SSH-2.0-OpenSSH_9.6"},
		{25, "220 mx-1 ESMTP vpclab"},
		{465, "220 mx-1 ESMTP vpclab"},
		{587, "220 mx-1 ESMTP vpclab"},
		{21, "mx-1"},
		{2222, "mx-1"},
	} {
		if got := DefaultBanner("mx-1", tc.port); got != tc.want {
			t.Errorf("DefaultBanner(mx-1, %d) = %q, want %q", tc.port, got, tc.want)
		}
	}
}

func TestServeRejects(t *testing.T) {
	inst := newInstance(t, nil, "x", "10.0.0.1")
	for _, spec := range []ServiceSpec{
		{Kind: ServiceHTTP, Port: 80, Protocol: "udp"},
		{Kind: "gopher", Port: 70},
	} {
		if err := inst.Serve(spec); err == nil {
			t.Errorf("Serve(%+v) succeeded", spec)
		}
	}
	serve(t, inst, ServiceSpec{Kind: ServiceEcho, Port: 7})
	if err := inst.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 7}); err == nil {
		t.Error("second service on port 7 succeeded")
	}
	inst.Close()
	if err := inst.Serve(ServiceSpec{Kind: ServiceEcho, Port: 8}); err == nil {
		t.Error("Serve after Close succeeded")
	}
}
