package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJSONErrorsEveryCommand checks that every command taking -o json
// prints an invalid file's problems as JSON on stdout, each naming its
// entity, exits 2 and says one line on stderr.
func TestJSONErrorsEveryCommand(t *testing.T) {
	const file = "../../topology/testdata/quotas.yaml"
	path := []string{"--from", "a", "--to", "b", "--port", "22"}
	for _, args := range [][]string{
		{"validate", file},
		{"test", file},
		{"explain", file},
		{"diagnose", file},
		{"graph", file},
		{"matrix", file},
		{"up", "--duration", "1ms", file},
	} {
		t.Run(args[0], func(t *testing.T) {
			if args[0] == "explain" || args[0] == "diagnose" {
				args = append(args, path...)
			}
			stdout, stderr, code, _ := runVPCLab(t, append(args, "-o", "json")...)
			assert.Equal(t, 2, code)
			var reps []validateReport
			if strings.HasPrefix(strings.TrimSpace(stdout), "[") {
				require.NoError(t, json.Unmarshal([]byte(stdout), &reps), stdout)
			} else {
				var r validateReport
				require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
				reps = append(reps, r)
			}
			require.Len(t, reps, 1)
			assert.False(t, reps[0].Valid)
			require.Len(t, reps[0].Errors, 4, stdout)
			e := reps[0].Errors[0]
			assert.Equal(t, fileError{File: file, Line: 10, Column: 10, Path: "security_groups[0].rules[2]", Entity: "sg-a",
				Code: "AuthorizationLimitExceed", Message: e.Message}, e)
			assert.Equal(t, "b", reps[0].Errors[2].Entity)
			assert.NotContains(t, stderr, "security_groups", "stderr holds no problem text, only a summary")
		})
	}
}

// TestWarningsPrinted checks that validate and test print the loader's
// warnings on stderr, and in the JSON with -o json, without changing the
// exit status.
func TestWarningsPrinted(t *testing.T) {
	src := `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80, source: 10.0.1.9/24}
instances:
  - {name: a, vswitch: main, security_groups: [sg-web], services: [{kind: http, port: 80}]}
  - {name: b, vswitch: main}
expect:
  - {from: b, to: a, port: 80, result: allow}
`
	f := writeTemp(t, "warn.yaml", src)
	want := f + ":7:69: warning: security_groups[0] (sg-web).rules[0].source: 10.0.1.9/24 has host bits set; normalized to its network 10.0.1.0/24"
	for _, cmd := range []string{"validate", "test", "graph"} {
		t.Run(cmd, func(t *testing.T) {
			stdout, stderr, code, err := runVPCLab(t, cmd, f)
			require.NoError(t, err, stdout)
			assert.Equal(t, 0, code)
			assert.Contains(t, stderr, want)
			assert.NotContains(t, stdout, "warning")
		})
	}
	stdout, _, code, _ := runVPCLab(t, "validate", "-o", "json", f)
	assert.Equal(t, 0, code)
	var reps []validateReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &reps), stdout)
	require.Len(t, reps[0].Warnings, 1)
	assert.Equal(t, fileWarning{File: f, Line: 7, Column: 69, Path: "security_groups[0].rules[0].source", Entity: "sg-web",
		Message: reps[0].Warnings[0].Message}, reps[0].Warnings[0])
	stdout, _, code, _ = runVPCLab(t, "test", "-o", "json", f)
	assert.Equal(t, 0, code)
	var treps []testFileReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &treps), stdout)
	require.Len(t, treps[0].Warnings, 1)
	assert.Equal(t, 1, treps[0].Passed)
}

// TestValidatePlurals checks validate's counts read as English.
func TestValidatePlurals(t *testing.T) {
	f := filepath.Join(t.TempDir(), "one.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: a, cidr: 10.0.1.0/24}]
security_groups: [{name: sg-a}]
instances: [{name: vm, vswitch: a, security_groups: [sg-a]}]
expect: [{from: vm, to: vm, protocol: icmp, result: allow}]
`), 0o644))
	stdout, _, code, _ := runVPCLab(t, "validate", f)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "ok (1 instance, 1 security group, 1 expectation)")
	_, _, code, err := runVPCLab(t, "validate", "../../topology/testdata/rules.yaml")
	assert.Equal(t, 2, code)
	require.Error(t, err)
	assert.Equal(t, "1 of 1 file invalid", err.Error())
}
