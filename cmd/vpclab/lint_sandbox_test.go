package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/lint"
	"github.com/vpclab/vpclab/sandbox"
)

const lintLiveTopology = `version: 1
name: lint-live
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.0.0.0/8}
      - {direction: ingress, protocol: tcp, port_range: 8080/8080, source: 10.0.0.0/8}
  - name: sg-client
instances:
  - {name: web, vswitch: main, security_groups: [sg-web], services: [{kind: http, port: 80}]}
  - {name: client, vswitch: main, security_groups: [sg-client]}
`

// liveLint runs lint --sandbox lint-live -o json and decodes it.
func liveLint(t *testing.T, args ...string) (sandbox.LintResponse, int) {
	t.Helper()
	out, errOut, code := vpclab(append([]string{"lint", "--sandbox", "lint-live", "-o", "json"}, args...)...)
	var resp sandbox.LintResponse
	require.NoError(t, json.Unmarshal([]byte(out), &resp), out+errOut)
	return resp, code
}

// codesOf lists "CODE group/index kind" of every rule finding.
func codesOf(rep *lint.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Rule != nil {
			out = append(out, f.Code+" "+f.Group+"/"+itoa(f.Rule.Index)+" "+f.Rule.Kind)
		}
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestLintSandboxLive lints a running sandbox through a real up: rules that
// no connection used are NEVER_MATCHED, one a probe used is not; a rule added
// through the control API is linted (SHADOWED by the file's rule) and one
// removed is gone.
func TestLintSandboxLive(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	file := writeTopology(t, lintLiveTopology)
	wait, _ := runningUp(t, file)

	resp, code := liveLint(t)
	assert.Equal(t, 1, code)
	assert.ElementsMatch(t, []string{"NEVER_MATCHED sg-web/0 rule", "NEVER_MATCHED sg-web/1 rule"}, codesOf(resp.Report))

	// A rule added while it runs; adding recompiles sg-web's policy, whose
	// counters start again from zero.
	mustVerb(t, "rule", "add", "sg-web", "--direction", "ingress", "--protocol", "tcp", "--port", "80", "--source", "10.0.1.0/24")
	mustVerb(t, "probe", "--from", "client", "--to", "web", "--port", "80", "--expect", "allow")

	resp, code = liveLint(t)
	assert.Equal(t, 1, code)
	assert.ElementsMatch(t, []string{"NEVER_MATCHED sg-web/1 rule", "SHADOWED sg-web/-1 runtime", "NEVER_MATCHED sg-web/-1 runtime"},
		codesOf(resp.Report))

	resp, code = liveLint(t, "--why", "sg-web/0")
	assert.Equal(t, 0, code)
	require.NotNil(t, resp.Why)
	assert.False(t, resp.Why.Redundant)
	assert.Equal(t, []string{"web"}, resp.Why.NeededOn)

	out, errOut, code := vpclab("lint", "--sandbox", "lint-live", "--why", "sg-web/9")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, errOut, "group sg-web has no rule 9 (allowed: 0, 1)")

	mustVerb(t, "rule", "remove", "sg-web", "--direction", "ingress", "--protocol", "tcp", "--port", "8080", "--source", "10.0.0.0/8")
	out, _, code = vpclab("lint", "--sandbox", "lint-live")
	assert.Equal(t, 1, code)
	assert.NotContains(t, out, "8080", "a removed rule is not linted")
	assert.Contains(t, out, "SHADOWED: sg-web rule added at runtime (ingress accept priority 1 tcp 80/80 source 10.0.1.0/24)")
	assert.True(t, strings.HasPrefix(out, file+":"), "the file's rules keep their positions:\n%s", out)

	_, _, upCode := wait()
	assert.Equal(t, 0, upCode)
}
