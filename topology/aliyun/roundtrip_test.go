package aliyun

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// classBenchRules reads the repository's ClassBench subset: real-world
// CIDRs and port ranges to build random groups from.
func classBenchRules(t testing.TB) []firewall.MatchRule {
	f, err := os.Open("../../firewall/testdata/classbench/fw1_500.rules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := firewall.ParseClassBenchRules(f)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// cidrOf is the CIDR of a range that is one (ClassBench prefixes are).
func cidrOf(r firewall.Range32) netip.Prefix {
	size := uint64(r.Hi) - uint64(r.Lo) + 1
	n := bits.TrailingZeros64(size)
	return netip.PrefixFrom(firewall.U32ToAddr(r.Lo), 32-n)
}

func portsOf(p firewall.PortRange) string {
	return fmt.Sprintf("%d/%d", max(p.Lo, 1), max(p.Hi, 1))
}

// randomGroups builds groups the way the loader stores them (normalized
// values), from ClassBench rows, with group references, both directions,
// local CIDRs, source ports, every protocol, policy and priority.
func randomGroups(rng *rand.Rand, cb []firewall.MatchRule, nGroups, nRules int) []topology.SecurityGroup {
	groups := make([]topology.SecurityGroup, nGroups)
	for gi := range groups {
		g := &groups[gi]
		g.Name = fmt.Sprintf("g%d", gi)
		g.Type = "basic"
		g.InnerAccess = []string{"", "accept", "drop"}[rng.IntN(3)]
		if rng.IntN(4) == 0 {
			g.Type, g.InnerAccess = "enterprise", "drop"
		}
		for range nRules {
			m := cb[rng.IntN(len(cb))]
			r := topology.Rule{
				Direction: []string{"ingress", "egress"}[rng.IntN(2)],
				Policy:    []string{"accept", "drop"}[rng.IntN(2)],
				Priority:  1 + rng.IntN(100),
				NICType:   "intranet",
			}
			switch {
			case m.AnyProto:
				r.Protocol = "all"
			case m.Proto == 6:
				r.Protocol = "tcp"
			case m.Proto == 17:
				r.Protocol = "udp"
			case m.Proto == 1:
				r.Protocol = "icmp"
			default:
				r.Protocol = "gre"
			}
			r.PortRange = "-1/-1"
			if r.Protocol == "tcp" || r.Protocol == "udp" {
				r.PortRange = portsOf(m.DstPort)
				if m.SrcPort != (firewall.PortRange{Lo: 0, Hi: 65535}) {
					r.SourcePortRange = portsOf(m.SrcPort)
				}
			}
			remote := cidrOf(m.Src[0]).String()
			ref := ""
			if other := rng.IntN(nGroups); g.Type == "basic" && other != gi && rng.IntN(4) == 0 {
				ref = fmt.Sprintf("g%d", other) // the cloud refuses a rule on its own group
			}
			if rng.IntN(3) == 0 && cidrOf(m.Dst[0]).Bits() > 0 {
				r.LocalCIDR = cidrOf(m.Dst[0]).String()
			}
			switch {
			case r.Direction == "ingress" && ref != "":
				r.SourceGroup = ref
			case r.Direction == "ingress":
				r.Source = remote
			case ref != "":
				r.DestinationGroup = ref
			default:
				r.Destination = remote
			}
			if rng.IntN(3) == 0 {
				r.Description = fmt.Sprintf("rule %d of %s", len(g.Rules), g.Name)
			}
			g.Rules = append(g.Rules, r)
		}
	}
	return groups
}

// anyCase writes s in one of the cases the API and users write.
func anyCase(rng *rand.Rand, s string) string {
	if s == "" {
		return s
	}
	switch rng.IntN(3) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// writeAPI writes the groups as DescribeSecurityGroups plus one
// DescribeSecurityGroupAttribute per group, in the nested (API) or flat
// Permissions shape, with Priority as a number or a string and /32 as a
// bare address.
func writeAPI(rng *rand.Rand, groups []topology.SecurityGroup, flat bool) []byte {
	id := func(name string) string { return "sg-rt" + name }
	var docs []any
	var list []any
	for _, g := range groups {
		typ := "normal"
		if g.Type == "enterprise" {
			typ = "enterprise"
		}
		list = append(list, map[string]any{"SecurityGroupId": id(g.Name), "SecurityGroupName": g.Name,
			"SecurityGroupType": typ, "VpcId": "vpc-rt"})
	}
	docs = append(docs, map[string]any{"SecurityGroups": map[string]any{"SecurityGroup": list}})
	for _, g := range groups {
		var perms []any
		for _, r := range g.Rules {
			addr := func(s string) string {
				if p := netip.MustParsePrefix(s); p.Bits() == 32 && rng.IntN(2) == 0 {
					return p.Addr().String()
				}
				return s
			}
			p := map[string]any{
				"Direction":    anyCase(rng, r.Direction),
				"Policy":       anyCase(rng, r.Policy),
				"IpProtocol":   anyCase(rng, r.Protocol),
				"PortRange":    r.PortRange,
				"NicType":      "intranet",
				"Description":  r.Description,
				"SourceCidrIp": "", "DestCidrIp": "", "SourceGroupId": "", "DestGroupId": "",
				"Ipv6SourceCidrIp": "", "Ipv6DestCidrIp": "", "SourcePrefixListId": "", "DestPrefixListId": "",
				"SourceGroupOwnerAccount": "", "DestGroupOwnerAccount": "", "SourcePortRange": r.SourcePortRange,
			}
			if rng.IntN(2) == 0 {
				p["Priority"] = r.Priority
			} else {
				p["Priority"] = strconv.Itoa(r.Priority)
			}
			local := "DestCidrIp"
			if r.Direction == "egress" {
				local = "SourceCidrIp"
			}
			if r.LocalCIDR != "" {
				p[local] = addr(r.LocalCIDR)
			}
			switch {
			case r.Source != "":
				p["SourceCidrIp"] = addr(r.Source)
			case r.SourceGroup != "":
				p["SourceGroupId"] = id(r.SourceGroup)
			case r.Destination != "":
				p["DestCidrIp"] = addr(r.Destination)
			case r.DestinationGroup != "":
				p["DestGroupId"] = id(r.DestinationGroup)
			}
			perms = append(perms, p)
		}
		var permissions any = map[string]any{"Permission": perms}
		if flat {
			permissions = perms
		}
		docs = append(docs, map[string]any{"SecurityGroupId": id(g.Name), "SecurityGroupName": g.Name,
			"VpcId": "vpc-rt", "InnerAccessPolicy": anyCase(rng, g.InnerAccess), "Permissions": permissions})
	}
	var b strings.Builder
	for _, d := range docs {
		out, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			panic(err)
		}
		b.Write(out)
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// randomVPC is vswitches and instances (in the groups given) as the
// loader stores them, with an EIP on some.
func randomVPC(rng *rand.Rand, groups []topology.SecurityGroup, nInstances int) ([]topology.VSwitch, []topology.Instance) {
	vsw := []topology.VSwitch{
		{Name: "web", CIDR: netip.MustParsePrefix("10.0.1.0/24")},
		{Name: "db", CIDR: netip.MustParsePrefix("10.0.2.0/24")},
	}
	var out []topology.Instance
	for i := range nInstances {
		v := vsw[rng.IntN(len(vsw))]
		in := topology.Instance{Name: fmt.Sprintf("vm-%d", i), VSwitch: v.Name,
			IP: v.CIDR.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next().Next()}
		for range i {
			in.IP = in.IP.Next()
		}
		for _, g := range groups {
			if len(in.SecurityGroups) < 5 && rng.IntN(3) == 0 {
				in.SecurityGroups = append(in.SecurityGroups, g.Name)
			}
		}
		if rng.IntN(2) == 0 {
			in.EIP = netip.AddrFrom4([4]byte{47, 98, byte(i >> 8), byte(i)})
		}
		out = append(out, in)
	}
	return vsw, out
}

// writeInstances writes DescribeVSwitches and DescribeInstances (and
// DescribeEipAddresses), each EIP in one of the three places the API gives
// it: EipAddress, PublicIpAddress (a fixed public IP), or an association.
func writeInstances(rng *rand.Rand, vsw []topology.VSwitch, ins []topology.Instance) []byte {
	var vlist, ilist, elist []any
	for _, v := range vsw {
		vlist = append(vlist, map[string]any{"VSwitchId": "vsw-rt" + v.Name, "VSwitchName": v.Name, "VpcId": "vpc-rt", "CidrBlock": v.CIDR.String()})
	}
	for _, in := range ins {
		ids := []any{}
		for _, g := range in.SecurityGroups {
			ids = append(ids, "sg-rt"+g)
		}
		m := map[string]any{"InstanceId": "i-rt" + in.Name, "InstanceName": in.Name, "InstanceNetworkType": "vpc",
			"VpcAttributes":    map[string]any{"VpcId": "vpc-rt", "VSwitchId": "vsw-rt" + in.VSwitch, "PrivateIpAddress": map[string]any{"IpAddress": []any{in.IP.String()}}},
			"SecurityGroupIds": map[string]any{"SecurityGroupId": ids},
			"EipAddress":       map[string]any{"IpAddress": ""}, "PublicIpAddress": map[string]any{"IpAddress": []any{}}}
		if in.EIP.IsValid() {
			switch rng.IntN(3) {
			case 0:
				m["EipAddress"] = map[string]any{"IpAddress": in.EIP.String(), "AllocationId": "eip-" + in.Name}
			case 1:
				m["PublicIpAddress"] = map[string]any{"IpAddress": []any{in.EIP.String()}}
			default:
				elist = append(elist, map[string]any{"IpAddress": in.EIP.String(), "AllocationId": "eip-" + in.Name,
					"InstanceId": "i-rt" + in.Name, "InstanceType": "EcsInstance"})
			}
		}
		ilist = append(ilist, m)
	}
	var b strings.Builder
	for _, d := range []any{
		map[string]any{"VSwitches": map[string]any{"VSwitch": vlist}},
		map[string]any{"Instances": map[string]any{"Instance": ilist}},
		map[string]any{"EipAddresses": map[string]any{"EipAddress": elist}},
	} {
		out, err := json.Marshal(d)
		if err != nil {
			panic(err)
		}
		b.Write(out)
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// TestRoundTrip writes random groups as API JSON in both Permission shapes,
// and instances in random vswitches and groups (their EIPs given each of
// the API's three ways), imports them, and requires the very same groups,
// vswitches and instances back: the translation is
// one to one, so the normalized rule lists are compared exactly (and the
// verdicts of the compiled groups too, in TestRoundTripVerdicts).
func TestRoundTrip(t *testing.T) {
	cb := classBenchRules(t)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 12))
		want := randomGroups(rng, cb, 2+rng.IntN(4), 1+rng.IntN(40))
		wantVSw, wantIns := randomVPC(rng, want, rng.IntN(12))
		for _, flat := range []bool{false, true} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "groups.json"), writeAPI(rng, want, flat), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "instances.json"), writeInstances(rng, wantVSw, wantIns), 0o644); err != nil {
				t.Fatal(err)
			}
			fr, err := Import([]string{dir}, topology.ImportOptions{})
			if err != nil {
				t.Fatalf("seed %d flat %v: %v", seed, flat, err)
			}
			got := fr.SecurityGroups
			for gi := range got {
				got[gi].Origin = topology.Origin{}
				for ri := range got[gi].Rules {
					got[gi].Rules[ri].Origin = topology.Origin{}
				}
			}
			if !reflect.DeepEqual(got, want) {
				for gi := range min(len(got), len(want)) {
					for ri := range min(len(got[gi].Rules), len(want[gi].Rules)) {
						if got[gi].Rules[ri] != want[gi].Rules[ri] {
							t.Errorf("seed %d flat %v: group %s rule %d:\n got  %+v\n want %+v", seed, flat, want[gi].Name, ri, got[gi].Rules[ri], want[gi].Rules[ri])
						}
					}
				}
				t.Fatalf("seed %d flat %v: groups differ", seed, flat)
			}
			compiles(t, got)
			for i := range fr.VSwitches {
				fr.VSwitches[i].Origin = topology.Origin{}
			}
			for i := range fr.Instances {
				fr.Instances[i].Origin = topology.Origin{}
			}
			if !reflect.DeepEqual(fr.VSwitches, wantVSw) || !reflect.DeepEqual(fr.Instances, wantIns) {
				t.Fatalf("seed %d: vswitches or instances differ:\n got  %+v\n     %+v\n want %+v\n     %+v", seed, fr.VSwitches, fr.Instances, wantVSw, wantIns)
			}
		}
	}
}

// compiles creates the imported groups in a firewall, which checks every
// value the way the cloud's API does: the import speaks the firewall's
// vocabulary, not only the same words as the generator.
func compiles(t *testing.T, groups []topology.SecurityGroup) {
	t.Helper()
	fw := firewall.New(firewall.Config{Quotas: firewall.Quotas{RulesPerGroup: 10000, GroupsPerNIC: 5}})
	defer fw.Close()
	err := fw.Update(func(tx *firewall.Tx) error {
		for i := range groups {
			if err := tx.CreateGroup(groups[i].Firewall()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("imported groups do not compile: %v", err)
	}
}
