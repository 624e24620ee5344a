package topology

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// TestBuildConntrackFromYAML checks that conntrack: reaches the VPC's
// table: max_entries bounds it (a second connection while the first one's
// entry lingers is dropped CONNTRACK_FULL) and idle_timeout ends a quiet
// flow.
func TestBuildConntrackFromYAML(t *testing.T) {
	top, err := Load("ct.yaml", []byte(`version: 1
conntrack: {max_entries: 1, idle_timeout: 30s}
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
instances:
  - {name: app, vswitch: main, security_groups: [sg]}
  - {name: db, vswitch: main, security_groups: [sg], services: [{kind: echo, port: 5432}, {kind: echo, port: 53, protocol: udp}]}
security_groups: [{name: sg}]
`))
	require.NoError(t, err)
	lab, err := Build(top)
	require.NoError(t, err)
	defer func() { lab.Close() }() // the lab in use at the end
	ct := lab.VPC.Firewall().Conntrack()
	assert.Equal(t, 1, ct.Stats().Max)

	tcp := Expect{From: "app", To: "db", Protocol: "tcp", Port: 5432, Result: Allow}
	res := lab.RunExpects(context.Background(), []Expect{tcp, tcp}, RunOptions{Parallel: 1, Timeout: 3 * time.Second})
	assert.Equal(t, Allow, res[0].Observed, res[0].Detail)
	assert.Equal(t, Block, res[1].Observed, res[1].Detail)
	if assert.NotNil(t, res[1].Why) {
		assert.Equal(t, firewall.ConntrackFull.String(), res[1].Why.Code)
	}

	// A fresh lab for the idle timeout: after a Flush, the closing
	// packets of the TCP probes above would be picked up again (§4.3)
	// and fill the one-entry table.
	lab.Close()
	lab, err = Build(top)
	require.NoError(t, err)
	ct = lab.VPC.Firewall().Conntrack()
	udp := Expect{From: "app", To: "db", Protocol: "udp", Port: 53, Result: Allow}
	res = lab.RunExpects(context.Background(), []Expect{udp}, RunOptions{Timeout: 3 * time.Second})
	require.Equal(t, Allow, res[0].Observed, res[0].Detail)
	require.Equal(t, 1, ct.Len())
	ct.Clock().Advance(25 * time.Second)
	assert.Equal(t, 0, ct.Expire(), "expired before idle_timeout")
	ct.Clock().Advance(10 * time.Second)
	assert.Equal(t, 1, ct.Expire(), "not expired after idle_timeout (30s)")
}
