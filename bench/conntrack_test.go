package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

func TestConntrackQuick(t *testing.T) {
	res, err := runConntrack(context.Background(), Options{Quick: true})
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, "conntrack", res.Benchmark)
	require.Len(t, res.Rows, 2*2*2) // 2 sizes × (one, batch) × (ns, cycles)
	for _, r := range res.Rows {
		require.Greater(t, r.Ours, 0.0, r.Measure)
		require.Len(t, r.Baselines, 2)
		require.Equal(t, "go-map", r.Baselines[0].Name)
		require.Equal(t, "go-map-conntrack", r.Baselines[1].Name)
		for _, b := range r.Baselines {
			require.Greater(t, b.Value, 0.0, r.Measure)
		}
		require.Regexp(t, `go-map-conntrack: (RWMutex|sync\.Map)`, r.Note)
	}
	require.Len(t, res.Series, 4)
}

func TestFlowsLabel(t *testing.T) {
	for n, want := range map[int]string{1 << 10: "1k", 1 << 16: "64k", 1 << 20: "1M", 1000: "1000"} {
		require.Equal(t, want, flowsLabel(n))
	}
}

// TestGoMapConntrack checks that both variants of the go-map-conntrack
// baseline do conntrack's job: either direction, expiry, refresh, and
// TCP's FIN and RST.
func TestGoMapConntrack(t *testing.T) {
	pkt := func(src, dst uint32, sp, dp uint16, flags uint8) *firewall.Header {
		return &firewall.Header{Tuple: firewall.Tuple{Src: src, Dst: dst, SrcPort: sp, DstPort: dp,
			Proto: firewall.ProtoTCP}, TCPFlags: flags}
	}
	const ack, fin, rst = firewall.TCPAck, firewall.TCPFin | firewall.TCPAck, firewall.TCPRst
	idle, closing := firewall.DefaultIdleTimeout, firewall.DefaultClosingTimeout
	type step struct {
		advance time.Duration
		h       *firewall.Header
		want    bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"both directions", []step{{0, pkt(9, 2, 1000, 443, ack), true}, {0, pkt(2, 9, 443, 1000, ack), true}}},
		{"other flows miss", []step{{0, pkt(9, 2, 1001, 443, ack), false}, {0, pkt(9, 3, 1000, 443, ack), false}}},
		{"live to the idle timeout", []step{{idle, pkt(2, 9, 443, 1000, ack), true}}},
		{"a hit refreshes", []step{{idle, pkt(2, 9, 443, 1000, ack), true}, {idle, pkt(9, 2, 1000, 443, ack), true}}},
		{"expired after it", []step{{idle + time.Second, pkt(9, 2, 1000, 443, ack), false}}},
		{"RST: closing timeout", []step{{0, pkt(2, 9, 443, 1000, rst), true}, {closing, pkt(9, 2, 1000, 443, ack), true},
			{closing + time.Second, pkt(9, 2, 1000, 443, ack), false}}},
		{"FIN one way stays open", []step{{0, pkt(9, 2, 1000, 443, fin), true}, {closing + time.Second, pkt(2, 9, 443, 1000, ack), true}}},
		{"FIN both ways: closing", []step{{0, pkt(9, 2, 1000, 443, fin), true}, {0, pkt(2, 9, 443, 1000, fin), true},
			{closing + time.Second, pkt(9, 2, 1000, 443, ack), false}}},
	} {
		for _, v := range []struct {
			name string
			make func(*firewall.Clock) goMapCT
		}{
			{"RWMutex", func(c *firewall.Clock) goMapCT { return newRWMapCT(c, 1) }},
			{"sync.Map", func(c *firewall.Clock) goMapCT { return &syncMapCT{clock: c} }},
		} {
			t.Run(tc.name+"/"+v.name, func(t *testing.T) {
				clock := firewall.NewManualClock()
				c := v.make(clock)
				c.insert(pkt(9, 2, 1000, 443, firewall.TCPSyn))
				for i, s := range tc.steps {
					clock.Advance(s.advance)
					require.Equal(t, s.want, c.lookup(s.h), "step %d", i)
				}
			})
		}
	}
}

// TestGoMapConntrackConcurrent runs lookups and inserts of both variants
// at once, for the race detector.
func TestGoMapConntrackConcurrent(t *testing.T) {
	clock := firewall.NewManualClock()
	for _, c := range []goMapCT{newRWMapCT(clock, 1), &syncMapCT{clock: clock}} {
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 2000 {
					h := &firewall.Header{Tuple: firewall.Tuple{Src: uint32(g), Dst: uint32(i % 50), SrcPort: 1, DstPort: 2,
						Proto: firewall.ProtoTCP}, TCPFlags: firewall.TCPAck}
					if i%3 == 0 {
						c.insert(h)
					}
					c.lookup(h)
					if i%100 == 0 {
						clock.Advance(time.Second)
					}
				}
			}()
		}
		wg.Wait()
	}
}
