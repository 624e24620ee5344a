package topology

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// bulkChunk is what one benchmark iteration sends and reads back.
const bulkChunk = 1 << 20

// loopbackMBps is the last loopback result of BenchmarkExposeBulkTCP, the
// baseline the expose path reports its share of.
var loopbackMBps float64

// BenchmarkExposeBulkTCP measures bulk TCP from a host client through an
// exposed port — a real host socket, the expose proxy, the data plane
// (EIP, firewall with the instance's groups, two gVisor stacks) and the
// instance's echo service — against the same client and a plain Go TCP
// echo server on loopback, in one run. Each iteration writes 1 MiB and
// reads its echo back over one connection, writes and reads overlapping;
// MB/s counts the bytes sent. path=expose reports pct-of-loopback, its
// MB/s over the loopback run's just before.
//
//	go test -run '^$' -bench ExposeBulkTCP -benchtime 3s -count 5 ./topology/
func BenchmarkExposeBulkTCP(b *testing.B) {
	b.Run("path=loopback", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Go(func() {
					defer c.Close()
					io.Copy(c, c)
				})
			}
		})
		defer wg.Wait()
		defer ln.Close()
		loopbackMBps = bulkEcho(b, ln.Addr().String())
	})
	b.Run("path=expose", func(b *testing.B) {
		port := freePortB(b)
		top, err := Load("bench.yaml", []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 7/7, source: 0.0.0.0/0}]
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: echo, port: 7}]
    expose: [{port: 7, host_port: %d}]
`, port)))
		if err != nil {
			b.Fatal(err)
		}
		lab, err := Build(top)
		if err != nil {
			b.Fatal(err)
		}
		defer lab.Close()
		x, err := lab.Expose(ExposeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		mbps := bulkEcho(b, fmt.Sprintf("127.0.0.1:%d", port))
		if loopbackMBps > 0 {
			b.ReportMetric(100*mbps/loopbackMBps, "pct-of-loopback")
		}
	})
}

// bulkEcho sends bulkChunk per iteration to an echo server at addr over
// one connection and reads it back; it returns the MB/s sent.
func bulkEcho(b *testing.B, addr string) float64 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, bulkChunk)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	// A round trip first: the connection is through before the clock runs.
	if _, err := c.Write(chunk[:1]); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	send := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		defer close(werr)
		for range send {
			if _, err := c.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
	}()
	b.SetBytes(bulkChunk)
	b.ReportAllocs()
	buf := make([]byte, 64<<10)
	for b.Loop() {
		send <- struct{}{}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, bulkChunk), buf); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := b.Elapsed()
	close(send)
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
	return float64(b.N) * bulkChunk / elapsed.Seconds() / 1e6
}

// freePortB is freePort for a benchmark.
func freePortB(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
