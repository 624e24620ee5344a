package netstack

import (
	"bufio"
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

func TestBannerService(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "smtp", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 25, Text: "220 smtp ready\r\n"})
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 25, Protocol: "udp", Text: "udp banner"})

	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:25"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c) // the server closes after the banner
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "220 smtp ready\r\n" {
		t.Errorf("tcp banner %q", got)
	}

	u, err := cli.Dial(ctxTimeout(t, 5*time.Second), "udp", netip.MustParseAddrPort("10.0.0.1:25"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("?"))
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := u.Read(buf)
	if err != nil || string(buf[:n]) != "udp banner" {
		t.Errorf("udp banner %q, %v", buf[:n], err)
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
