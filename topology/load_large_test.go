package topology

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// largeTopology writes a topology of n instances in two security groups
// (web answers on 80, db on nothing) and e expectations, half of them
// blocked: about 9 MiB for 10,000 instances and 100,000 expectations.
func largeTopology(n, e int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {name: big, cidr: 10.0.0.0/8}\nvswitches:\n  - {name: main, cidr: 10.0.0.0/8}\n")
	b.WriteString("security_groups:\n  - name: sg-web\n    rules:\n      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.0.0.0/8}\n  - name: sg-db\n    rules: []\n")
	b.WriteString("instances:\n")
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {name: web-%d, vswitch: main, security_groups: [sg-web], services: [{kind: http, port: 80}]}\n", i)
		} else {
			fmt.Fprintf(&b, "  - {name: db-%d, vswitch: main, security_groups: [sg-db]}\n", i)
		}
	}
	b.WriteString("expect:\n")
	for i := range e {
		from := (i * 7) % n
		fromName := fmt.Sprintf("web-%d", from&^1)
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {name: \"web %d\", from: %s, to: web-%d, protocol: tcp, port: 80, result: allow}\n", i, fromName, (i/2*2+2)%n&^1)
		} else {
			fmt.Fprintf(&b, "  - {name: \"db %d\", from: %s, to: db-%d, protocol: tcp, port: 5432, result: block}\n", i, fromName, (i/2*2+3)%n|1)
		}
	}
	return []byte(b.String())
}

// TestLoadLargeFile loads 10,000 instances with 100,000 expectations (about
// 9 MiB, over the old 2 MiB limit), logging how long it took.
func TestLoadLargeFile(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("loads a 9 MiB file")
	}
	data := largeTopology(10_000, 100_000)
	start := time.Now()
	top, err := Load("large.yaml", data)
	took := time.Since(start)
	require.NoError(t, err)
	require.Len(t, top.Instances, 10_000)
	require.Len(t, top.Expect, 100_000)
	t.Logf("%s loaded in %v", FormatSize(int64(len(data))), took)
}
