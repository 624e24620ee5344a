package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOriginsInReports: test, explain and diagnose name the file:line:col
// and resource the deciding rule or group was imported from, in text and
// in JSON.
func TestOriginsInReports(t *testing.T) {
	const file = "testdata/origins/imported.yaml"
	for _, tc := range []struct {
		golden string
		code   int
		args   []string
	}{
		{"test.golden", 1, []string{"test", file}},
		{"explain.golden", 0, []string{"explain", file, "--from", "app", "--to", "web", "--port", "22"}},
		{"diagnose.golden", 0, []string{"diagnose", file, "--from", "app", "--to", "app2", "--port", "80"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			stdout, stderr, code, err := runVPCLab(t, tc.args...)
			require.Equal(t, tc.code, code, "%v\n%s", err, stderr)
			checkGoldenAt(t, "testdata/origins/"+tc.golden, stdout)
		})
	}

	stdout, _, code, _ := runVPCLab(t, "test", file, "-o", "json")
	require.Equal(t, 1, code)
	var reps []testFileReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &reps), stdout)
	require.Len(t, reps, 1)
	var origins []string
	for _, r := range reps[0].Results {
		origins = append(origins, r.Origin)
	}
	assert.Equal(t, []string{"infra/main.tf:27:3 alicloud_security_group_rule.no_ssh", "infra/app.tf:1:1 alicloud_security_group.app",
		"infra/main.tf:17:1 alicloud_security_group_rule.https"}, origins, "a pass names the rule that allowed it")

	stdout, _, code, _ = runVPCLab(t, "explain", file, "--from", "app", "--to", "web", "--port", "22", "-o", "json")
	require.Equal(t, 0, code)
	var rep pathReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	assert.Equal(t, "infra/main.tf:27:3 alicloud_security_group_rule.no_ssh", rep.Origin)
	require.Len(t, rep.Hops, 5)
	assert.Equal(t, "infra/main.tf:27:3 alicloud_security_group_rule.no_ssh", rep.Hops[3].Origin)
	assert.Empty(t, rep.Hops[1].Origin, "the implicit default has no origin")
}
