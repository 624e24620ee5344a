package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestConnrateQuick(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, err := runConnrate(context.Background(), Options{Quick: true})
	requireOnePathRow(t, res, err, "connrate")
}

// requireOnePathRow checks the shape fabric and connrate share: one row,
// ours and both baselines measured, one chart series per path.
func requireOnePathRow(t *testing.T, res *Result, err error, name string) {
	t.Helper()
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, name, res.Benchmark)
	require.Len(t, res.Rows, 1)
	r := res.Rows[0]
	require.Greater(t, r.Ours, 0.0)
	require.Len(t, r.Baselines, 2)
	for _, b := range r.Baselines {
		require.Greater(t, b.Value, 0.0, b.Name)
	}
	require.Len(t, res.Series, 3)
}
