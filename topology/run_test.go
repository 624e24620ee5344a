package topology

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// TestRunExamples runs `expect` of every example through the data plane: the
// examples can never rot.
func TestRunExamples(t *testing.T) {
	for _, f := range exampleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			topo, err := LoadFile(f)
			require.NoError(t, err)
			lab, err := Build(topo)
			require.NoError(t, err)
			defer lab.Close()
			results := lab.Run(context.Background(), RunOptions{Timeout: 3 * time.Second})
			require.Len(t, results, len(topo.Expect))
			for _, r := range results {
				assert.True(t, r.Pass, "%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
				if r.Observed == Block {
					assert.False(t, r.TimedOut, "%s: block known from a drop event, not the timeout: %s", r.Label(), r.Detail)
				}
			}
		})
	}
}

// exampleFiles lists every example and the embedded default topology.
func exampleFiles(t *testing.T) []string {
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return append(files, "../cmd/vpclab/default.yaml")
}

func TestRunReportsMismatch(t *testing.T) {
	data, err := os.ReadFile("../examples/group-isolation.yaml")
	require.NoError(t, err)
	topo, err := Load("iso.yaml", data)
	require.NoError(t, err)
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	// Claim the opposite of every expectation: every probe must fail.
	for i := range topo.Expect {
		if topo.Expect[i].Result == Allow {
			topo.Expect[i].Result = Block
		} else {
			topo.Expect[i].Result = Allow
		}
	}
	for _, r := range lab.Run(context.Background(), RunOptions{}) {
		assert.False(t, r.Pass, r.Label())
		if r.Observed == Block {
			require.NotNil(t, r.Why, r.Label())
			assert.Equal(t, "SG_DEFAULT_DENY", r.Why.Code)
		}
	}
}

// TestDeclaredDefaultGroup checks that a file declaring the group default
// keeps its system rules beside the file's: SSH from the internet is
// accepted by a system rule (priority 110), HTTP by the file's rule.
func TestDeclaredDefaultGroup(t *testing.T) {
	topo, err := LoadFile("../examples/default-group-rules.yaml")
	require.NoError(t, err)
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	for _, r := range lab.Run(context.Background(), RunOptions{Timeout: 3 * time.Second}) {
		assert.True(t, r.Pass, "%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
	}
	eip := netip.MustParseAddr("47.100.0.30")
	for _, tt := range []struct {
		port      uint16
		priority  int
		managedBy string
	}{
		{22, 110, "system"},
		{80, 1, ""},
	} {
		tr, err := lab.VPC.Trace("laptop", eip, firewall.ProtoTCP, tt.port)
		require.NoError(t, err)
		assert.True(t, tr.Allowed, "port %d: %s", tt.port, tr.Final)
		var ingress *firewall.Explanation
		for i := range tr.Hops {
			if tr.Hops[i].Step == "ingress" {
				ingress = &tr.Hops[i].Explanation
			}
		}
		require.NotNil(t, ingress, "port %d: no ingress hop", tt.port)
		assert.Equal(t, tt.priority, ingress.Priority, "port %d: %s", tt.port, ingress)
		assert.Equal(t, firewall.DefaultGroupName, ingress.Group, "port %d", tt.port)
		assert.Equal(t, tt.managedBy, ingress.ManagedBy, "port %d", tt.port)
	}
}
