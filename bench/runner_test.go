package bench

import (
	"context"
	"testing"
)

// TestRunnerQuick runs the runner benchmark at its quick size and checks
// the result's shape (every expectation passed or Run fails; three rows per
// size; one point per size in every series), not its figures.
func TestRunnerQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200 instances and runs 1,000 expectations")
	}
	res, err := runRunner(context.Background(), Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Benchmark != "runner" || len(res.Rows) != 3*len(runnerSizes(true)) {
		t.Fatalf("benchmark %q with %d rows, want runner with %d", res.Benchmark, len(res.Rows), 3*len(runnerSizes(true)))
	}
	for _, r := range res.Rows {
		t.Logf("%s: %.3f %s %s", r.Measure, r.Ours, r.Unit, r.Note)
		if r.Ours <= 0 {
			t.Errorf("%s: %v %s", r.Measure, r.Ours, r.Unit)
		}
	}
	if len(res.Series) != 4 {
		t.Fatalf("%d series, want 4", len(res.Series))
	}
	for _, s := range res.Series {
		if len(s.X) != len(runnerSizes(true)) || len(s.Y) != len(s.X) {
			t.Errorf("series %s/%s: %d x, %d y", s.Chart, s.Name, len(s.X), len(s.Y))
		}
	}
}
