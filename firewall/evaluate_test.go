package firewall

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvaluate checks that Evaluate gives the verdict Decide gives a new
// connection, in the same order (platform, egress, ingress), and that it
// neither touches conntrack nor counts rule hits.
func TestEvaluate(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "sg-web", Rules: []Rule{
		in("tcp", Ports{80, 80}, "0.0.0.0/0"),
		{Direction: Ingress, Policy: Drop, Priority: 5, Protocol: "tcp", Ports: Ports{23, 23}, Remote: pfx("0.0.0.0/0")},
	}})
	l.group(Group{Name: "sg-ent", Type: Enterprise, Rules: []Rule{out("tcp", Ports{80, 80}, "10.0.1.10/32")}})
	l.group(Group{Name: "sg-iso", InnerAccess: InnerDrop})
	web := l.nic("web", "10.0.1.10", "sg-web")
	ent := l.nic("ent", "10.0.1.20", "sg-ent")
	iso1 := l.nic("iso1", "10.0.1.30", "sg-iso")
	iso2 := l.nic("iso2", "10.0.1.31", "sg-iso")

	tests := []struct {
		name     string
		h        *Header
		path     Path
		code     Code
		dir      Direction
		egress   Code // EvaluateDir of path.Src (CodeNone: no Src)
		ingress  Code // EvaluateDir of path.Dst (CodeNone: no Dst)
		ruleDeci int  // the deciding rule's index in its group, -1: none
	}{
		{"rule accept", syn("10.0.1.20", "10.0.1.10", 1000, 80), Path{Src: ent, Dst: web},
			SGRuleAccept, Ingress, SGRuleAccept, SGRuleAccept, 0},
		{"enterprise egress deny", syn("10.0.1.20", "10.0.1.10", 1000, 81), Path{Src: ent, Dst: web},
			SGDefaultDeny, Egress, SGDefaultDeny, SGDefaultDeny, -1},
		{"ingress rule drop", syn("198.51.100.7", "10.0.1.10", 1000, 23), Path{Dst: web},
			SGRuleDrop, Ingress, CodeNone, SGRuleDrop, 1},
		{"ingress default deny", udp("198.51.100.7", "10.0.1.10", 1000, 53), Path{Dst: web},
			SGDefaultDeny, Ingress, CodeNone, SGDefaultDeny, -1},
		{"inner drop", echo("10.0.1.30", "10.0.1.31", 7, false), Path{Src: iso1, Dst: iso2},
			SGInnerDrop, Ingress, SGDefaultAccept, SGInnerDrop, -1},
		{"basic egress default", syn("10.0.1.10", "203.0.113.9", 1000, 443), Path{Src: web, ToInternet: true},
			SGDefaultAccept, Egress, SGDefaultAccept, CodeNone, -1},
		{"platform before rules", syn("10.0.1.20", "203.0.113.9", 1000, 25), Path{Src: ent, ToInternet: true},
			PlatformPortBlocked, Egress, SGDefaultDeny, CodeNone, -1},
		{"port 25 inside the VPC", syn("10.0.1.10", "10.0.1.30", 1000, 25), Path{Src: web, Dst: iso1},
			SGDefaultDeny, Ingress, SGDefaultAccept, SGDefaultDeny, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := func() [][]uint64 {
				var out [][]uint64
				for _, n := range []*NIC{web, ent, iso1, iso2} {
					out = append(out, n.Policy().Ingress.Hits(), n.Policy().Egress.Hits())
				}
				return out
			}
			before, ctLen := hits(), l.fw.Conntrack().Len()
			v := l.fw.Evaluate(tt.h, tt.path)
			assert.Equal(t, tt.code, v.Code, "Evaluate: %s", Explain(v))
			assert.Equal(t, tt.dir, v.Dir)
			if tt.ruleDeci >= 0 {
				assert.Equal(t, tt.ruleDeci, Explain(v).RuleIndex)
			}
			if tt.path.Src != nil {
				assert.Equal(t, tt.egress, l.fw.EvaluateDir(tt.h, tt.path.Src, Egress).Code, "egress")
			}
			if tt.path.Dst != nil {
				assert.Equal(t, tt.ingress, l.fw.EvaluateDir(tt.h, tt.path.Dst, Ingress).Code, "ingress")
			}
			assert.Equal(t, before, hits(), "Evaluate counts no hits")
			assert.Equal(t, ctLen, l.fw.Conntrack().Len(), "Evaluate creates no conntrack entry")

			// The data plane's verdict for the same first packet.
			d := l.fw.Decide(tt.h, tt.path)
			require.Equal(t, v.Code, d.Code, "Decide: %s", Explain(d))
			assert.Equal(t, v.Entry, d.Entry)
			if d.Allowed() {
				// Now tracked: Decide says established, Evaluate still
				// explains the rule a new connection would meet.
				assert.Equal(t, ConntrackEstablished, l.fw.Decide(tt.h, tt.path).Code)
				assert.Equal(t, tt.code, l.fw.Evaluate(tt.h, tt.path).Code)
			}
		})
	}
}
