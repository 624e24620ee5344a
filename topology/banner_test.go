package topology

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bannerTopology has banners with and without text; its expect lines probe
// them from the VPC and from the internet.
const bannerTopology = `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-mx
    rules:
      - {direction: ingress, protocol: tcp, port_range: 1/65535, source: 0.0.0.0/0}
instances:
  - name: mx-1
    vswitch: web
    security_groups: [sg-mx]
    eip: 47.100.0.25
    services:
      - {kind: banner, port: 22}
      - {kind: banner, port: 25}
      - {kind: banner, port: 2000}
      - {kind: banner, port: 2001, text: "220-first line\r\n220 second line"}
      - {kind: banner, port: 2002, text: "no line ending"}
  - {name: cli, vswitch: web, security_groups: [sg-mx]}
internet:
  hosts: [{name: customer, ip: 192.0.2.10}]
expect:
  - {from: cli, to: mx-1, port: 22, result: allow}
  - {from: customer, to: mx-1, port: 25, result: allow}
  - {from: cli, to: mx-1, port: 2000, result: allow}
  - {from: cli, to: mx-1, port: 2001, result: allow}
  - {from: cli, to: mx-1, port: 2002, result: allow}
`

// TestRunBanner: a banner without text is valid and answers with the
// default for its port; the probe reads the first line and closes, so it
// does not wait for the banner's hold (10 s) or the probe timeout.
func TestRunBanner(t *testing.T) {
	topo, err := Load("banner.yaml", []byte(bannerTopology))
	require.NoError(t, err)
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	start := time.Now()
	results := lab.Run(context.Background(), RunOptions{Timeout: 5 * time.Second})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the banner probes took %v: they waited for the server to close", d)
	}
	want := []string{
		`banner "SSH-2.0-OpenSSH_9.6"`,
		`banner "220 mx-1 ESMTP vpclab"`,
		`banner "mx-1"`,
		`banner "220-first line"`,
		`banner "no line ending"`,
	}
	require.Len(t, results, len(want))
	for i, r := range results {
		assert.True(t, r.Pass, "%s: observed %s: %s", r.Label(), r.Observed, r.Detail)
		assert.Equal(t, want[i], r.Detail, r.Label())
	}
}
