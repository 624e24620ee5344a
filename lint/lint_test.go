package lint

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./lint/ -update")
	assert.Equal(t, string(want), string(got))
}

func lintFile(t *testing.T, path string) *Report {
	t.Helper()
	top, err := topology.LoadFile(path)
	require.NoError(t, err)
	rep, err := Run(top, Options{})
	require.NoError(t, err)
	return rep
}

func TestFindingsGolden(t *testing.T) {
	rep := lintFile(t, "testdata/findings.yaml")
	out, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	golden(t, "findings.json", append(out, '\n'))
}

// TestReportDeterministic: linting one file twice gives the same report,
// findings in the same order (conflicts at one rule came in map order).
func TestReportDeterministic(t *testing.T) {
	top, err := topology.Load("gen.yaml", []byte(genTopology(3, 60, 6, 30)))
	require.NoError(t, err)
	first, err := Run(top, Options{})
	require.NoError(t, err)
	for range 5 {
		again, err := Run(top, Options{})
		require.NoError(t, err)
		require.Equal(t, first.Findings, again.Findings)
	}
}
