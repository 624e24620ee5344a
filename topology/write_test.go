package topology

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// comparable returns a copy of t for comparing what a file says: the file
// name, warnings and positions are dropped, and empty lists are nil (the
// writer leaves "rules: []" out).
func comparable(t *Topology) Topology {
	c := *t
	c.File, c.Warnings, c.pos = "", nil, nil
	v := reflect.ValueOf(&c).Elem()
	nilEmpty(v)
	return c
}

func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == addrType || v.Type() == prefixType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		for i := range cp.Len() {
			nilEmpty(cp.Index(i))
		}
		v.Set(cp)
	}
}

// roundTrip marshals t, loads the result and checks that it equals t and
// that marshaling it again gives the same bytes.
func roundTrip(t *testing.T, top *Topology) []byte {
	t.Helper()
	out, err := Marshal(top)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	// Beside the original, so that relative paths (a VPN gateway's key
	// file) resolve alike.
	dir := filepath.Dir(top.File)
	back, err := Load(filepath.Join(dir, "marshaled.yaml"), out)
	if err != nil {
		t.Fatalf("the written file does not load:\n%v\n--- written\n%s", err, out)
	}
	if want, got := comparable(top), comparable(back); !reflect.DeepEqual(want, got) {
		t.Fatalf("loaded back differently\n--- written\n%s\n--- want\n%+v\n--- got\n%+v", out, want, got)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Fatalf("not deterministic:\n--- first\n%s\n--- second\n%s", out, again)
	}
	js, err := MarshalJSON(top)
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	fromJSON, err := Load(filepath.Join(dir, "marshaled.json"), js)
	if err != nil {
		t.Fatalf("the JSON does not load:\n%v\n--- written\n%s", err, js)
	}
	if want, got := comparable(top), comparable(fromJSON); !reflect.DeepEqual(want, got) {
		t.Fatalf("JSON loaded back differently\n--- written\n%s\n--- want\n%+v\n--- got\n%+v", js, want, got)
	}
	return out
}

// TestMarshalRoundTrip writes every valid file the repository holds and
// loads it back to an equal topology.
func TestMarshalRoundTrip(t *testing.T) {
	var files []string
	for _, g := range []string{"testdata/valid-*.yaml", "../examples/*.yaml", "../cmd/vpclab/default.yaml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			top, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, top)
		})
	}
}

// TestMarshalGolden shows the style on the file that uses every field.
func TestMarshalGolden(t *testing.T) {
	top, err := LoadFile("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	top.SecurityGroups[0].Origin = Origin{File: "infra/main.tf", Line: 12, Column: 3, Resource: "alicloud_security_group.web"}
	top.SecurityGroups[0].Rules[0].Origin = Origin{File: "infra/main.tf", Line: 20, Column: 1, Resource: `alicloud_security_group_rule.http["a b"]`}
	top.Instances[1].Origin = Origin{File: "infra/main.tf", Line: 40, Column: 1, Resource: "alicloud_instance.web[1]"}
	top.Instances[1].Assigned = []string{"ip"}
	got := roundTrip(t, top)
	golden := "testdata/write/valid-full.yaml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -run TestMarshalGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}

// tricky are strings YAML would misread unquoted, or that break a flow
// mapping, or that hold characters that must be escaped.
var tricky = []string{
	"yes", "no", "on", "off", "true", "False", "null", "~", "NULL", "0755", "0x1F", "1e3", "1_000", ".inf", "-.inf",
	".nan", "12", "-1", "+1", "1.5", "2026-01-02", "2026-01-02T10:00:00Z", "web[0]", "web[1]", `a["b"]`, "*",
	"*a", "&a", "!t", "!!str", "%x", "@x", "`x`", "|", ">", "-", "--", "---", "...", "?", "? x", "a: b", "a:b",
	"a:", "a #b", "#a", "a#b", "a,b", "{a}", "[a]", "a}", "a]", `"q"`, "'q'", `back\slash`, "tab\there",
	"line\nbreak", "cr\rhere", "sp ace", " lead", "trail ", "ünïcode", "日本語", "emoji🙂", "<<", "=", "a=b",
	"x\u0085y", "x\u2028y", "ctl\x1b[31m", "bell\a", "del\x7f", "nul\x00",
}

// TestMarshalQuoting writes each tricky string where text is allowed and
// reads it back intact; none leaves a raw control character in the file.
func TestMarshalQuoting(t *testing.T) {
	for _, s := range tricky {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			top := skeleton()
			top.Instances[0].Services = []Service{{Kind: "banner", Port: 22, Protocol: "tcp", Text: s}}
			top.SecurityGroups[0].Rules[0].Description = s
			top.SecurityGroups[0].Origin = Origin{File: s, Line: 1, Column: 1, Resource: s}
			top.Name = s
			out, err := Marshal(top)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range string(out) {
				if r < 0x20 && r != '\n' || r == 0x7f || r == 0x85 || r == 0x2028 {
					t.Fatalf("raw control character U+%04X in\n%s", r, out)
				}
			}
			back, err := Load("q.yaml", out)
			if err != nil {
				// The loader refuses control characters in one-line text;
				// the writer must still have written them escaped.
				if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 }) {
					return
				}
				t.Fatalf("%v\n%s", err, out)
			}
			if back.Name != s || back.SecurityGroups[0].Rules[0].Description != s ||
				back.SecurityGroups[0].Origin.Resource != s || back.Instances[0].Services[0].Text != s {
				t.Fatalf("read back %q, %q, %q, %q from\n%s", back.Name, back.SecurityGroups[0].Rules[0].Description,
					back.SecurityGroups[0].Origin.Resource, back.Instances[0].Services[0].Text, out)
			}
		})
	}
}

// TestMarshalNames uses tricky strings that are valid names as the names of
// every entity and as the references to them.
func TestMarshalNames(t *testing.T) {
	var names []string
	for _, s := range tricky {
		if nameChars.check(s) == "" && s != "default" {
			names = append(names, s)
		}
	}
	for _, s := range names {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			top := skeleton()
			rename(top, s)
			if _, err := Load("n.yaml", mustMarshal(t, top)); err != nil {
				t.Fatalf("%v\n%s", err, mustMarshal(t, top))
			}
			loaded, err := Load("n.yaml", mustMarshal(t, top))
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, loaded)
			if loaded.Instances[0].Name != s+"-i" || loaded.SecurityGroups[1].Rules[0].SourceGroup != s+"-g" {
				t.Fatalf("names read back as %q, %q", loaded.Instances[0].Name, loaded.SecurityGroups[1].Rules[0].SourceGroup)
			}
		})
	}
}

func mustMarshal(t *testing.T, top *Topology) []byte {
	t.Helper()
	out, err := Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rename gives every entity of a skeleton a name built from s.
func rename(top *Topology, s string) {
	top.VPC.Name = s
	top.VSwitches[0].Name = s + "-v"
	top.Instances[0].VSwitch = s + "-v"
	top.SecurityGroups[0].Name = s + "-g"
	top.Instances[0].SecurityGroups = []string{s + "-g"}
	top.SecurityGroups[1].Rules[0].SourceGroup = s + "-g"
	top.Instances[0].Name = s + "-i"
	top.Expect[0].To = s + "-i"
	top.Internet.Hosts[0].Name = s + "-h"
	top.Expect[0].From = s + "-h"
	top.NATGateways[0].Name = s + "-n"
	top.NATGateways[0].VSwitch = s + "-v"
}

// skeleton is a small valid topology built in Go, as an import builds one.
func skeleton() *Topology {
	return &Topology{
		Version:   1,
		VPC:       VPC{Name: "vpc", CIDR: netip.MustParsePrefix("10.0.0.0/16")},
		VSwitches: []VSwitch{{Name: "vsw", CIDR: netip.MustParsePrefix("10.0.1.0/24")}},
		SecurityGroups: []SecurityGroup{
			{Name: "sg", Rules: []Rule{{Direction: "ingress", Protocol: "tcp", PortRange: "22/22", Source: "0.0.0.0/0"}}},
			{Name: "sg2", Rules: []Rule{{Direction: "ingress", Protocol: "all", SourceGroup: "sg"}}},
		},
		Instances:   []Instance{{Name: "i", VSwitch: "vsw", SecurityGroups: []string{"sg"}, EIP: netip.MustParseAddr("47.0.0.1")}},
		NATGateways: []NATGateway{{Name: "nat", VSwitch: "vsw", EIP: netip.MustParseAddr("47.0.0.2")}},
		Internet:    Internet{Hosts: []Host{{Name: "h", IP: netip.MustParseAddr("192.0.2.1")}}},
		Expect:      []Expect{{From: "h", To: "i", Port: 22, Result: "allow"}},
	}
}

// TestMarshalRandom is the property: a random valid topology, with every
// optional field sometimes set and strings drawn from the tricky ones,
// loads back equal to what was written.
func TestMarshalRandom(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 12))
		top := randomTopology(r)
		out := mustMarshal(t, top)
		loaded, err := Load("random.yaml", out)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, out)
		}
		roundTrip(t, loaded)
	}
}

// randomTopology builds a valid topology: distinct names, addresses inside
// their vswitches, references to things that exist.
func randomTopology(r *rand.Rand) *Topology {
	pick := func(list ...string) string { return list[r.IntN(len(list))] }
	text := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		s := tricky[r.IntN(len(tricky))]
		if textChars.check(s) != "" {
			return "plain text"
		}
		return s
	}
	var names []string
	for _, s := range tricky {
		if nameChars.check(s) == "" && s != "default" {
			names = append(names, s)
		}
	}
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	next := 0
	name := func() string { next++; return names[(next-1)%len(names)] + fmt.Sprint(next/len(names)) }
	origin := func() Origin {
		if r.IntN(2) == 0 {
			return Origin{}
		}
		return Origin{File: pick("main.tf", "a b/c.json", "yes"), Line: 1 + r.IntN(500), Column: 1 + r.IntN(80), Resource: pick("", "alicloud_instance.web[0]", `x["k"]`, "sg-bp1")}
	}
	top := &Topology{Version: 1, Name: text(), VPC: VPC{Name: name(), CIDR: netip.MustParsePrefix("10.0.0.0/16"), Origin: origin()}}
	top.Quotas = Quotas{RulesPerGroup: pick2(r, 100, 50), GroupsPerNIC: pick2(r, 5, 3)}
	top.Platform.BlockOutboundSMTP = r.IntN(2) == 0
	top.Conntrack = Conntrack{MaxEntries: pick2(r, 1000000, 999), IdleTimeout: time.Duration(pick2(r, 910, 1+r.IntN(604800))) * time.Second}
	top.Internet.HostClient = netip.MustParseAddr(pick("198.51.100.1", "203.0.113.9"))
	nvs := 1 + r.IntN(3)
	for i := range nvs {
		top.VSwitches = append(top.VSwitches, VSwitch{Name: name(), CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24), Origin: origin()})
	}
	ngroups := r.IntN(4)
	for range ngroups {
		top.SecurityGroups = append(top.SecurityGroups, SecurityGroup{Name: name(), Origin: origin()})
	}
	for i := range top.SecurityGroups {
		g := &top.SecurityGroups[i]
		if r.IntN(3) == 0 {
			g.Type = "enterprise"
			g.InnerAccess = pick("", "drop")
		} else {
			g.Type = pick("", "basic")
			g.InnerAccess = pick("", "accept", "drop")
		}
		for range r.IntN(5) {
			rule := Rule{Direction: pick("ingress", "egress"), Policy: pick("", "accept", "drop"), Priority: r.IntN(101),
				Protocol: pick("tcp", "udp", "icmp", "gre", "all", "TCP"), Description: text(), Origin: origin()}
			switch strings.ToLower(rule.Protocol) {
			case "tcp", "udp":
				lo := 1 + r.IntN(65535)
				rule.PortRange = pick(fmt.Sprint(lo), fmt.Sprintf("%d/%d", lo, lo+r.IntN(65536-lo)))
				if r.IntN(4) == 0 {
					rule.SourcePortRange = "1024/65535"
				}
			default:
				rule.PortRange = pick("", "-1/-1")
			}
			remote := pick("0.0.0.0/0", "10.1.2.3", "192.168.0.0/16")
			ref := ""
			if g.Type != "enterprise" && len(top.SecurityGroups) > 1 && r.IntN(2) == 0 {
				ref = top.SecurityGroups[(i+1)%len(top.SecurityGroups)].Name
			}
			if rule.Direction == "ingress" {
				rule.Source, rule.SourceGroup = remote, ref
				if ref != "" {
					rule.Source = ""
				}
			} else {
				rule.Destination, rule.DestinationGroup = remote, ref
				if ref != "" {
					rule.Destination = ""
				}
			}
			if r.IntN(4) == 0 {
				rule.LocalCIDR = "10.0.0.0/24"
			}
			if r.IntN(4) == 0 {
				rule.ManagedBy = pick("dms", "dts")
			}
			g.Rules = append(g.Rules, rule)
		}
	}
	eip := 1
	for i := range r.IntN(5) {
		in := Instance{Name: name(), VSwitch: top.VSwitches[r.IntN(nvs)].Name, Origin: origin()}
		if r.IntN(2) == 0 {
			vs := top.VSwitches[0]
			in.VSwitch = vs.Name
			in.IP = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})
		}
		// Groups of one type only: basic and enterprise do not mix on a NIC.
		for _, g := range top.SecurityGroups {
			if g.Type != "enterprise" && r.IntN(2) == 0 {
				in.SecurityGroups = append(in.SecurityGroups, g.Name)
			}
		}
		if r.IntN(2) == 0 {
			in.EIP = netip.AddrFrom4([4]byte{47, 0, 0, byte(eip)})
			eip++
			if r.IntN(2) == 0 {
				in.Expose = []Expose{{Port: 80, HostPort: 8000 + i, Protocol: pick("tcp", "udp")}}
			}
		}
		if r.IntN(2) == 0 {
			in.Services = []Service{{Kind: "http", Port: 80, Protocol: "tcp"}, {Kind: "echo", Port: 7, Protocol: pick("tcp", "udp")}}
			if s := text(); s != "" {
				in.Services = append(in.Services, Service{Kind: "banner", Port: 22, Protocol: "tcp", Text: s + pick("", "\n", "\r\n\tx")})
			}
		}
		if r.IntN(3) == 0 {
			in.Assigned = []string{pick("ip", "eip")}
		}
		top.Instances = append(top.Instances, in)
	}
	for i := range r.IntN(3) {
		top.Internet.Hosts = append(top.Internet.Hosts, Host{Name: name(), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})})
	}
	if r.IntN(2) == 0 {
		n := NATGateway{Name: name(), VSwitch: top.VSwitches[0].Name, EIP: netip.MustParseAddr("47.1.0.1"), Origin: origin()}
		if nvs > 1 {
			n.SNAT = []string{top.VSwitches[1].Name}
		}
		for _, in := range top.Instances {
			// "assigned: [eip]" without an address gets one at Load, and a
			// DNAT target must have none.
			if !in.EIP.IsValid() && !slices.Contains(in.Assigned, "eip") {
				n.DNAT = append(n.DNAT, DNAT{Protocol: pick("tcp", "udp"), PublicPort: 1000 + len(n.DNAT), Instance: in.Name, Port: 22, Origin: origin()})
			}
		}
		if r.IntN(2) == 0 {
			n.Assigned = []string{"eip"}
		}
		top.NATGateways = append(top.NATGateways, n)
	}
	if len(top.Internet.Hosts) > 0 && len(top.Instances) > 0 {
		top.Expect = append(top.Expect,
			Expect{Name: text(), From: top.Internet.Hosts[0].Name, To: top.Instances[0].Name, Protocol: pick("", "tcp", "udp"), Port: 443, Result: pick("allow", "block", "refuse")},
			Expect{From: top.Instances[0].Name, To: "10.0.0.9", Protocol: "icmp", Result: "block"})
	}
	return top
}

func pick2(r *rand.Rand, a, b int) int {
	if r.IntN(2) == 0 {
		return a
	}
	return b
}

// TestMarshalRefuses: what no file can say is an error naming the field,
// never a panic or a silently different file.
func TestMarshalRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Topology)
		want string
	}{
		{"invalid UTF-8", func(t *Topology) { t.SecurityGroups[0].Rules[0].Description = "a\xffb" },
			`security_groups[0].rules[0].description: "a\xffb" is not valid UTF-8`},
		{"a fraction of a second", func(t *Topology) { t.Conntrack.IdleTimeout = 1500 * time.Millisecond },
			"conntrack.idle_timeout: 1.5s is not a whole number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := skeleton()
			tc.edit(top)
			_, err := Marshal(top)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Marshal: %v, want %s", err, tc.want)
			}
			if _, err := MarshalJSON(top); err == nil || err.Error() != tc.want {
				t.Fatalf("MarshalJSON: %v, want %s", err, tc.want)
			}
		})
	}
}

// TestMarshalValueKinds covers kinds the model may grow (a map of import
// variables, a scalar type with its own text form): sorted keys, quoted as
// needed.
func TestMarshalValueKinds(t *testing.T) {
	type kinds struct {
		Vars map[string]string `yaml:"vars"`
		When textTime          `yaml:"when"`
	}
	w := &yamlWriter{}
	w.flow(reflect.ValueOf(kinds{Vars: map[string]string{"env": "yes", "a b": "1"}, When: textTime{n: 7}}))
	if want := `{vars: {"a b": "1", env: "yes"}, when: "t:7"}`; w.err != nil || w.buf.String() != want {
		t.Fatalf("got %s (%v), want %s", w.buf.String(), w.err, want)
	}
}

type textTime struct{ n int }

func (x textTime) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("t:%d", x.n)), nil }

// BenchmarkMarshalRules5000Instances200 writes the size of topology the
// issue's import targets name (a 5,000-rule API dump; 200 instances).
func BenchmarkMarshalRules5000Instances200(b *testing.B) {
	top := skeleton()
	g := &top.SecurityGroups[0]
	for i := range 5000 {
		g.Rules = append(g.Rules, Rule{Direction: "ingress", Policy: "drop", Priority: 1 + i%100, Protocol: "tcp",
			PortRange: fmt.Sprintf("%d/%d", 1+i, 1+i), Source: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256),
			Origin: Origin{File: "dump.json", Line: 1 + i*12, Column: 9, Resource: "sg-bp1web"}})
	}
	for i := range 200 {
		top.Instances = append(top.Instances, Instance{Name: fmt.Sprintf("alicloud_instance.web[%d]", i), VSwitch: "vsw",
			SecurityGroups: []string{"sg"}, Assigned: []string{"ip"}, Origin: Origin{File: "main.tf", Line: 40, Column: 1, Resource: fmt.Sprintf("alicloud_instance.web[%d]", i)}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(top); err != nil {
			b.Fatal(err)
		}
	}
}
