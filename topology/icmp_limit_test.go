package topology

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestManyRefusedUDPAtOnce checks that a burst of UDP probes to a closed
// port is refused every time. gVisor, like Linux, rate-limits ICMP errors
// (1,000 a second, bursts of 50): with that limit the later probes of a
// burst got no port-unreachable and were reported as a block, so a
// scenario's answer depended on how many probes shared the moment.
func TestManyRefusedUDPAtOnce(t *testing.T) {
	top, err := Load("burst.yaml", []byte(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: main, cidr: 10.0.1.0/24}]
instances:
  - {name: app, vswitch: main, security_groups: [sg]}
  - {name: db, vswitch: main, security_groups: [sg]}
security_groups: [{name: sg, rules: [{direction: ingress, protocol: udp, port_range: 9/9, source: 10.0.0.0/16}]}]
`))
	require.NoError(t, err)
	lab, err := Build(top)
	require.NoError(t, err)
	defer lab.Close()
	expects := make([]Expect, 400)
	for i := range expects {
		expects[i] = Expect{From: "app", To: "db", Protocol: "udp", Port: 9, Result: Refuse}
	}
	res := lab.RunExpects(context.Background(), expects, RunOptions{Parallel: 64, Timeout: 5 * time.Second})
	for i, r := range res {
		require.Equal(t, Refuse, r.Observed, "probe %d of %d: %s", i+1, len(res), r.Detail)
	}
}
