package bench

import (
	"context"
	"strings"
	"testing"
)

// TestKernelCheckQuick runs the kernel-check benchmark once, checking the
// result's shape: rows for the examples, the generated scenario and the
// namespace baseline, or one skip line without root.
func TestKernelCheckQuick(t *testing.T) {
	res, err := runKernelCheck(context.Background(), Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) == 0 {
		if len(res.Skipped) == 0 {
			t.Fatal("no rows and nothing skipped")
		}
		t.Skip(res.Skipped[0])
	}
	var netnsRows, generated int
	for _, r := range res.Rows {
		t.Logf("%s: %.1f vs %+v %s — %s", r.Measure, r.Ours, r.Baselines, r.Unit, r.Note)
		if strings.HasPrefix(r.Measure, "netns: ") {
			netnsRows++
		}
		if strings.HasPrefix(r.Measure, "generated-") {
			generated++
		}
		if len(r.Baselines) != 1 || r.Baselines[0].Name != "linux-namespaces" {
			t.Errorf("%s: baselines %+v", r.Measure, r.Baselines)
		}
	}
	if netnsRows != 4 || generated != 1 {
		t.Errorf("%d netns rows, %d generated rows; want 4 and 1", netnsRows, generated)
	}
}
