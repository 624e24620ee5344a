package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		allowed  bool
		result   string // the analysis' and the real packet's word
		code     string
		steps    []string
		contains []string
	}{
		{name: "eip inbound", args: []string{"--from", "customer", "--to", "web-1", "--port", "443"}, allowed: true, result: "allow",
			code: "SG_RULE_ACCEPT", steps: []string{"route", "nat", "ingress", "listener"}},
		{name: "skip a tier", args: []string{"--from", "web-1", "--to", "db-1", "--port", "5432"}, result: "block",
			code: "SG_DEFAULT_DENY", steps: []string{"platform", "egress", "route", "ingress", "listener"}},
		{name: "smtp", args: []string{"--from", "app-1", "--to", "mail", "--port", "25"}, result: "block",
			code: "PLATFORM_PORT_BLOCKED"},
		{name: "dnat", args: []string{"--from", "office", "--to", "47.100.0.100", "--port", "2222"}, allowed: true, result: "allow",
			code: "SG_RULE_ACCEPT", steps: []string{"route", "nat", "ingress", "listener"}},
		{name: "ping via snat", args: []string{"--from", "db-1", "--to", "updates", "--protocol", "icmp"}, allowed: true, result: "allow"},
		{name: "nothing listens", args: []string{"--from", "app-1", "--to", "mail", "--port", "587"}, result: "refuse",
			code: "NO_LISTENER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, code, err := runVPCLab(t, append([]string{"explain", "../../cmd/vpclab/default.yaml", "-o", "json"}, tt.args...)...)
			require.NoError(t, err, stdout)
			assert.Equal(t, 0, code)
			var rep pathReport
			require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
			assert.Equal(t, tt.allowed, rep.Allowed)
			assert.Equal(t, tt.result, rep.Result, "the analysis says it in the words of vpclab test")
			assert.Equal(t, tt.result, rep.Probe.Observed)
			if tt.code != "" {
				assert.Equal(t, tt.code, rep.Verdict.Code)
			}
			if tt.steps != nil {
				var got []string
				for _, h := range rep.Hops {
					got = append(got, h.Step)
				}
				assert.Equal(t, tt.steps, got)
			}
			assert.True(t, rep.Agrees, "the real packet must agree: %+v", rep.Probe)
		})
	}

	stdout, _, code, err := runVPCLab(t, "explain", "../../cmd/vpclab/default.yaml", "--from", "office", "--to", "47.100.0.100", "--port", "2222")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "tcp 198.51.100.7:40000 -> 47.100.0.100:2222  ⇒  tcp 198.51.100.7:40000 -> 10.0.3.1:22")
	assert.Contains(t, stdout, "group=sg-db priority=1 policy=accept")
	assert.Contains(t, stdout, "verdict: allow — SG_RULE_ACCEPT")
	assert.Contains(t, stdout, "real packet: allow (banner \"SSH-2.0-OpenSSH_9.6\") — agrees")

	// Nothing listens: the same word, refuse, on the listener hop, the
	// verdict and the real packet.
	stdout, _, code, err = runVPCLab(t, "explain", "../../cmd/vpclab/default.yaml", "--from", "app-1", "--to", "mail", "--port", "587")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Regexp(t, `listener +mail +REFUSE +NO_LISTENER`, stdout)
	assert.Contains(t, stdout, "verdict: refuse — NO_LISTENER")
	assert.Contains(t, stdout, "real packet: refuse (connection refused (TCP RST)) — agrees")

	for _, args := range [][]string{
		{"explain", "../../cmd/vpclab/default.yaml", "--to", "web-1", "--port", "80"},
		{"explain", "../../cmd/vpclab/default.yaml", "--from", "customer", "--to", "nobody", "--port", "80"},
		{"explain", "../../cmd/vpclab/default.yaml", "--from", "customer", "--to", "web-1"},
		{"explain", "../../cmd/vpclab/default.yaml", "--from", "customer", "--to", "web-1", "--port", "80", "--protocol", "sctp"},
		{"explain", "/nonexistent.yaml", "--from", "a", "--to", "b", "--port", "1"},
		{"diagnose", "../../cmd/vpclab/default.yaml", "--from", "ghost", "--to", "web-1", "--port", "80"},
	} {
		_, _, code, _ := runVPCLab(t, args...)
		assert.Equal(t, 2, code, args)
	}
}

func TestDiagnose(t *testing.T) {
	stdout, _, code, err := runVPCLab(t, "diagnose", "../../cmd/vpclab/default.yaml", "--from", "customer", "--to", "web-1", "--port", "22")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "symptom: SSH (22) fails")
	assert.Contains(t, stdout, "fix:     add ingress accept tcp 22/22 from 192.0.2.10/32 to sg-web")

	stdout, _, _, err = runVPCLab(t, "diagnose", "-o", "json", "../../cmd/vpclab/default.yaml", "--from", "app-1", "--to", "mail", "--port", "25")
	require.NoError(t, err)
	var rep pathReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.NotNil(t, rep.Diagnosis)
	assert.Equal(t, "mail on 25 fails", rep.Diagnosis.Symptom)
	assert.Contains(t, rep.Diagnosis.Fix, "465")
	assert.True(t, rep.Agrees)
}

func TestDiagnoseWorks(t *testing.T) {
	stdout, _, code, err := runVPCLab(t, "diagnose", "../../cmd/vpclab/default.yaml", "--from", "web-1", "--to", "app-1", "--port", "8080")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout, `symptom: none — web-1 reaches app-1 on tcp 8080
cause:   it works: ingress rule 0 of sg-app allows it [ingress accept priority 1 tcp 8080/8080 source_group sg-web "api from the web tier"]

`), stdout)
	assert.NotContains(t, stdout, "fix:")
	assert.NotContains(t, stdout, "fails")

	stdout, _, code, err = runVPCLab(t, "diagnose", "-o", "json", "../../cmd/vpclab/default.yaml", "--from", "db-1", "--to", "updates", "--port", "80")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	var rep pathReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.NotNil(t, rep.Diagnosis)
	assert.True(t, rep.Diagnosis.Works)
	assert.Equal(t, "none — db-1 reaches updates on tcp 80", rep.Diagnosis.Symptom)
	assert.Empty(t, rep.Diagnosis.Fix)
	assert.Equal(t, "allow", rep.Result)
	assert.True(t, rep.Agrees)
}

func TestDiagnoseRefuse(t *testing.T) {
	stdout, _, code, err := runVPCLab(t, "diagnose", "../../cmd/vpclab/default.yaml", "--from", "app-1", "--to", "mail", "--port", "587")
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "cause:   the security groups allow it, but nothing listens on tcp 587 at mail: its stack answers with a TCP RST (connection refused)")
	assert.Contains(t, stdout, "fix:     start a listener on tcp 587 in mail (e.g. services: [{kind: echo, port: 587}]); no rule change is needed")
	assert.NotContains(t, stdout, "add ingress")
	assert.Contains(t, stdout, "real packet: refuse")
}

// TestPathUnknownName: a name that is neither an instance nor an internet
// host is invalid input (exit 2), and the error lists the valid names and
// the closest one.
func TestPathUnknownName(t *testing.T) {
	const names = "instances: app-1, db-1, mx-1, web-1; internet hosts: customer, mail, office, updates"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--from", "nobody", "--to", "web-1", "--port", "80"},
			`--from nobody: no instance or internet host "nobody" (` + names + `)`},
		{[]string{"diagnose", "--from", "web1", "--to", "db-1", "--port", "80"},
			`--from web1: no instance or internet host "web1", did you mean "web-1"? (` + names + `)`},
		{[]string{"explain", "--from", "web-1", "--to", "nobody", "--port", "80"},
			`--to nobody: no instance or internet host "nobody" (` + names + `; or an IPv4 address)`},
		{[]string{"diagnose", "--from", "customer", "--to", "updats", "--port", "80"},
			`--to updats: no instance or internet host "updats", did you mean "updates"? (` + names + `; or an IPv4 address)`},
	} {
		_, _, code, err := runVPCLab(t, append(tt.args, "../../cmd/vpclab/default.yaml")...)
		assert.Equal(t, 2, code, tt.args)
		if assert.Error(t, err, tt.args) {
			assert.Equal(t, tt.want, err.Error())
		}
	}
}
