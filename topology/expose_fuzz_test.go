package topology

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzExposeProxy drives the expose proxy with a script of writes,
// half-closes and aborts from both ends, over real TCP sockets (the host
// side of an exposed port is a kernel socket; the VPC side is stood in for
// by another one, which has the same CloseWrite). Invariants:
//   - each end receives a prefix of what the other end wrote, in order;
//   - without an abort, each end receives exactly what the other wrote
//     before half-closing, and then EOF;
//   - the proxy always finishes once both ends are done (no hang), and an
//     abort on one end ends the other end's connection too.
//
// Script: each op is one byte (op%6) followed, for writes, by a length byte
// and that many data bytes (truncated at the end of the input).
//
//	0 client writes   1 instance writes   2 client half-closes
//	3 instance half-closes   4 client aborts (RST)   5 instance aborts
func FuzzExposeProxy(f *testing.F) {
	f.Add([]byte{0, 5, 'h', 'e', 'l', 'l', 'o', 1, 2, 'o', 'k', 2, 3})
	f.Add([]byte{2, 1, 3, 'b', 'y', 'e', 3})              // request after the client's EOF
	f.Add([]byte{0, 3, 'a', 'b', 'c', 4, 1, 2, 'z', 'z'}) // the client leaves mid-exchange
	f.Add([]byte{1, 4, 'b', 'a', 'n', 'r', 5, 0, 1, 'x'}) // the instance resets
	f.Add([]byte{0, 255})                                 // a length past the input
	f.Add([]byte{})                                       // nothing at all
	f.Add([]byte{3, 3, 2, 2, 0, 1, 'x', 1, 1, 'y', 4, 5}) // ops after both ends closed
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	pair := func(t *testing.T) (dialed, accepted *net.TCPConn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.TCPConn), a.(*net.TCPConn)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		client, host := pair(t)
		vc, instance := pair(t)
		p := &proxy{host: host, vc: vc, idle: time.Minute, start: time.Now()}
		ran := make(chan struct{})
		go func() { defer close(ran); p.run() }()

		type end struct {
			c        *net.TCPConn
			sent     bytes.Buffer
			got      chan []byte
			shut     bool // half-closed: no more writes
			aborted  bool
			writeErr bool // a write failed: the peer's side is gone
		}
		ends := [2]*end{{c: client, got: make(chan []byte, 1)}, {c: instance, got: make(chan []byte, 1)}}
		for _, e := range ends {
			go func(e *end) { // each end reads until EOF or an error
				b, _ := io.ReadAll(e.c)
				e.got <- b
			}(e)
		}
		for i := 0; i < len(script); i++ {
			op := script[i] % 6
			e := ends[op%2]
			if op >= 4 {
				e = ends[op-4]
			}
			switch {
			case op <= 1:
				n := 0
				if i+1 < len(script) {
					n = int(script[i+1])
					i++
				}
				data := script[i+1 : min(i+1+n, len(script))]
				i += len(data)
				if e.shut || e.aborted || e.writeErr {
					continue
				}
				if _, err := e.c.Write(data); err != nil {
					e.writeErr = true
					continue
				}
				e.sent.Write(data)
			case op <= 3:
				if !e.shut && !e.aborted {
					e.c.CloseWrite()
					e.shut = true
				}
			default:
				if !e.aborted {
					e.c.SetLinger(0)
					e.c.Close()
					e.aborted = true
				}
			}
		}
		for _, e := range ends {
			if !e.shut && !e.aborted {
				e.c.CloseWrite()
			}
		}
		timeout := time.After(10 * time.Second)
		select {
		case <-ran:
		case <-timeout:
			t.Fatalf("script %x: the proxy did not finish after both ends were done", script)
		}
		abort := ends[0].aborted || ends[1].aborted || ends[0].writeErr || ends[1].writeErr
		for i, e := range ends {
			var got []byte
			select {
			case got = <-e.got:
			case <-timeout:
				t.Fatalf("script %x: end %d never saw its connection end", script, i)
			}
			want := ends[1-i].sent.Bytes()
			if e.aborted {
				continue // what it had read is lost with its socket
			}
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("script %x: end %d got %q, not a prefix of what was sent, %q", script, i, got, want)
			}
			if !abort && !bytes.Equal(got, want) {
				t.Fatalf("script %x: end %d got %q, want %q", script, i, got, want)
			}
		}
		for _, c := range []*net.TCPConn{client, host, vc, instance} {
			c.Close() // forward's untrack closes host and vc in an Exposure
		}
	})
}
