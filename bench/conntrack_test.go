package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConntrackQuick(t *testing.T) {
	res, err := runConntrack(context.Background(), Options{Quick: true})
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, "conntrack", res.Benchmark)
	require.Len(t, res.Rows, 2*2*2) // 2 sizes × (one, batch) × (ns, cycles)
	for _, r := range res.Rows {
		require.Greater(t, r.Ours, 0.0, r.Measure)
		require.Len(t, r.Baselines, 1)
		require.Greater(t, r.Baselines[0].Value, 0.0, r.Measure)
	}
	require.Len(t, res.Series, 3)
}

func TestFlowsLabel(t *testing.T) {
	for n, want := range map[int]string{1 << 10: "1k", 1 << 16: "64k", 1 << 20: "1M", 1000: "1000"} {
		require.Equal(t, want, flowsLabel(n))
	}
}
