package topology

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunImported builds a topology merged from imports and runs its
// expectations, and more: imported instances answer on every port (the
// catch-all), so allow and block are the security groups' alone.
func TestRunImported(t *testing.T) {
	top, err := LoadFile("testdata/imports/valid-merge.yaml")
	require.NoError(t, err)
	lab, err := Build(top)
	require.NoError(t, err)
	defer lab.Close()
	web0 := lab.VPC.Instance("alicloud_instance.web[0]")
	require.NotNil(t, web0)
	if !web0.Listening("tcp", 443) {
		t.Skip("netstack has no catch-all listener in this tree (netstack.AllPorts lands with the ns branch)")
	}
	expects := append(top.Expect,
		Expect{From: "customer", To: "alicloud_instance.web[0]", Protocol: "tcp", Port: 22, Result: Block}, // the group's drop rule
		Expect{From: "customer", To: "alicloud_instance.web[0]", Protocol: "tcp", Port: 8443, Result: Block},
		Expect{From: "bastion", To: "alicloud_instance.web[0]", Protocol: "tcp", Port: 31337, Result: Allow}, // inner access of the group
		Expect{From: "bastion", To: "alicloud_instance.web[1]", Protocol: "udp", Port: 5353, Result: Allow},
		Expect{From: "db-1", To: "alicloud_instance.web[1]", Protocol: "tcp", Port: 22, Result: Block}, // an enterprise group denies egress
		Expect{From: "alicloud_instance.web[0]", To: "db-1", Protocol: "tcp", Port: 5432, Result: Allow},
		Expect{From: "alicloud_instance.web[0]", To: "db-1", Protocol: "tcp", Port: 80, Result: Block},
	)
	results := lab.RunExpects(context.Background(), expects, RunOptions{Timeout: 3 * time.Second})
	for _, r := range results {
		assert.True(t, r.Pass, "%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
	}
}
