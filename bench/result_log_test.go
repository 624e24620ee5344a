package bench

import (
	"fmt"
	"strings"
	"testing"
)

// logResult logs a result's rows (go test -v shows them).
func logResult(t *testing.T, res *Result) {
	t.Helper()
	for _, r := range res.Rows {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %.3g %s", r.Measure, r.Ours, r.Unit)
		for _, x := range r.Baselines {
			fmt.Fprintf(&b, " | %s %.3g (%.2f×)", x.Name, x.Value, x.Ratio)
		}
		t.Log(b.String())
	}
	for _, s := range res.Skipped {
		t.Log("skipped: " + s)
	}
}
