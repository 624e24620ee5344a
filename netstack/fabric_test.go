package netstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPingUnroutable(t *testing.T) {
	fab := newFabric(t, nil)
	a := newInstance(t, fab, "a", "10.0.0.1")
	_, err := a.Ping(ctxTimeout(t, 100*time.Millisecond), netip.MustParseAddr("10.0.0.99"), 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping to nowhere: err = %v, want deadline exceeded", err)
	}
	if st := fab.Stats(); st.Unroutable == 0 {
		t.Errorf("fabric stats %+v: want an unroutable frame", st)
	}
	if ps := fab.Port(a.Addr()).Stats(); ps.TxDropped == 0 {
		t.Errorf("port stats %+v: want a dropped frame", ps)
	}
}

// dropTo drops every frame addressed to one port and counts them.
type dropTo struct {
	addr    netip.Addr
	dropped atomic.Int64
}

func (d *dropTo) Filter(src, dst *Port, ip []byte) bool {
	if dst != nil && dst.Addr() == d.addr {
		d.dropped.Add(1)
		return false
	}
	return true
}

func TestFilterDropsDial(t *testing.T) {
	flt := &dropTo{addr: netip.MustParseAddr("10.0.0.1")}
	fab := newFabric(t, flt)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})

	_, err := cli.Dial(ctxTimeout(t, 300*time.Millisecond), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial through a dropping filter: %v, want a timeout", err)
	}
	n := flt.dropped.Load()
	if n == 0 {
		t.Fatal("the filter dropped nothing")
	}
	if got := fab.Stats().Filtered; got != uint64(n) {
		t.Errorf("fabric counted %d filtered frames, filter dropped %d", got, n)
	}
	if got := fab.Port(cli.Addr()).Stats().TxFiltered; got != uint64(n) {
		t.Errorf("client port counted %d filtered frames, filter dropped %d", got, n)
	}
	if got := fab.Port(srv.Addr()).Stats().RxFrames; got != 0 {
		t.Errorf("server received %d frames", got)
	}

	// Lifting the filter lets a new connection through.
	fab.SetFilter(nil)
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// recorder remembers the largest IPv4 total length and what the filter saw
// of the first frames of each protocol.
type recorder struct {
	mu       sync.Mutex
	maxTotal int
	frames   int
	short    int // frames whose header bytes were incomplete
}

func (r *recorder) Filter(src, dst *Port, ip []byte) bool {
	total := int(ip[2])<<8 | int(ip[3])
	ihl := int(ip[0]&0x0f) * 4
	complete := len(ip) >= ihl
	if complete && ip[6]&0x1f == 0 && ip[7] == 0 {
		switch ip[9] {
		case protoTCP:
			complete = len(ip) >= ihl+20 && len(ip) >= ihl+int(ip[ihl+12]>>4)*4
		case protoUDP, protoICMP:
			complete = len(ip) >= ihl+8
		}
	}
	r.mu.Lock()
	r.frames++
	r.maxTotal = max(r.maxTotal, total)
	if !complete {
		r.short++
	}
	r.mu.Unlock()
	return true
}

// TestBulkCrossesAsSuperSegments checks that with offload a TCP stream
// crosses the fabric in segments larger than the MTU, that the receiving
// stack accepts them (no checksum errors), and that without offload no
// frame exceeds the MTU.
func TestBulkCrossesAsSuperSegments(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			rec := &recorder{}
			fab := newFabric(t, rec)
			srv := newInstanceConfig(t, fab, Config{Name: "srv", Addr: netip.MustParseAddr("10.0.0.1"), NoOffload: !offload})
			cli := newInstanceConfig(t, fab, Config{Name: "cli", Addr: netip.MustParseAddr("10.0.0.2"), NoOffload: !offload})
			const total = 8 << 20
			l, err := srv.Listen(5001)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			received := sink(l)
			c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:5001"))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			for sent := 0; sent < total; sent += len(buf) {
				if _, err := c.Write(buf); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			select {
			case n := <-received:
				if n != total {
					t.Fatalf("received %d bytes, want %d", n, total)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("transfer stalled")
			}
			if errs := srv.stack.Stats().TCP.ChecksumErrors.Value(); errs != 0 {
				t.Errorf("receiver counted %d TCP checksum errors", errs)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.short != 0 {
				t.Errorf("%d of %d frames reached the filter with incomplete headers", rec.short, rec.frames)
			}
			if offload && rec.maxTotal <= DefaultMTU {
				t.Errorf("largest frame %d bytes: no super-segments crossed", rec.maxTotal)
			}
			if !offload && rec.maxTotal > DefaultMTU {
				t.Errorf("largest frame %d bytes exceeds the MTU without offload", rec.maxTotal)
			}
			t.Logf("%d frames, largest %d bytes", rec.frames, rec.maxTotal)
		})
	}
}

func TestManyInstancesPingOne(t *testing.T) {
	fab := newFabric(t, nil)
	target := newInstance(t, fab, "target", "10.0.0.1")
	const n = 50
	insts := make([]*Instance, n)
	for i := range insts {
		insts[i] = newInstance(t, fab, fmt.Sprintf("i%d", i), fmt.Sprintf("10.0.1.%d", i+1))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, inst := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint16(1); seq <= 3; seq++ {
				if _, err := inst.Ping(ctxTimeout(t, 10*time.Second), target.Addr(), seq); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := fab.Port(target.Addr()).Stats().RxFrames; got != 3*n {
		t.Errorf("target received %d frames, want %d", got, 3*n)
	}
}

// TestAttachDetachUnderTraffic attaches and detaches ports while a TCP
// stream and pings cross the fabric (run it with -race).
func TestAttachDetachUnderTraffic(t *testing.T) {
	fab := newFabric(t, nil)
	srv := newInstance(t, fab, "srv", "10.0.0.1")
	cli := newInstance(t, fab, "cli", "10.0.0.2")
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})
	c, err := cli.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.MustParseAddrPort("10.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			inst, err := NewInstance(Config{Name: "churn", Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(i % 200)})})
			if err != nil {
				t.Error(err)
				return
			}
			p, err := fab.Attach(inst.NIC(), inst.Addr(), i)
			if err != nil {
				t.Error(err)
				return
			}
			inst.Ping(context.Background(), srv.Addr(), 1) // best effort; a pinger can be pinged
			p.Detach()
			inst.Close()
		}
	}()

	msg := bytes.Repeat([]byte("x"), 64<<10)
	got := make([]byte, len(msg))
	for range 50 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	churn.Wait()
	if n := fab.Ports(); n != 2 {
		t.Errorf("%d ports attached after churn, want 2", n)
	}
}

func TestAttachErrors(t *testing.T) {
	fab := newFabric(t, nil)
	a := newInstance(t, fab, "a", "10.0.0.1")
	b := newInstance(t, nil, "b", "10.0.0.1")
	if _, err := fab.Attach(b.NIC(), b.Addr(), nil); err == nil {
		t.Error("second port for 10.0.0.1 attached")
	}
	if _, err := fab.Attach(b.NIC(), netip.MustParseAddr("fd00::1"), nil); err == nil {
		t.Error("IPv6 port attached")
	}
	if _, err := fab.Attach(a.NIC(), netip.MustParseAddr("10.0.0.5"), nil); err == nil {
		t.Error("a VNIC attached twice")
	}
	fab.Port(a.Addr()).Detach()
	if _, err := fab.Attach(b.NIC(), b.Addr(), "tag"); err != nil {
		t.Errorf("attach after detach: %v", err)
	}
	if p := fab.Port(b.Addr()); p == nil || p.Tag != "tag" || p.NIC() != b.NIC() {
		t.Errorf("Port(%v) = %+v", b.Addr(), p)
	}
	fab.Close()
	if _, err := fab.Attach(a.NIC(), netip.MustParseAddr("10.0.0.3"), nil); err == nil {
		t.Error("attach to a closed fabric succeeded")
	}
}

// TestAttachAll: a batch attaches every port or, on any error, none (a
// VNIC it plugged in is unplugged again).
func TestAttachAll(t *testing.T) {
	a := netip.MustParseAddr
	fab := newFabric(t, nil)
	taken := newInstance(t, fab, "taken", "10.0.0.1")
	nics := []*VNIC{NewVNIC(0, true), NewVNIC(0, true), NewVNIC(0, true)}
	for name, tc := range map[string]struct {
		specs []PortSpec
		want  string
	}{
		"address attached": {[]PortSpec{{NIC: nics[0], Addr: a("10.0.0.2")}, {NIC: nics[1], Addr: a("10.0.0.1")}}, "10.0.0.1: address already attached"},
		"address twice":    {[]PortSpec{{NIC: nics[0], Addr: a("10.0.0.2")}, {NIC: nics[1], Addr: a("10.0.0.2")}}, "10.0.0.2: address already attached"},
		"VNIC plugged":     {[]PortSpec{{NIC: nics[0], Addr: a("10.0.0.2")}, {NIC: taken.NIC(), Addr: a("10.0.0.3")}}, "10.0.0.3: VNIC already plugged in"},
		"IPv6":             {[]PortSpec{{NIC: nics[0], Addr: a("10.0.0.2")}, {NIC: nics[1], Addr: a("fd00::1")}}, "fd00::1: not an IPv4 address"},
	} {
		_, err := fab.AttachAll(tc.specs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
		if fab.Ports() != 1 || fab.Port(a("10.0.0.2")) != nil || nics[0].out.Load() != nil {
			t.Errorf("%s: the failed batch left %d ports, 10.0.0.2 %v", name, fab.Ports(), fab.Port(a("10.0.0.2")))
		}
	}
	// 600 ports fill every table shard; each is found with its tag.
	specs := make([]PortSpec, 600)
	for i := range specs {
		specs[i] = PortSpec{NIC: NewVNIC(0, true), Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Tag: i}
	}
	ports, err := fab.AttachAll(specs)
	if err != nil {
		t.Fatal(err)
	}
	if fab.Ports() != 601 {
		t.Errorf("%d ports, want 601", fab.Ports())
	}
	for i, s := range specs {
		if p := fab.Port(s.Addr); p != ports[i] || p.Tag != i || p.NIC() != s.NIC {
			t.Errorf("Port(%v) = %+v, want the port of spec %d", s.Addr, p, i)
		}
	}
	if fab.Port(taken.Addr()) == nil {
		t.Error("the batch lost the port attached before it")
	}
}

func TestPipe(t *testing.T) {
	a := newInstance(t, nil, "a", "10.0.0.1")
	b := newInstance(t, nil, "b", "10.0.0.2")
	if _, err := a.Ping(ctxTimeout(t, 50*time.Millisecond), b.Addr(), 1); err == nil {
		t.Fatal("ping across unplugged VNICs succeeded")
	}
	if a.NIC().Unplugged() == 0 {
		t.Error("no unplugged frame counted")
	}
	Pipe(a.NIC(), b.NIC())
	if _, err := a.Ping(ctxTimeout(t, 5*time.Second), b.Addr(), 2); err != nil {
		t.Fatal(err)
	}
	serve(t, b, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	_, body, err := httpGet(ctxTimeout(t, 5*time.Second), a, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil || body != "b\n" {
		t.Fatalf("GET over a pipe: %q, %v", body, err)
	}
}
