package bench

import (
	"context"
	"testing"
)

// TestScaleQuick runs the scale benchmark at its quick size and checks the
// result's shape (not its figures): six rows per size, positive, and one
// point per size in every series.
func TestScaleQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("boots 1,000 instances")
	}
	res, err := runScale(context.Background(), Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Benchmark != "scale" || len(res.Rows) != 6*len(scaleSizes(true)) {
		t.Fatalf("benchmark %q with %d rows, want scale with %d", res.Benchmark, len(res.Rows), 6*len(scaleSizes(true)))
	}
	for _, r := range res.Rows {
		t.Logf("%s: %.1f %s", r.Measure, r.Ours, r.Unit)
		if r.Ours <= 0 && r.Unit != "KiB/instance" { // RSS may not grow if the heap was already mapped
			t.Errorf("%s: %v %s", r.Measure, r.Ours, r.Unit)
		}
	}
	if len(res.Series) != 5 {
		t.Fatalf("%d series, want 5", len(res.Series))
	}
	for _, s := range res.Series {
		if len(s.X) != len(scaleSizes(true)) || len(s.Y) != len(s.X) {
			t.Errorf("series %s/%s: %d x, %d y", s.Chart, s.Name, len(s.X), len(s.Y))
		}
	}
}
