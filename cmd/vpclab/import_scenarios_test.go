package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportScenarios runs `vpclab test` on every scenario the importers
// keep beside their real configurations (topology/FORMAT/testdata/**/
// NAME.scenario.yaml): each imports a public Terraform, API, ROS or AWS file
// with imports:, adds what the file lacks, and asserts through the data
// plane what the configuration allows and blocks.
func TestImportScenarios(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		"../../topology/*/testdata/*/*.scenario.yaml",
		"../../topology/*/testdata/*/*/*.scenario.yaml",
		"../../examples/imports/*.yaml",
	} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.GreaterOrEqual(t, len(files), 15, "the importers' scenarios went missing")
	for _, f := range files {
		name, _ := filepath.Rel("../..", f)
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code, _ := runVPCLab(t, "test", f)
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		})
	}
}

// TestExplainShortName: explain takes an imported instance by its short
// name, as expectations do, and its report names the rule's origin in the
// user's Terraform file.
func TestExplainShortName(t *testing.T) {
	file := "../../topology/terraform/testdata/real/ecs-new-vpc.scenario.yaml"
	stdout, stderr, code, _ := runVPCLab(t, "explain", file, "--from", "customer", "--to", "instances[1]", "--protocol", "icmp")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "alicloud_instance.instances[1]")
	require.Contains(t, stdout, "from ")
	require.Contains(t, stdout, "alicloud_security_group_rule.")
}
