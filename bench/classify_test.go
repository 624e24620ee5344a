package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vpclab/vpclab/firewall"
	"gvisor.dev/gvisor/pkg/tcpip"
)

func TestClassifyQuick(t *testing.T) {
	res, err := runClassify(context.Background(), Options{Quick: true})
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, "classify", res.Benchmark)
	require.NotEmpty(t, res.Rows)
	for _, r := range res.Rows {
		require.Greater(t, r.Ours, 0.0, r.Measure)
		require.Len(t, r.Baselines, 2, r.Measure)
		for _, b := range r.Baselines {
			require.Greater(t, b.Value, 0.0, r.Measure+" "+b.Name)
			require.Greater(t, b.Ratio, 0.0, r.Measure+" "+b.Name)
		}
	}
	require.Len(t, res.Series, 3)
	for _, s := range res.Series {
		require.Equal(t, len(s.X), len(s.Y))
		require.NotEmpty(t, s.X)
	}
}

func TestRangePrefixes(t *testing.T) {
	type pfx = struct{ addr, mask uint32 }
	for _, tc := range []struct {
		r    firewall.Range32
		want []pfx
	}{
		{firewall.Range32{Lo: 0x0a000000, Hi: 0x0a0000ff}, []pfx{{0x0a000000, 0xffffff00}}},
		{firewall.Range32{Lo: 0, Hi: 0xffffffff}, []pfx{{0, 0}}},
		{firewall.Range32{Lo: 5, Hi: 5}, []pfx{{5, 0xffffffff}}},
		{firewall.Range32{Lo: 1, Hi: 6}, []pfx{{1, 0xffffffff}, {2, 0xfffffffe}, {4, 0xfffffffe}, {6, 0xffffffff}}},
	} {
		require.Equal(t, tc.want, rangePrefixes(tc.r), "%+v", tc.r)
	}
}

// TestGVisorIPTablesAgrees checks the translation on the fixture and on
// rules with port ranges, any protocol and ranges that are not prefixes:
// newClassifiers fails when gVisor's verdict differs from the compiled one.
func TestGVisorIPTablesAgrees(t *testing.T) {
	rules := []firewall.MatchRule{
		{Src: []firewall.Range32{{Lo: 10, Hi: 300}}, Dst: firewall.AnyAddr, SrcPort: firewall.AnyPort, DstPort: firewall.PortRange{Lo: 80, Hi: 90}, Proto: 6},
		{Src: firewall.AnyAddr, Dst: []firewall.Range32{{Lo: 0x0a000000, Hi: 0x0a00ffff}}, SrcPort: firewall.PortRange{Lo: 1000, Hi: 2000}, DstPort: firewall.AnyPort, AnyProto: true},
		{Src: firewall.AnyAddr, Dst: firewall.AnyAddr, SrcPort: firewall.AnyPort, DstPort: firewall.AnyPort, Proto: 17},
	}
	headers := firewall.RandomTuples(rules, 2000, 7)
	c, err := newClassifiers(rules, headers)
	require.NoError(t, err)
	c.close()
}

// TestTrackingClockStopsReaper checks that StopAll ends a timer that
// re-arms itself from its own callback, as gVisor's conntrack reaper does.
func TestTrackingClockStopsReaper(t *testing.T) {
	c := newTrackingClock()
	var mu sync.Mutex
	fired := 0
	var tm tcpip.Timer
	mu.Lock()
	tm = c.AfterFunc(time.Millisecond, func() {
		mu.Lock()
		defer mu.Unlock()
		fired++
		tm.Reset(time.Millisecond)
	})
	mu.Unlock()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return fired >= 3 }, 5*time.Second, time.Millisecond)
	c.StopAll()
	time.Sleep(20 * time.Millisecond) // a callback running during StopAll may still end
	mu.Lock()
	n := fired
	mu.Unlock()
	// The reaper's callback, caught running during StopAll, re-arms it.
	tm.Reset(time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, n, fired, "the timer fired after StopAll")
}
