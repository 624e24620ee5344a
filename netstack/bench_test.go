package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks for the data plane. Typical runs (see the report in the
// issue for the numbers):
//
//	go test -run '^$' -bench . -benchtime 3s -count 5 ./netstack/
//	go test -run '^$' -bench IdleInstances -benchtime 1x ./netstack/

// passAll is the trivial filter of the fabric path: it looks at nothing.
type passAll struct{}

func (passAll) Filter(src, dst *Port, ip []byte) bool { return true }

// benchPair returns a client and a server instance wired by path: "direct"
// (the two VNICs piped into each other, no fabric, no filter), "fabric"
// (both attached to a fabric with a trivial filter) or "vpc500" (two
// instances of a VPC, each NIC in five groups of 100 rules: the firewall
// runs on every frame).
func benchPair(b *testing.B, path string, offload bool) (cli, srv *Instance) {
	b.Helper()
	if path == "vpc500" {
		v := newTestVPC(b, VPCConfig{Name: "bench", CIDR: netip.MustParsePrefix("10.0.0.0/16"), NoOffload: !offload})
		cli = addInstance(b, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: addPolicy500(b, v, "cli")})
		srv = addInstance(b, v, InstanceSpec{Name: "srv", Addr: netip.MustParseAddr("10.0.1.20"), Groups: addPolicy500(b, v, "srv")})
		return cli, srv
	}
	cli = newInstanceConfig(b, nil, Config{Name: "cli", Addr: netip.MustParseAddr("10.0.0.2"), NoOffload: !offload})
	srv = newInstanceConfig(b, nil, Config{Name: "srv", Addr: netip.MustParseAddr("10.0.0.1"), NoOffload: !offload})
	switch path {
	case "direct":
		Pipe(cli.NIC(), srv.NIC())
	case "fabric":
		fab := newFabric(b, passAll{})
		for _, inst := range []*Instance{cli, srv} {
			if _, err := fab.Attach(inst.NIC(), inst.Addr(), nil); err != nil {
				b.Fatal(err)
			}
		}
	default:
		b.Fatalf("unknown path %q", path)
	}
	return cli, srv
}

// BenchmarkBulkTCP measures one bulk TCP stream, client to server, MTU 1500
// with offload (TCP super-segments cross unsegmented), written 1 MiB at a
// time.
func BenchmarkBulkTCP(b *testing.B) {
	for _, path := range []string{"direct", "fabric", "vpc500"} {
		b.Run("path="+path, func(b *testing.B) { benchBulk(b, path, true, 1<<20) })
	}
}

// BenchmarkBulkTCPWrite64KiB is BenchmarkBulkTCP written 64 KiB at a time.
func BenchmarkBulkTCPWrite64KiB(b *testing.B) {
	for _, path := range []string{"direct", "fabric"} {
		b.Run("path="+path, func(b *testing.B) { benchBulk(b, path, true, 64<<10) })
	}
}

// BenchmarkBulkTCPNoOffload is BenchmarkBulkTCP with plain 1500-byte
// frames and full checksums, for reference.
func BenchmarkBulkTCPNoOffload(b *testing.B) {
	for _, path := range []string{"direct", "fabric", "vpc500"} {
		b.Run("path="+path, func(b *testing.B) { benchBulk(b, path, false, 1<<20) })
	}
}

func benchBulk(b *testing.B, path string, offload bool, writeSize int) {
	cli, srv := benchPair(b, path, offload)
	l, err := srv.Listen(5001)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	received := sink(l)
	c, err := cli.Dial(context.Background(), "tcp", netip.AddrPortFrom(srv.Addr(), 5001))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, writeSize)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var sent int64
	for b.Loop() {
		n, err := c.Write(buf)
		if err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
	}
	b.ReportMetric(float64(sent)*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
	c.Close()
	if n := <-received; n != sent {
		b.Fatalf("server received %d bytes, client sent %d", n, sent)
	}
	st := cli.stack.Stats().TCP
	b.ReportMetric(float64(st.Retransmits.Value())/float64(b.N), "retrans/op")
}

// BenchmarkPingRTT measures an ICMP echo round trip, including the ping
// socket's creation and close.
func BenchmarkPingRTT(b *testing.B) {
	for _, path := range []string{"direct", "fabric", "vpc500"} {
		b.Run("path="+path, func(b *testing.B) {
			cli, srv := benchPair(b, path, true)
			ctx := context.Background()
			b.ReportAllocs()
			var seq uint16
			for b.Loop() {
				seq++
				if _, err := cli.Ping(ctx, srv.Addr(), seq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTCPConnect measures a connection to the http service with one
// request: connect, GET, read the answer, close (the server closes first).
func BenchmarkTCPConnect(b *testing.B) {
	for _, path := range []string{"fabric", "vpc500"} {
		for _, clients := range []int{1, 100} {
			b.Run(fmt.Sprintf("path=%s/clients=%d", path, clients), func(b *testing.B) { benchConnect(b, path, clients) })
		}
	}
}

func benchConnect(b *testing.B, path string, clients int) {
	{
		{
			cli, srv := benchPair(b, path, true)
			if err := srv.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 5001}); err != nil {
				b.Fatal(err)
			}
			to := netip.AddrPortFrom(srv.Addr(), 5001)
			ctx := context.Background()
			b.ReportAllocs()
			start := time.Now()
			var conns atomic.Int64
			if clients == 1 {
				for b.Loop() {
					connectOnce(b, ctx, cli, to)
					conns.Add(1)
				}
			} else {
				b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						connectOnce(b, ctx, cli, to)
						conns.Add(1)
					}
				})
			}
			b.ReportMetric(float64(conns.Load())/time.Since(start).Seconds(), "conns/s")
		}
	}
}

var getRequest = []byte("GET / HTTP/1.1\r\nHost: srv\r\n\r\n")

func connectOnce(b *testing.B, ctx context.Context, cli *Instance, to netip.AddrPort) {
	c, err := cli.Dial(ctx, "tcp", to)
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	if _, err := c.Write(getRequest); err != nil {
		b.Error(err)
		return
	}
	var buf [256]byte
	n, err := io.ReadFull(c, buf[:])
	if err != io.ErrUnexpectedEOF || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200 OK") {
		b.Errorf("response %q, %v", buf[:n], err)
	}
}

// BenchmarkIdleInstances creates idle instances attached to one fabric and
// reports what each costs: heap, goroutine stacks, goroutines, RSS (only
// meaningful on the first run in a process: later runs reuse freed memory),
// boot time, and the heap still held once all are closed.
//
// The first plugs bare instances into a fabric; path=vpc adds them through
// VPC.AddInstances, with a firewall NIC in the default group each — what a
// topology does.
func BenchmarkIdleInstances(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchIdle(b, n, false) })
		b.Run(fmt.Sprintf("path=vpc/instances=%d", n), func(b *testing.B) { benchIdle(b, n, true) })
	}
}

func benchIdle(b *testing.B, n int, viaVPC bool) {
	var heap, stacks, rss, goroutines, boot, retained float64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		g0, rss0 := runtime.NumGoroutine(), readRSS()
		start := time.Now()
		var closeAll func()
		if viaVPC {
			v, err := NewVPC(VPCConfig{Name: "idle", CIDR: netip.MustParsePrefix("10.0.0.0/8")})
			if err != nil {
				b.Fatal(err)
			}
			if err := v.AddVSwitch("main", netip.MustParsePrefix("10.1.0.0/16")); err != nil {
				b.Fatal(err)
			}
			specs := make([]InstanceSpec, n)
			for i := range specs {
				specs[i] = InstanceSpec{Name: fmt.Sprintf("vm-%d", i), VSwitch: "main"}
			}
			if _, err := v.AddInstances(specs); err != nil {
				b.Fatal(err)
			}
			closeAll = func() { v.Close() }
		} else {
			fab := NewFabric(nil)
			insts := make([]*Instance, n)
			for i := range insts {
				inst, err := NewInstance(Config{Name: "idle", Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := fab.Attach(inst.NIC(), inst.Addr(), nil); err != nil {
					b.Fatal(err)
				}
				insts[i] = inst
			}
			closeAll = func() {
				for _, inst := range insts {
					inst.Close()
				}
				fab.Close()
			}
		}
		boot = float64(time.Since(start).Microseconds()) / float64(n)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n) / 1024
		stacks = float64(int64(m1.StackInuse)-int64(m0.StackInuse)) / float64(n) / 1024
		goroutines = float64(runtime.NumGoroutine()-g0) / float64(n)
		rss = float64(readRSS()-rss0) / float64(n) / 1024
		closeAll()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		retained = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n) / 1024
	}
	b.ReportMetric(retained, "retained-KiB/inst")
	b.ReportMetric(heap, "heap-KiB/inst")
	b.ReportMetric(stacks, "stack-KiB/inst")
	b.ReportMetric(heap+stacks, "KiB/inst")
	b.ReportMetric(goroutines, "goroutines/inst")
	b.ReportMetric(rss, "rss-KiB/inst")
	b.ReportMetric(boot, "boot-µs/inst")
}

// readRSS returns the process's resident set size in bytes (0 if unknown).
func readRSS() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkPortLookup compares the per-frame destination lookup of the
// sharded copy-on-write table the fabric uses with a sync.Map, with 10,000
// ports and lookups from every core.
func BenchmarkPortLookup(b *testing.B) {
	const ports = 10000
	keys := make([]uint32, ports)
	for i := range keys {
		keys[i] = 10<<24 | uint32(i)
	}
	b.Run("table=cow", func(b *testing.B) {
		fab := NewFabric(nil)
		for _, k := range keys {
			var a [4]byte
			a[0], a[1], a[2], a[3] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
			if _, err := fab.Attach(NewVNIC(0, true), netip.AddrFrom4(a), nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if fab.lookup(keys[i%ports]) == nil {
					b.Error("missing")
				}
				i++
			}
		})
	})
	b.Run("table=syncmap", func(b *testing.B) {
		var m sync.Map
		for _, k := range keys {
			m.Store(k, &Port{})
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := m.Load(keys[i%ports]); !ok {
					b.Error("missing")
				}
				i++
			}
		})
	})
}

// BenchmarkForward measures the fabric's own per-frame work — header peek,
// table lookup, filter call, counters, a fresh inbound PacketBuffer over the
// shared bytes — delivering to a stub instead of a stack.
func BenchmarkForward(b *testing.B) {
	for _, tc := range frameCases() {
		if tc.name != "tcp pushed" && tc.name != "icmp echo reply in payload" {
			continue
		}
		b.Run("frame="+strings.ReplaceAll(tc.name, " ", "-"), func(b *testing.B) {
			fab := newFabric(b, passAll{})
			src, dst := NewVNIC(0, true), NewVNIC(0, true)
			dst.Attach(&countingDispatcher{})
			ps, err := fab.Attach(src, netip.MustParseAddr("10.0.0.2"), nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := fab.Attach(dst, netip.AddrFrom4(dstB), nil); err != nil {
				b.Fatal(err)
			}
			pkt := tc.pkt()
			defer pkt.DecRef()
			b.ReportAllocs()
			for b.Loop() {
				ps.transmit(pkt)
			}
		})
	}
}

// BenchmarkVPCForward measures the VPC's per-frame work without NAT — header
// peek, parse, conntrack lookup, counters, a fresh inbound PacketBuffer —
// for a frame of an established TCP flow and for a first packet (SYN)
// that a 500-rule policy on each NIC denies, delivering to a stub.
func BenchmarkVPCForward(b *testing.B) {
	for _, kind := range []string{"tcp-established", "tcp-syn-denied"} {
		b.Run("frame="+kind, func(b *testing.B) {
			v := newTestVPC(b)
			cli := addInstance(b, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: addPolicy500(b, v, "cli")})
			srv := addInstance(b, v, InstanceSpec{Name: "srv", Addr: netip.MustParseAddr("10.0.1.20"), Groups: addPolicy500(b, v, "srv")})
			srv.NIC().Attach(&countingDispatcher{})
			src := v.Fabric().Port(cli.Addr())
			pkt := ipFrame(6, cli.Addr(), srv.Addr(), l4(40000, 5001, 20, 0x10), 1400)
			if kind == "tcp-established" {
				syn := ipFrame(6, cli.Addr(), srv.Addr(), l4(40000, 5001, 20, 0x02), 0)
				src.transmit(syn)
				syn.DecRef()
			} else {
				pkt.DecRef()
				pkt = ipFrame(6, cli.Addr(), srv.Addr(), l4(40000, 5002, 20, 0x02), 0)
			}
			defer pkt.DecRef()
			b.ReportAllocs()
			for b.Loop() {
				src.transmit(pkt)
			}
		})
	}
}

// sink accepts one connection on l, reads it to the end and sends how many
// bytes came (-1 if the accept failed).
func sink(l net.Listener) <-chan int64 {
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	return received
}
