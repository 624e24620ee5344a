package aws

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// The round trip: random AWS groups, instances, a subnet and a VPC are
// written as describe-* JSON, imported, loaded as a topology and compiled
// by the firewall; every first packet between instances and internet hosts
// must get the verdict a direct model of AWS semantics gives (allow when
// any rule of any group of the sender's egress and of the receiver's
// ingress matches, else deny). The translation is not 1:1 (self-references
// become inner_access, egress gets a drop-all), so verdicts are compared.

// awsWorld is the generated configuration, in the AWS CLI's JSON shape.
type awsWorld struct {
	Groups    []jsonGroup
	Instances []jsonInstance
	Hosts     []netip.Addr
}

type jsonGroup struct {
	GroupId             string
	GroupName           string
	VpcId               string
	OwnerId             string
	IpPermissions       []jsonPermission
	IpPermissionsEgress []jsonPermission
}

type jsonPermission struct {
	IpProtocol       string
	FromPort         *int `json:",omitempty"`
	ToPort           *int `json:",omitempty"`
	IpRanges         []jsonRange
	UserIdGroupPairs []jsonPair
}

type jsonRange struct{ CidrIp string }

type jsonPair struct{ GroupId, UserId string }

type jsonInstance struct {
	InstanceId       string
	PrivateIpAddress string
	SubnetId         string
	VpcId            string
	SecurityGroups   []struct{ GroupId string }
	Tags             []struct{ Key, Value string }
}

const (
	rtOwner = "123456789012"
	rtVPC   = "vpc-0rt"
)

func intp(i int) *int { return &i }

// randomWorld generates groups with every translatable kind of AWS rule.
func randomWorld(r *rand.Rand) awsWorld {
	var w awsWorld
	nGroups := 1 + r.IntN(5)
	nInst := 2 + r.IntN(7)
	w.Hosts = []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.33")}
	pool := slices.Clone(w.Hosts)
	for i := range nInst {
		in := jsonInstance{InstanceId: fmt.Sprintf("i-%04d", i), PrivateIpAddress: fmt.Sprintf("10.0.1.%d", 10+i),
			SubnetId: "subnet-0rt", VpcId: rtVPC}
		if r.IntN(2) == 0 {
			in.Tags = []struct{ Key, Value string }{{"Name", fmt.Sprintf("vm %d", i)}}
		}
		for _, g := range r.Perm(nGroups)[:1+r.IntN(min(nGroups, 3))] {
			in.SecurityGroups = append(in.SecurityGroups, struct{ GroupId string }{fmt.Sprintf("sg-%04d", g)})
		}
		w.Instances = append(w.Instances, in)
		pool = append(pool, netip.MustParseAddr(in.PrivateIpAddress))
	}
	cidr := func() string {
		a := pool[r.IntN(len(pool))]
		if r.IntN(8) == 0 {
			return a.String() // a bare address: a /32
		}
		bits := []int{0, 8, 16, 24, 28, 30, 32}[r.IntN(7)]
		return netip.PrefixFrom(a, bits).Masked().String()
	}
	traffic := func() jsonPermission {
		p := jsonPermission{IpProtocol: []string{"-1", "all", "tcp", "udp", "icmp", "6", "17", "1", "47", "TCP"}[r.IntN(10)]}
		switch strings.ToLower(p.IpProtocol) {
		case "tcp", "udp", "6", "17":
			from := []int{0, 1, 22, 80, 443, 1000, 8080, 65535}[r.IntN(8)]
			to := from + []int{0, 0, 1, 100, 65535}[r.IntN(5)]
			p.FromPort, p.ToPort = intp(from), intp(min(max(to, 1), 65535))
		case "icmp", "1":
			if r.IntN(2) == 0 {
				p.FromPort, p.ToPort = intp(-1), intp(-1)
			}
		case "47":
			p.FromPort, p.ToPort = intp(r.IntN(100)), intp(100+r.IntN(100))
		}
		return p
	}
	perm := func(self string) jsonPermission {
		p := traffic()
		for range 1 + r.IntN(3) {
			if r.IntN(3) == 0 && nGroups > 1 {
				other := fmt.Sprintf("sg-%04d", r.IntN(nGroups))
				if other != self {
					p.UserIdGroupPairs = append(p.UserIdGroupPairs, jsonPair{GroupId: other, UserId: rtOwner})
					continue
				}
			}
			p.IpRanges = append(p.IpRanges, jsonRange{cidr()})
		}
		return p
	}
	for i := range nGroups {
		id := fmt.Sprintf("sg-%04d", i)
		g := jsonGroup{GroupId: id, GroupName: fmt.Sprintf("group %d", i), VpcId: rtVPC, OwnerId: rtOwner}
		if i == 0 {
			g.GroupName = "default" // named by its id
		}
		for range r.IntN(5) {
			g.IpPermissions = append(g.IpPermissions, perm(id))
		}
		switch r.IntN(3) {
		case 0: // AWS's default egress
			g.IpPermissionsEgress = append(g.IpPermissionsEgress, jsonPermission{IpProtocol: "-1", IpRanges: []jsonRange{{"0.0.0.0/0"}}})
		case 1: // none: egress denied
		default:
			for range 1 + r.IntN(3) {
				g.IpPermissionsEgress = append(g.IpPermissionsEgress, perm(id))
			}
		}
		self := jsonPair{GroupId: id, UserId: rtOwner}
		switch r.IntN(4) {
		case 0: // members reach each other: ingress and egress all to itself
			g.IpPermissions = append(g.IpPermissions, jsonPermission{IpProtocol: "-1", UserIdGroupPairs: []jsonPair{self}})
			g.IpPermissionsEgress = append(g.IpPermissionsEgress, jsonPermission{IpProtocol: "-1", UserIdGroupPairs: []jsonPair{self}})
		case 1: // a limited self-reference that a CIDR rule already covers
			p := traffic()
			p.IpRanges = []jsonRange{{"0.0.0.0/0"}}
			p.UserIdGroupPairs = []jsonPair{self}
			g.IpPermissions = append(g.IpPermissions, p)
		}
		w.Groups = append(w.Groups, g)
	}
	return w
}

// awsPacket is a first packet between two endpoints.
type awsPacket struct {
	src, dst netip.Addr
	proto    uint8
	dport    uint16
}

// awsAllows is AWS semantics, written directly: the sender's groups (if it
// is an instance) must allow the packet out, the receiver's (if an
// instance) must allow it in; a group allows when any permission matches.
func awsAllows(w *awsWorld, p awsPacket) bool {
	groupsOf := map[netip.Addr][]string{}
	members := map[string][]netip.Addr{}
	for _, in := range w.Instances {
		a := netip.MustParseAddr(in.PrivateIpAddress)
		for _, g := range in.SecurityGroups {
			groupsOf[a] = append(groupsOf[a], g.GroupId)
			members[g.GroupId] = append(members[g.GroupId], a)
		}
	}
	matches := func(perm jsonPermission, remote netip.Addr) bool {
		switch strings.ToLower(perm.IpProtocol) {
		case "-1", "all":
		case "tcp", "6":
			if p.proto != firewall.ProtoTCP || int(p.dport) < *perm.FromPort || int(p.dport) > *perm.ToPort {
				return false
			}
		case "udp", "17":
			if p.proto != firewall.ProtoUDP || int(p.dport) < *perm.FromPort || int(p.dport) > *perm.ToPort {
				return false
			}
		case "icmp", "1":
			if p.proto != firewall.ProtoICMP {
				return false
			}
		case "47":
			if p.proto != firewall.ProtoGRE {
				return false
			}
		}
		for _, rg := range perm.IpRanges {
			pfx, err := netip.ParsePrefix(rg.CidrIp)
			if err != nil {
				pfx = netip.PrefixFrom(netip.MustParseAddr(rg.CidrIp), 32)
			}
			if pfx.Contains(remote) {
				return true
			}
		}
		for _, pair := range perm.UserIdGroupPairs {
			if slices.Contains(members[pair.GroupId], remote) {
				return true
			}
		}
		return false
	}
	allows := func(nic, remote netip.Addr, egress bool) bool {
		for _, gid := range groupsOf[nic] {
			for _, g := range w.Groups {
				if g.GroupId != gid {
					continue
				}
				perms := g.IpPermissions
				if egress {
					perms = g.IpPermissionsEgress
				}
				for _, perm := range perms {
					if matches(perm, remote) {
						return true
					}
				}
			}
		}
		return false
	}
	if _, ok := groupsOf[p.src]; ok && !allows(p.src, p.dst, true) {
		return false
	}
	if _, ok := groupsOf[p.dst]; ok && !allows(p.dst, p.src, false) {
		return false
	}
	return true
}

// writeWorld writes w as the output of four describe-* commands.
func writeWorld(t testing.TB, dir string, w *awsWorld) []string {
	t.Helper()
	docs := map[string]any{
		"groups.json":    map[string]any{"SecurityGroups": w.Groups},
		"instances.json": map[string]any{"Reservations": []any{map[string]any{"Instances": w.Instances}}},
		"subnets.json":   map[string]any{"Subnets": []any{map[string]any{"SubnetId": "subnet-0rt", "VpcId": rtVPC, "CidrBlock": "10.0.1.0/24"}}},
		"vpcs.json":      map[string]any{"Vpcs": []any{map[string]any{"VpcId": rtVPC, "CidrBlock": "10.0.0.0/16"}}},
	}
	var paths []string
	for name, doc := range docs {
		data, err := json.MarshalIndent(doc, "", "  ")
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// fragmentYAML writes a fragment as a topology file, as the merge would.
func fragmentYAML(f *topology.Fragment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nvpc: {name: %q, cidr: %s}\nvswitches:\n", f.VPC.Name, f.VPC.CIDR)
	for _, v := range f.VSwitches {
		fmt.Fprintf(&b, "  - {name: %q, cidr: %s}\n", v.Name, v.CIDR)
	}
	b.WriteString("security_groups:\n")
	for _, g := range f.SecurityGroups {
		fmt.Fprintf(&b, "  - name: %q\n    type: %s\n    inner_access: %s\n    rules:\n", g.Name, g.Type, g.InnerAccess)
		if len(g.Rules) == 0 {
			b.WriteString("      []\n")
		}
		for _, r := range g.Rules {
			fmt.Fprintf(&b, "      - {direction: %s, policy: %s, priority: %d, protocol: %s, port_range: %q",
				r.Direction, r.Policy, r.Priority, r.Protocol, r.PortRange)
			for _, kv := range [][2]string{{"source", r.Source}, {"source_group", r.SourceGroup},
				{"destination", r.Destination}, {"destination_group", r.DestinationGroup}} {
				if kv[1] != "" {
					fmt.Fprintf(&b, ", %s: %q", kv[0], kv[1])
				}
			}
			b.WriteString("}\n")
		}
	}
	b.WriteString("instances:\n")
	for _, in := range f.Instances {
		fmt.Fprintf(&b, "  - {name: %q, vswitch: %q, ip: %s, security_groups: [", in.Name, in.VSwitch, in.IP)
		for i, g := range in.SecurityGroups {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", g)
		}
		b.WriteString("]}\n")
	}
	return b.String()
}

// vpclabFirewall loads the fragment as a topology and builds its firewall.
func vpclabFirewall(t testing.TB, f *topology.Fragment) (*firewall.Firewall, map[netip.Addr]*firewall.NIC) {
	t.Helper()
	src := fragmentYAML(f)
	topo, err := topology.Load("roundtrip.yaml", []byte(src))
	require.NoError(t, err, "the imported fragment loads:\n%s", src)
	fw := firewall.New(firewall.Config{})
	t.Cleanup(fw.Close)
	require.NoError(t, fw.Update(func(tx *firewall.Tx) error {
		for i := range topo.SecurityGroups {
			if err := tx.CreateGroup(topo.SecurityGroups[i].Firewall()); err != nil {
				return err
			}
		}
		return nil
	}))
	nics := map[netip.Addr]*firewall.NIC{}
	for _, in := range topo.Instances {
		n, err := fw.AddNIC(in.Name, in.IP, in.SecurityGroups...)
		require.NoError(t, err)
		nics[in.IP] = n
	}
	return fw, nics
}

func TestRoundTrip(t *testing.T) {
	worlds := 200
	if testing.Short() {
		worlds = 30
	}
	for seed := range uint64(worlds) {
		r := rand.New(rand.NewPCG(seed, 12))
		w := randomWorld(r)
		paths := writeWorld(t, t.TempDir(), &w)
		frag, err := Import(paths, topology.ImportOptions{})
		require.NoError(t, err, "seed %d", seed)
		checkAgainstAWS(t, &w, frag, fmt.Sprintf("seed %d", seed), func() string { return dump(paths) })
	}
}

// checkAgainstAWS compares, on every first packet (tcp and udp to a set of
// ports, icmp, gre) between the world's instances and hosts, vpclab's verdict
// on the imported fragment with a direct model of AWS semantics (awsAllows).
func checkAgainstAWS(t *testing.T, w *awsWorld, frag *topology.Fragment, what string, input func() string) {
	t.Helper()
	fw, nics := vpclabFirewall(t, frag)
	var ends []netip.Addr
	for a := range nics {
		ends = append(ends, a)
	}
	slices.SortFunc(ends, netip.Addr.Compare)
	ends = append(ends, w.Hosts...)
	ports := []uint16{1, 22, 23, 80, 443, 444, 1000, 1100, 8080, 65535}
	for _, src := range ends {
		for _, dst := range ends {
			if src == dst || nics[src] == nil && nics[dst] == nil {
				continue
			}
			for _, proto := range []uint8{firewall.ProtoTCP, firewall.ProtoUDP, firewall.ProtoICMP, firewall.ProtoGRE} {
				pp := ports
				if proto == firewall.ProtoICMP || proto == firewall.ProtoGRE {
					pp = []uint16{0}
				}
				for _, port := range pp {
					p := awsPacket{src: src, dst: dst, proto: proto, dport: port}
					h := header(p)
					v := fw.Evaluate(&h, firewall.Path{Src: nics[src], Dst: nics[dst]})
					if want := awsAllows(w, p); v.Allowed() != want {
						t.Fatalf("%s: %s -> %s proto %d port %d: vpclab %v (%s), AWS allows=%v\ninput:\n%s\ntopology:\n%s",
							what, src, dst, proto, port, v.Allowed(), firewall.Explain(v), want, input(), fragmentYAML(frag))
					}
				}
			}
		}
	}
}

func header(p awsPacket) firewall.Header {
	src, _ := firewall.AddrToU32(p.src)
	dst, _ := firewall.AddrToU32(p.dst)
	h := firewall.Header{Tuple: firewall.Tuple{Src: src, Dst: dst, Proto: p.proto}}
	switch p.proto {
	case firewall.ProtoTCP, firewall.ProtoUDP:
		h.SrcPort, h.DstPort = 40000, p.dport
		if p.proto == firewall.ProtoTCP {
			h.TCPFlags = 0x02 // SYN
		}
	case firewall.ProtoICMP:
		h.Flags, h.ICMPType, h.ICMPID = firewall.FlagICMPEcho, 8, 7
	}
	return h
}

func dump(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(p), data)
	}
	return b.String()
}
