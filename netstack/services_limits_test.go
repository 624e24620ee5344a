package netstack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heapPeak samples the heap until stop is called and returns how far the
// heap in use grew above what it was at the start.
func heapPeak(t *testing.T) (stop func() uint64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-ended
		return peak.Load()
	}
}

// flood writes n bytes of b's pattern to c in 64 KiB writes and reports how
// many it wrote before n or an error.
func flood(c net.Conn, n int64, b byte) (int64, error) {
	chunk := bytes.Repeat([]byte{b}, 64<<10)
	var sent int64
	for sent < n {
		k, err := c.Write(chunk[:min(int64(len(chunk)), n-sent)])
		sent += int64(k)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// heapBound is how far the heap may grow while a service is flooded. Each
// connection's TCP buffers take a few MiB and the garbage collector lets
// the heap grow to twice what is live; a service that buffers what it is
// sent grows by more than the flood (64 MiB and up).
const heapBound = 40 << 20

// TestServicesBoundWhatTheyBuffer floods each TCP service with a stream
// that never ends a line and checks that the heap stays within heapBound:
// the http service answers 431 once the request line passes net/http's
// limit, the echo service sends everything back through one fixed buffer,
// the banner discards it.
func TestServicesBoundWhatTheyBuffer(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})
	serve(t, srv, ServiceSpec{Kind: ServiceBanner, Port: 22})

	t.Run("http request line without newline", func(t *testing.T) {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:80"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		stop := heapPeak(t)
		var wg sync.WaitGroup
		var sent int64
		wg.Go(func() {
			io.WriteString(c, "GET /")
			sent, _ = flood(c, 128<<20, 'a')
			c.(interface{ CloseWrite() error }).CloseWrite()
		})
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close() // ends the flood if the answer came first
		wg.Wait()
		grew := stop()
		t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
		if grew > heapBound {
			t.Errorf("heap grew by %d MiB, want at most %d", grew>>20, heapBound>>20)
		}
		if err != nil {
			t.Fatalf("no answer after %d bytes: %v", sent, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("answer %s %q, want 431", resp.Status, body)
		}
		if sent > 8<<20 {
			t.Errorf("the service took %d bytes of a request line, want about 1 MiB", sent)
		}
	})

	t.Run("echo", func(t *testing.T) {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		const n = 64 << 20
		stop := heapPeak(t)
		var wg sync.WaitGroup
		var werr error
		wg.Go(func() { _, werr = flood(c, n, 'e') })
		got, rerr := io.CopyN(io.Discard, c, n)
		wg.Wait()
		grew := stop()
		if werr != nil || rerr != nil || got != n {
			t.Fatalf("echoed %d of %d bytes: write %v, read %v", got, n, werr, rerr)
		}
		t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
		if grew > heapBound {
			t.Errorf("heap grew by %d MiB, want at most %d", grew>>20, heapBound>>20)
		}
	})

	t.Run("banner", func(t *testing.T) {
		c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:22"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		const n = 64 << 20
		stop := heapPeak(t)
		sent, err := flood(c, n, 'b')
		grew := stop()
		if err != nil {
			t.Fatalf("the banner took %d of %d bytes: %v", sent, n, err)
		}
		t.Logf("heap grew by %.1f MiB", float64(grew)/(1<<20))
		if grew > heapBound {
			t.Errorf("heap grew by %d MiB, want at most %d", grew>>20, heapBound>>20)
		}
	})
}

// TestHTTPServiceAnswersWhileClientSends: a request with a body the service
// does not read (a POST) still gets its answer, a request line just under
// the limit is served, and headers over it in total get 431 (the old
// service read them all and answered 200).
func TestHTTPServiceAnswersWhileClientSends(t *testing.T) {
	fab := newFabric(t, nil)
	web := newInstance(t, fab, "web", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	long := "/" + strings.Repeat("p", http.DefaultMaxHeaderBytes-100)
	for _, tc := range []struct {
		name    string
		request string
		body    int64 // body bytes sent after the request
		status  int
	}{
		{"post with a body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 100000, http.StatusMethodNotAllowed},
		{"get with a body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 200000, http.StatusOK},
		{"request line under the limit", "GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 0, http.StatusOK},
		{"headers over the limit", "GET / HTTP/1.1\r\n" + strings.Repeat("X-Padding: "+strings.Repeat("p", 88)+"\r\n", 12000) + "\r\n", 0, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:80"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tc.request); err != nil && tc.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatal(err) // a request over the limit may be reset before it is all sent
			}
			if _, err := flood(c, tc.body, 'x'); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Logf("body write: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
