package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/internal/netns"
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

// TestNetnsBaselinePolicy checks that the namespace baseline filters with
// the fabric benchmark's policy: every rule of policy500 on each side, one
// iptables rule each (plus loopback and established), in the cloud's order
// — so a Linux figure is the cost of the same rules as vpclab's.
func TestNetnsBaselinePolicy(t *testing.T) {
	tables, err := fabricPolicyTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		inst, table string
	}{{"cli", tables.Client}, {"srv", tables.Server}} {
		var in, out int
		for _, g := range policy500(side.inst) {
			for _, r := range g.Rules {
				if r.Direction == firewall.Ingress {
					in++
				} else {
					out++
				}
			}
		}
		gotIn := strings.Count(side.table, "-A INPUT ") - 2 // lo, established
		gotOut := strings.Count(side.table, "-A OUTPUT ") - 2
		if gotIn != in || gotOut != out {
			t.Errorf("%s: %d ingress and %d egress iptables rules, policy500 has %d and %d:\n%s", side.inst, gotIn, gotOut, in, out, side.table)
		}
	}
	// The rule that admits the benchmark's traffic is the server's last
	// ingress rule (priority 100), as in the VPC: iptables pays the whole
	// scan for a new flow, as the linear matcher would.
	lines := strings.Split(strings.TrimSpace(tables.Server), "\n")
	var lastIn string
	for _, l := range lines {
		if strings.HasPrefix(l, "-A INPUT ") {
			lastIn = l
		}
	}
	if want := fmt.Sprintf("-A INPUT -p tcp -s 10.0.1.0/24 --dport %d -j ACCEPT", benchPort); lastIn != want {
		t.Errorf("server's last ingress rule %q, want %q", lastIn, want)
	}
	if netns.Available() == nil {
		rate, err := netns.ConnRate(context.Background(), tables, 200*time.Millisecond, 1)
		if err != nil || rate <= 0 {
			t.Errorf("connections through the fabric policy's tables: %v %v", rate, err)
		}
	}
}
