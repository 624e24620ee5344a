package topology

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunExamples runs `expect` of every example through the data plane: the
// examples can never rot.
func TestRunExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	files = append(files, "../cmd/vpclab/default.yaml")
	for _, f := range files {
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
