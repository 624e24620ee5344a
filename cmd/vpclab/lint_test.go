package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lintGolden compares got with testdata/lint/name, or rewrites it under -update.
func lintGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "lint", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/vpclab/ -run Lint -update")
	assert.Equal(t, string(want), got)
}

// TestLintFindingGolden lints one file per finding code: every golden holds
// its code at the file:line:col of the rule or group, and the exit status.
func TestLintFindingGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/lint/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			out, errOut, code := vpclab("lint", file)
			lintGolden(t, name+".golden", fmt.Sprintf("exit %d\n%s", code, out))
			switch name {
			case "clean":
				assert.Equal(t, 0, code, errOut)
			case "invalid":
				assert.Equal(t, 2, code, errOut)
			default:
				assert.Equal(t, 1, code, errOut)
				assert.Contains(t, out, ": "+strings.ToUpper(name)+": ", "the file's code is reported")
			}
		})
	}
}

// TestLintExamples lints every example: they show the cloud's behaviour, some
// on purpose with rules lint calls redundant (priorities, quotas).
func TestLintExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	var all strings.Builder
	for _, file := range files {
		out, errOut, code := vpclab("lint", file)
		require.Less(t, code, 2, "%s: %s", file, errOut)
		fmt.Fprintf(&all, "== %s (exit %d)\n%s", filepath.Base(file), code, strings.ReplaceAll(out, "../../", ""))
	}
	lintGolden(t, "examples.golden", all.String())
}

// TestLintWhy: a kept rule has a witness whose verdict changes; a redundant
// one names its cause and covering rule; a wrong GROUP/INDEX is invalid input.
func TestLintWhy(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"testdata/lint/shadowed.yaml", "--why", "sg-web/0"}, 0,
			[]string{"sg-web rule 0 (ingress accept priority 1 tcp 1/1024 source 10.0.0.0/8) at testdata/lint/shadowed.yaml:",
				"witness on web, ingress: tcp ", "with the rule:    SG_RULE_ACCEPT", "without the rule: SG_DEFAULT_DENY"}},
		{[]string{"testdata/lint/shadowed.yaml", "--why", "sg-web/1"}, 0,
			[]string{"redundant (SHADOWED) on every instance of the group (web)", "covered by: sg-web rule 0 "}},
		{[]string{"testdata/lint/duplicate.yaml", "--why", "sg-web/1"}, 0, []string{"DUPLICATE", "covered by: sg-web rule 0 "}},
		{[]string{"testdata/lint/shadowed.yaml", "--why", "sg-web/7"}, 2, []string{"group sg-web has no rule 7 (allowed: 0, 1)"}},
		{[]string{"testdata/lint/shadowed.yaml", "--why", "sg-nope/0"}, 2, []string{`no group "sg-nope" with rules in the file (allowed: sg-web)`}},
		{[]string{"testdata/lint/shadowed.yaml", "--why", "sg-web"}, 2, []string{"want GROUP/INDEX"}},
		{[]string{"testdata/lint/shadowed.yaml", "testdata/lint/clean.yaml", "--why", "sg-web/0"}, 2, []string{"give one file"}},
		{[]string{}, 2, []string{"give at least one file"}},
		{[]string{"testdata/lint/clean.yaml", "-o", "yaml"}, 2, []string{`-o "yaml"`}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := vpclab(append([]string{"lint"}, tt.args...)...)
			assert.Equal(t, tt.code, code, out+errOut)
			for _, w := range tt.want {
				assert.Contains(t, out+errOut, w)
			}
		})
	}
}

// TestLintJSON: -o json is one report per file, an invalid one with the
// validate errors and exit 2.
func TestLintJSON(t *testing.T) {
	out, _, code := vpclab("lint", "-o", "json", "testdata/lint/shadowed.yaml", "testdata/lint/invalid.yaml")
	assert.Equal(t, 2, code)
	var reps []struct {
		File      string           `json:"file"`
		Valid     bool             `json:"valid"`
		Findings  []map[string]any `json:"findings"`
		Redundant map[string][]int `json:"redundant"`
		Errors    []fileError      `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &reps), out)
	require.Len(t, reps, 2)
	assert.True(t, reps[0].Valid)
	assert.Equal(t, map[string][]int{"sg-web": {1}}, reps[0].Redundant, "the hook of lint --fix")
	require.Len(t, reps[0].Findings, 1)
	assert.Equal(t, "SHADOWED", reps[0].Findings[0]["code"])
	assert.Equal(t, float64(9), reps[0].Findings[0]["line"])
	assert.False(t, reps[1].Valid)
	require.NotEmpty(t, reps[1].Errors)
	assert.Equal(t, "testdata/lint/invalid.yaml", reps[1].Errors[0].File)
	assert.Positive(t, reps[1].Errors[0].Line)
}

// TestLintFix: --fix prints the file with fewer rules and the same policy
// (the output lints clean of redundancy), reports the savings on stderr,
// and -w writes it back; misuse is exit 2.
func TestLintFix(t *testing.T) {
	data, err := os.ReadFile("../../lint/fix/testdata/commented.yaml")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, data, 0o640))

	stdout, stderr, code, _ := runVPCLab(t, "lint", "--fix", file)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "SAVED")
	require.Contains(t, stdout, "# the web tier", "comments are kept")
	fixed := filepath.Join(t.TempDir(), "fixed.yaml")
	require.NoError(t, os.WriteFile(fixed, []byte(stdout), 0o600))
	before, _, _, _ := runVPCLab(t, "lint", "-o", "json", file)
	after, _, _, _ := runVPCLab(t, "lint", "-o", "json", fixed)
	require.Contains(t, before, `"redundant"`)
	require.NotContains(t, after, `"redundant"`, "nothing redundant is left")

	_, stderr, code, _ = runVPCLab(t, "lint", "--fix", "-w", file)
	require.Equal(t, 0, code, stderr)
	written, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, stdout, string(written))
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "the file keeps its mode")

	for _, args := range [][]string{
		{"lint", "-w", file},
		{"lint", "--fix", file, file},
		{"lint", "--fix", "--why", "sg-web/0", file},
	} {
		_, _, code, _ := runVPCLab(t, args...)
		require.Equal(t, 2, code, args)
	}
}
