package firewall

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDiagnose(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "sg-web", Rules: []Rule{
		in("tcp", Ports{80, 80}, "0.0.0.0/0"),
		{Direction: Ingress, Policy: Drop, Priority: 5, Protocol: "tcp", Ports: Ports{23, 23}, Remote: pfx("0.0.0.0/0")},
		{Direction: Ingress, Policy: Drop, Priority: 1, Protocol: "tcp", Ports: Ports{6379, 6379}, Remote: pfx("0.0.0.0/0")},
		{Direction: Ingress, Protocol: "tcp", Ports: Ports{3306, 3306}, Remote: pfx("10.0.1.20/32"), ManagedBy: "dts"},
	}})
	l.group(Group{Name: "sg-ent", Type: Enterprise})
	l.group(Group{Name: "sg-iso", InnerAccess: InnerDrop})
	web := l.nic("web", "10.0.1.10", "sg-web")
	ent := l.nic("ent", "10.0.1.20", "sg-ent")
	iso1 := l.nic("iso1", "10.0.1.30", "sg-iso")
	iso2 := l.nic("iso2", "10.0.1.31", "sg-iso")
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }

	tests := []struct {
		name             string
		h                *Header
		src, dst         *NIC
		probe            Probe
		works            bool
		symptom, fix     string
		code             Code
		causeHas, fixHas string
	}{
		{name: "ssh default deny", h: syn("198.51.100.7", "10.0.1.10", 1000, 22), dst: web,
			probe:   Probe{Proto: ProtoTCP, Port: 22, Src: a("198.51.100.7"), Dst: a("10.0.1.10"), DstName: "web", DstGroups: []string{"sg-web"}, FromInternet: true},
			code:    SGDefaultDeny,
			symptom: "SSH (22) fails", fix: "add ingress accept tcp 22/22 from 198.51.100.7/32 to sg-web"},
		{name: "drop rule with room above", h: syn("10.0.1.20", "10.0.1.10", 1000, 23), src: ent, dst: web,
			probe: Probe{Proto: ProtoTCP, Port: 23, Src: a("10.0.1.20"), Dst: a("10.0.1.10"), DstGroups: []string{"sg-web"}},
			// ent's egress is denied first (enterprise).
			code: SGDefaultDeny, symptom: "intranet access fails (tcp 23)", fixHas: "add egress accept tcp 23/23 to 10.0.1.10/32"},
		{name: "drop rule priority 5", h: syn("198.51.100.7", "10.0.1.10", 1000, 23), dst: web,
			probe: Probe{Proto: ProtoTCP, Port: 23, Src: a("198.51.100.7"), Dst: a("10.0.1.10"), DstGroups: []string{"sg-web"}, FromInternet: true},
			code:  SGRuleDrop, causeHas: "rule 1 of sg-web (priority 5, drop)", fixHas: "with priority 4"},
		{name: "drop rule priority 1", h: syn("198.51.100.7", "10.0.1.10", 1000, 6379), dst: web,
			probe: Probe{Proto: ProtoTCP, Port: 6379, Src: a("198.51.100.7"), Dst: a("10.0.1.10"), DstGroups: []string{"sg-web"}, FromInternet: true},
			code:  SGRuleDrop, fixHas: "no accept rule can outrank it"},
		{name: "inner drop", h: echo("10.0.1.30", "10.0.1.31", 1, false), src: iso1, dst: iso2,
			probe: Probe{Proto: ProtoICMP, Src: a("10.0.1.30"), Dst: a("10.0.1.31"), SrcName: "iso1", DstName: "iso2", SrcGroups: []string{"sg-iso"}, DstGroups: []string{"sg-iso"}},
			code:  SGInnerDrop, symptom: "ping fails", fixHas: "add ingress accept icmp -1/-1 from 10.0.1.30/32 to sg-iso"},
		{name: "smtp", h: syn("10.0.1.10", "203.0.113.25", 1000, 25), src: web,
			probe: Probe{Proto: ProtoTCP, Port: 25, Src: a("10.0.1.10"), Dst: a("203.0.113.25"), ToInternet: true},
			code:  PlatformPortBlocked, symptom: "mail on 25 fails", fixHas: "465 or 587"},
		{name: "managed_by", h: syn("10.0.1.20", "10.0.1.10", 1000, 3306), dst: web,
			probe: Probe{Proto: ProtoTCP, Port: 3306, Src: a("10.0.1.20"), Dst: a("10.0.1.10")},
			code:  SGRuleAccept, works: true, symptom: "rules were added that I did not write", causeHas: "added by dts"},
		{name: "works by a rule", h: syn("198.51.100.7", "10.0.1.10", 1000, 80), dst: web,
			probe: Probe{Proto: ProtoTCP, Port: 80, Src: a("198.51.100.7"), Dst: a("10.0.1.10"), DstName: "web", DstGroups: []string{"sg-web"}, FromInternet: true},
			code:  SGRuleAccept, works: true, symptom: "none — 198.51.100.7 reaches web on tcp 80",
			causeHas: "it works: ingress rule 0 of sg-web allows it [ingress accept priority 1 tcp 80/80 source 0.0.0.0/0]"},
		{name: "works by the default egress", h: syn("10.0.1.10", "203.0.113.80", 1000, 443), src: web,
			probe: Probe{Proto: ProtoTCP, Port: 443, Src: a("10.0.1.10"), Dst: a("203.0.113.80"), SrcName: "web", DstName: "updates", ToInternet: true},
			code:  SGDefaultAccept, works: true, symptom: "none — web reaches updates on tcp 443", causeHas: "it works: egress: no rule matched"},
		{name: "ping works", h: echo("10.0.1.30", "10.0.1.31", 1, false), src: iso1,
			probe: Probe{Proto: ProtoICMP, Src: a("10.0.1.30"), Dst: a("203.0.113.1"), SrcName: "iso1", ToInternet: true},
			code:  SGDefaultAccept, works: true, symptom: "none — iso1 gets ping replies from 203.0.113.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := l.fw.Decide(tt.h, Path{Src: tt.src, Dst: tt.dst, ToInternet: tt.dst == nil})
			assert.Equal(t, tt.code, v.Code)
			d := Diagnose(v, tt.probe)
			if tt.symptom != "" {
				assert.Equal(t, tt.symptom, d.Symptom)
			}
			if tt.fix != "" {
				assert.Equal(t, tt.fix, d.Fix)
			}
			assert.Contains(t, d.Cause, tt.causeHas)
			assert.Contains(t, d.Fix, tt.fixHas)
			assert.Equal(t, tt.works, d.Works)
			if tt.works {
				assert.Empty(t, d.Fix, "a connection that works needs no fix")
				assert.NotContains(t, d.String(), "fix:")
			}
			assert.NotEmpty(t, d.String())
		})
	}

	// Nothing listens: the fix is a listener, never a rule.
	for _, tt := range []struct {
		proto      uint8
		cause, fix string
	}{
		{ProtoTCP, "the security groups allow it, but nothing listens on tcp 6000 at db: its stack answers with a TCP RST (connection refused)",
			"start a listener on tcp 6000 in db (e.g. services: [{kind: echo, port: 6000}]); no rule change is needed"},
		{ProtoUDP, "the security groups allow it, but nothing listens on udp 6000 at db: its stack answers with ICMP port unreachable",
			"start a listener on udp 6000 in db (e.g. services: [{kind: echo, port: 6000, protocol: udp}]); no rule change is needed"},
	} {
		d := Diagnose(Verdict{Code: NoListener, Entry: -1}, Probe{Proto: tt.proto, Port: 6000, Src: a("10.0.1.10"), Dst: a("10.0.1.11"), DstName: "db"})
		assert.False(t, d.Works)
		assert.Equal(t, tt.cause, d.Cause)
		assert.Equal(t, tt.fix, d.Fix)
	}

	// No firewall step on the path (internet host to internet host).
	d := Diagnose(Verdict{Entry: -1}, Probe{Proto: ProtoTCP, Port: 80, SrcName: "customer", DstName: "updates", FromInternet: true, ToInternet: true})
	assert.True(t, d.Works)
	assert.Equal(t, "none — customer reaches updates on tcp 80", d.Symptom)
	assert.Empty(t, d.Fix)

	for _, c := range []Code{NoRouteToInternet, NoRouteToDestination, NoListener, ConntrackFull} {
		d := Diagnose(Verdict{Code: c, Entry: -1}, Probe{Proto: ProtoUDP, Port: 53, Src: a("10.0.1.10"), Dst: a("10.0.1.11")})
		assert.NotEmpty(t, d.Fix, c.String())
		assert.Equal(t, "intranet access fails (udp 53)", d.Symptom)
	}
}
