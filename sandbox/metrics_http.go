package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// MetricsServer serves a Metrics' /metrics over HTTP on a loopback address.
// Close stops it.
type MetricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
}

// ParseMetricsAddr checks a --metrics address: HOST:PORT where HOST is a
// loopback address (127.0.0.0/8, ::1) or "localhost", never another one —
// the sandbox listens on nothing but loopback. Port 0 picks a free port.
func ParseMetricsAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		why := err.Error()
		if ae := (*net.AddrError)(nil); errors.As(err, &ae) {
			why = ae.Err // its Addr is s again, raw: the %q above shows it
		}
		return netip.AddrPort{}, fmt.Errorf("--metrics %q: want HOST:PORT on loopback, e.g. 127.0.0.1:9464: %s", s, why)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--metrics %q: port %q: want 0..65535", s, port)
	}
	var a netip.Addr
	switch host {
	case "localhost":
		a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case "":
		return netip.AddrPort{}, fmt.Errorf("--metrics %q: no host means every address; the sandbox listens on loopback only: use 127.0.0.1:%s", s, port)
	default:
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("--metrics %q: host %q: want a loopback address (127.0.0.1, ::1) or localhost", s, host)
		}
	}
	if !a.Unmap().IsLoopback() || a.Zone() != "" {
		shown := a.String()
		if a.Zone() != "" {
			shown = strconv.Quote(host) // a zone is free text
		}
		return netip.AddrPort{}, fmt.Errorf("--metrics %q: %s is not a loopback address; the sandbox listens on loopback only (127.0.0.0/8, ::1)", s, shown)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// ServeMetrics listens on addr (see ParseMetricsAddr) and serves m on
// /metrics until Close.
func ServeMetrics(addr string, m *Metrics) (*MetricsServer, error) {
	ap, err := ParseMetricsAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	s := &MetricsServer{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // ends with http.ErrServerClosed on Close
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *MetricsServer) Addr() netip.AddrPort {
	return s.ln.Addr().(*net.TCPAddr).AddrPort()
}

// URL returns the address of the metrics page.
func (s *MetricsServer) URL() string { return "http://" + s.Addr().String() + "/metrics" }

// Close stops the server: it lets a scrape in progress finish for up to a
// second, then closes its connections, and waits for the serving goroutine.
func (s *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	<-s.done
	return err
}
