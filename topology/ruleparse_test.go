package topology

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

func TestParseRule(t *testing.T) {
	ok := []struct {
		name   string
		fields map[string]string
		want   firewall.Rule
	}{
		{"defaults and a single port", map[string]string{"direction": "ingress", "protocol": "TCP", "port_range": "80", "source": "10.0.0.0/8"},
			firewall.Rule{Direction: firewall.Ingress, Policy: firewall.Accept, Priority: 1, Protocol: "tcp", NICType: "intranet",
				Ports: firewall.Ports{Start: 80, End: 80}, Remote: netip.MustParsePrefix("10.0.0.0/8")}},
		{"every field", map[string]string{"direction": "Egress", "protocol": "udp", "port_range": "53/54", "destination_group": "sg-dns",
			"priority": "7", "policy": "DROP", "description": "no dns", "managed_by": "dms"},
			firewall.Rule{Direction: firewall.Egress, Policy: firewall.Drop, Priority: 7, Protocol: "udp", NICType: "intranet",
				Ports: firewall.Ports{Start: 53, End: 54}, RemoteGroup: "sg-dns", Description: "no dns", ManagedBy: "dms"}},
		{"host bits are stored by the network", map[string]string{"direction": "ingress", "protocol": "icmp", "source": "10.0.0.1/16"},
			firewall.Rule{Direction: firewall.Ingress, Policy: firewall.Accept, Priority: 1, Protocol: "icmp", NICType: "intranet",
				Remote: netip.MustParsePrefix("10.0.0.0/16")}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseRule(c.fields)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}

	bad := []struct {
		name   string
		fields map[string]string
		want   []string // the errors' texts
	}{
		{"malformed port", map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "80-90"},
			[]string{`InvalidPortRange.Malformed: port_range "80-90": port range "80-90": want "start/end" (1..65535) or "-1/-1" (allowed: start/end within 1..65535, a single port, or -1/-1)`}},
		{"unknown direction with a suggestion", map[string]string{"direction": "ingres", "protocol": "tcp"},
			[]string{`InvalidDirection.Malformed: direction "ingres": unknown value "ingres", did you mean "ingress"? (allowed: ingress, egress)`}},
		{"priority out of range", map[string]string{"direction": "ingress", "protocol": "tcp", "priority": "0"},
			[]string{`InvalidPriority.ValueNotSupported: priority "0": 0 is out of range (allowed: 1..100)`}},
		{"priority not a number", map[string]string{"direction": "ingress", "protocol": "tcp", "priority": "high"},
			[]string{`InvalidPriority.ValueNotSupported: priority "high": want an integer, got string "high" (allowed: 1..100)`}},
		{"missing protocol", map[string]string{"direction": "ingress"},
			[]string{`MissingParameter: protocol: required field is missing (allowed: tcp, udp, icmp, gre, all)`}},
		{"source on an egress rule", map[string]string{"direction": "egress", "protocol": "tcp", "source": "10.0.0.0/8"},
			[]string{`InvalidParameter.Conflict: source "10.0.0.0/8": source is for ingress rules; an egress rule names destination (allowed: destination, destination_group)`}},
		{"bad cidr", map[string]string{"direction": "ingress", "protocol": "tcp", "source": "10.0.0.300/8"},
			nil},
		{"a control character", map[string]string{"direction": "ingress", "protocol": "tcp", "description": "a\x1bb"},
			nil},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRule(c.fields)
			require.Error(t, err)
			errs := firewall.Errors(err)
			require.NotEmpty(t, errs, "every problem is a *firewall.Error: %v", err)
			if c.want == nil {
				for _, e := range errs {
					assert.NotEmpty(t, e.Code)
					assert.NotContains(t, e.Error(), "\x1b")
				}
				return
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			assert.Equal(t, c.want, got)
		})
	}
}
