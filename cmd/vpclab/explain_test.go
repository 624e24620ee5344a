package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		allowed  bool
		code     string
		steps    []string
		contains []string
	}{
		{name: "eip inbound", args: []string{"--from", "customer", "--to", "web-1", "--port", "443"}, allowed: true,
			code: "SG_RULE_ACCEPT", steps: []string{"route", "nat", "ingress", "listener"}},
		{name: "skip a tier", args: []string{"--from", "web-1", "--to", "db-1", "--port", "5432"},
			code: "SG_DEFAULT_DENY", steps: []string{"platform", "egress", "route", "ingress", "listener"}},
		{name: "smtp", args: []string{"--from", "app-1", "--to", "mail", "--port", "25"},
			code: "PLATFORM_PORT_BLOCKED"},
		{name: "dnat", args: []string{"--from", "office", "--to", "47.100.0.100", "--port", "2222"}, allowed: true,
			code: "SG_RULE_ACCEPT", steps: []string{"route", "nat", "ingress", "listener"}},
		{name: "ping via snat", args: []string{"--from", "db-1", "--to", "updates", "--protocol", "icmp"}, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, code, err := runVPCLab(t, append([]string{"explain", "../../cmd/vpclab/default.yaml", "-o", "json"}, tt.args...)...)
			require.NoError(t, err, stdout)
			assert.Equal(t, 0, code)
			var rep pathReport
			require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
			assert.Equal(t, tt.allowed, rep.Allowed)
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
	assert.Contains(t, stdout, "— agrees")

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
