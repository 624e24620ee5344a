package topology

import (
	"testing"
)

// TestBuildProgress: OnProgress reports done rising from 0 to total, total
// being two steps per instance and one per internet host and NAT gateway,
// and no more than once per percent.
func TestBuildProgress(t *testing.T) {
	small := []byte(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
instances: [{name: web-1, vswitch: web, services: [{kind: http, port: 80}]}]
nat_gateways: [{name: nat-1, vswitch: web, eip: 47.100.0.100, snat: [web]}]
internet: {hosts: [{name: customer, ip: 192.0.2.10}]}
`)
	for _, tc := range []struct {
		name      string
		src       []byte
		total     int
		wantCalls int // exactly; 0: at most 101
	}{
		{"one of each", small, 4, 5},
		{"250 instances", genTopology(250, 5, 0), 500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, err := Load("p.yaml", tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var calls [][2]int
			lab, err := Build(top, OnProgress(func(done, total int) { calls = append(calls, [2]int{done, total}) }))
			if err != nil {
				t.Fatal(err)
			}
			lab.Close()
			if len(calls) == 0 || calls[0][0] != 0 || calls[len(calls)-1][0] != tc.total {
				t.Fatalf("calls %v: want done from 0 to %d", calls, tc.total)
			}
			for i, c := range calls {
				if c[1] != tc.total {
					t.Errorf("call %d: total %d, want %d", i, c[1], tc.total)
				}
				if i > 0 && c[0] <= calls[i-1][0] {
					t.Errorf("call %d: done %d after %d, want it rising", i, c[0], calls[i-1][0])
				}
			}
			if tc.wantCalls > 0 && len(calls) != tc.wantCalls || len(calls) > 101 {
				t.Errorf("%d calls %v; want %d (at most 101)", len(calls), calls, tc.wantCalls)
			}
		})
	}
}
