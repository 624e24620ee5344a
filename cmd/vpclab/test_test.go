package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

func TestTestExamplesPass(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	stdout, _, code, err := runVPCLab(t, append([]string{"test"}, files...)...)
	require.NoError(t, err, stdout)
	assert.Equal(t, 0, code)
	assert.NotContains(t, stdout, "FAIL")
	assert.Contains(t, stdout, "passed, 0 failed")
}

func TestTestReportsFailures(t *testing.T) {
	f := filepath.Join(t.TempDir(), "wrong.yaml")
	require.NoError(t, os.WriteFile(f, []byte(dbDropTopology+`  - {name: "app reaches the db", from: app, to: db, port: 5432, result: allow}
  - {name: "correct one", from: app, to: db, port: 6000, result: refuse}
`), 0o644))
	stdout, _, code, err := runVPCLab(t, "test", f)
	assert.Equal(t, 1, code, stdout)
	assert.EqualError(t, err, "1 expectation failed")
	assert.Contains(t, stdout, "FAIL")
	assert.Contains(t, stdout, "SG_RULE_DROP")
	assert.Contains(t, stdout, "group=sg-db priority=2 policy=drop description=no db from the subnet managed_by=dms")
	assert.Contains(t, stdout, "1 passed, 1 failed")

	stdout, _, code, _ = runVPCLab(t, "test", "-o", "json", f)
	assert.Equal(t, 1, code)
	var reps []testFileReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &reps), stdout)
	require.Len(t, reps, 1)
	require.Len(t, reps[0].Results, 2)
	r := reps[0].Results[0]
	assert.False(t, r.Pass)
	assert.Equal(t, topology.Block, r.Observed)
	require.NotNil(t, r.Why)
	assert.Equal(t, "dms", r.Why.ManagedBy)
	assert.True(t, reps[0].Results[1].Pass)

	_, _, code, err = runVPCLab(t, "test", f, f)
	assert.Equal(t, 1, code)
	assert.EqualError(t, err, "2 expectations failed")
	_, _, code, err = runVPCLab(t, "test", "/nonexistent.yaml")
	assert.Equal(t, 2, code)
	assert.EqualError(t, err, "1 of 1 file invalid")
	_, _, code, err = runVPCLab(t, "test", "/nonexistent.yaml", f)
	assert.Equal(t, 2, code)
	assert.EqualError(t, err, "1 of 2 files invalid")
}

// TestValidateGolden runs `vpclab validate` on the loader's invalid test
// files: the output is exactly the golden errors, exit status 2.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob("../../topology/testdata/*.yaml")
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
		if err != nil || strings.HasPrefix(filepath.Base(f), "valid") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			stdout, _, code, _ := runVPCLab(t, "validate", f)
			assert.Equal(t, 2, code)
			want := strings.ReplaceAll(string(golden), "testdata/", "../../topology/testdata/")
			assert.Equal(t, strings.TrimSpace(want), strings.TrimSpace(stdout))
		})
	}
	assert.Greater(t, n, 10)
}

func TestValidateAndTestExitCodes(t *testing.T) {
	stdout, _, code, _ := runVPCLab(t, "validate", "../../examples/eip.yaml")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "eip.yaml: ok")
	for _, args := range [][]string{
		{"validate"},
		{"validate", "/nonexistent.yaml"},
		{"test", "/nonexistent.yaml"},
		{"test", "-o", "yaml", "../../examples/eip.yaml"},
		{"test", "../../topology/testdata/rules.yaml"},
	} {
		_, _, code, _ := runVPCLab(t, args...)
		assert.Equal(t, 2, code, args)
	}
	stdout, _, code, _ = runVPCLab(t, "validate", "-o", "json", "../../topology/testdata/rules.yaml")
	assert.Equal(t, 2, code)
	var reps []validateReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &reps))
	require.NotEmpty(t, reps[0].Errors)
	assert.Greater(t, reps[0].Errors[0].Line, 0)
}

// dbDropTopology is a topology whose expectations (appended by each test)
// meet a managed_by drop rule: app reaching db on 5432 is dropped.
const dbDropTopology = `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-db
    rules:
      - {direction: ingress, policy: drop, priority: 2, protocol: tcp, port_range: 5432, source: 10.0.1.0/24, description: "no db from the subnet", managed_by: dms}
      - {direction: ingress, protocol: tcp, port_range: 1/65535, source: 10.0.0.0/16, priority: 3}
instances:
  - {name: app, vswitch: main}
  - {name: db, vswitch: main, security_groups: [sg-db], services: [{kind: echo, port: 5432}]}
expect:
`
