package bench

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/topology"
)

// TestShardQuick runs the shard benchmark at its quick size — worker
// processes re-executing this test binary, real WireGuard between them —
// and checks the result's shape: the bulk row with its two baselines, the
// boot's two rows, every figure positive.
func TestShardQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts shard processes")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	res, err := runShard(context.Background(), Options{Quick: true, Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, res)
	if res.Benchmark != "shard" || len(res.Rows) != 4 {
		t.Fatalf("benchmark %q with %d rows, want shard with 4", res.Benchmark, len(res.Rows))
	}
	wantBaselines := []int{2, 1, 1, 1}
	for i, r := range res.Rows {
		if r.Ours <= 0 || len(r.Baselines) != wantBaselines[i] {
			t.Errorf("%s: %v %s, %d baselines (want %d)", r.Measure, r.Ours, r.Unit, len(r.Baselines), wantBaselines[i])
		}
		for _, b := range r.Baselines {
			if b.Value <= 0 || b.Ratio <= 0 {
				t.Errorf("%s: baseline %s %v (ratio %v)", r.Measure, b.Name, b.Value, b.Ratio)
			}
		}
	}
}

// TestPairNames checks that the bulk pair straddles the two shards, so
// that its traffic crosses WireGuard.
func TestPairNames(t *testing.T) {
	if topology.ShardOf(pairSender, 2) != 0 || topology.ShardOf(pairSink, 2) != 1 {
		t.Errorf("%s is on shard %d, %s on %d; want 0 and 1", pairSender, topology.ShardOf(pairSender, 2), pairSink, topology.ShardOf(pairSink, 2))
	}
}
