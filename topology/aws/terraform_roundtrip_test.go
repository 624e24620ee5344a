package aws

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

// The Terraform round trip: the random AWS worlds of TestRoundTrip are
// written as Terraform (inline ingress/egress blocks, or separate
// aws_security_group_rule and aws_vpc_security_group_*_rule resources, or
// the `terraform show -json` of an applied state with the cloud's ids),
// imported, loaded and compiled; every first packet must get the verdict of
// the same direct model of AWS semantics (awsAllows). The mapping onto the
// AWS model is 1:1 but the translation is not, so verdicts are compared.

// tfRef is the reference to a group of the world.
func tfRef(id string) string { return "aws_security_group." + tfGroup(id) + ".id" }

func tfGroup(id string) string { return "g" + strings.TrimPrefix(id, "sg-") }

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tfPorts are a permission's from_port and to_port as the provider wants
// them: 0/0 for all protocols, -1/-1 for all of ICMP.
func tfPorts(p jsonPermission) (int, int, bool) {
	switch strings.ToLower(p.IpProtocol) {
	case "-1", "all":
		return 0, 0, false
	case "icmp", "1":
		if p.FromPort == nil {
			return -1, -1, true
		}
	}
	if p.FromPort == nil {
		return 0, 0, false
	}
	return *p.FromPort, *p.ToPort, true
}

// tfSources splits a permission's remote side: CIDRs, other groups, and
// whether it references its own group.
func tfSources(g jsonGroup, p jsonPermission) (cidrs, groups []string, self bool) {
	for _, r := range p.IpRanges {
		cidrs = append(cidrs, r.CidrIp)
	}
	for _, pair := range p.UserIdGroupPairs {
		if pair.GroupId == g.GroupId {
			self = true
		} else {
			groups = append(groups, pair.GroupId)
		}
	}
	return cidrs, groups, self
}

// writeTerraform writes w as one main.tf; inline selects inline blocks,
// else each permission becomes rule resources of a randomly chosen kind.
func writeTerraform(t testing.TB, dir string, w *awsWorld, inline bool, r *rand.Rand) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("resource \"aws_vpc\" \"rt\" {\n  cidr_block = \"10.0.0.0/16\"\n}\n\n")
	b.WriteString("resource \"aws_subnet\" \"rt\" {\n  vpc_id     = aws_vpc.rt.id\n  cidr_block = \"10.0.1.0/24\"\n}\n\n")
	n := 0
	sep := &strings.Builder{} // the rule resources, after the groups
	for _, g := range w.Groups {
		fmt.Fprintf(&b, "resource \"aws_security_group\" %q {\n  name   = %q\n  vpc_id = aws_vpc.rt.id\n", tfGroup(g.GroupId), g.GroupName+" "+g.GroupId)
		for _, dir := range []string{"ingress", "egress"} {
			perms := g.IpPermissions
			if dir == "egress" {
				perms = g.IpPermissionsEgress
			}
			for _, p := range perms {
				cidrs, groups, self := tfSources(g, p)
				from, to, _ := tfPorts(p)
				var later []string
				if inline {
					// Terraform refuses groups whose inline rules reference
					// each other (a cycle): as users do, a reference to a
					// group defined later is a separate rule resource.
					groups, later = slices.DeleteFunc(slices.Clone(groups), func(id string) bool { return id >= g.GroupId }),
						slices.DeleteFunc(slices.Clone(groups), func(id string) bool { return id < g.GroupId })
				}
				if inline && (len(cidrs)+len(groups) > 0 || self) {
					fmt.Fprintf(&b, "  %s {\n    protocol  = %q\n    from_port = %d\n    to_port   = %d\n", dir, p.IpProtocol, from, to)
					if len(cidrs) > 0 {
						fmt.Fprintf(&b, "    cidr_blocks = %s\n", quoteList(cidrs))
					}
					if len(groups) > 0 {
						refs := make([]string, len(groups))
						for i, id := range groups {
							refs[i] = tfRef(id)
						}
						fmt.Fprintf(&b, "    security_groups = [%s]\n", strings.Join(refs, ", "))
					}
					if self {
						b.WriteString("    self = true\n")
					}
					b.WriteString("  }\n")
				}
				rule := func(body string) {
					n++
					if r.IntN(2) == 0 {
						fmt.Fprintf(sep, "resource \"aws_security_group_rule\" \"r%d\" {\n  type              = %q\n  security_group_id = %s\n  protocol          = %q\n  from_port         = %d\n  to_port           = %d\n%s}\n\n",
							n, dir, tfRef(g.GroupId), p.IpProtocol, from, to, body)
						return
					}
					body = strings.NewReplacer("cidr_blocks = [", "cidr_ipv4 = ", "\"]", "\"", "source_security_group_id", "referenced_security_group_id",
						"self = true", "referenced_security_group_id = "+tfRef(g.GroupId)).Replace(body)
					ports := ""
					if f, t, ok := tfPorts(p); ok {
						ports = fmt.Sprintf("  from_port   = %d\n  to_port     = %d\n", f, t)
					}
					fmt.Fprintf(sep, "resource \"aws_vpc_security_group_%s_rule\" \"r%d\" {\n  security_group_id = %s\n  ip_protocol       = %q\n%s%s}\n\n",
						dir, n, tfRef(g.GroupId), p.IpProtocol, ports, body)
				}
				if inline {
					for _, id := range later {
						rule(fmt.Sprintf("  source_security_group_id = %s\n", tfRef(id)))
					}
					continue
				}
				for _, c := range cidrs {
					rule(fmt.Sprintf("  cidr_blocks = [%q]\n", c))
				}
				for _, id := range groups {
					rule(fmt.Sprintf("  source_security_group_id = %s\n", tfRef(id)))
				}
				if self {
					rule("  self = true\n")
				}
			}
		}
		b.WriteString("}\n\n")
	}
	for i, in := range w.Instances {
		refs := make([]string, len(in.SecurityGroups))
		for j, g := range in.SecurityGroups {
			refs[j] = tfRef(g.GroupId)
		}
		fmt.Fprintf(&b, "resource \"aws_instance\" \"i%d\" {\n  ami                    = \"ami-0123\"\n  subnet_id              = aws_subnet.rt.id\n  private_ip             = %q\n  vpc_security_group_ids = [%s]\n}\n\n",
			i, in.PrivateIpAddress, strings.Join(refs, ", "))
	}
	b.WriteString(sep.String())
	p := filepath.Join(dir, "main.tf")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func TestTerraformRoundTrip(t *testing.T) {
	worlds := 80
	if testing.Short() {
		worlds = 20
	}
	for seed := range uint64(worlds) {
		for _, form := range []string{"inline", "rule resources", "state"} {
			inline := form == "inline"
			r := rand.New(rand.NewPCG(seed, 12))
			w := randomWorld(r)
			var path string
			if form == "state" {
				path = writeState(t, t.TempDir(), &w)
			} else {
				path = writeTerraform(t, t.TempDir(), &w, inline, rand.New(rand.NewPCG(seed, 7)))
			}
			frag, err := Import([]string{path}, topology.ImportOptions{})
			require.NoError(t, err, "seed %d %s:\n%s", seed, form, dump([]string{path}))
			require.Len(t, frag.Instances, len(w.Instances))
			checkAgainstAWS(t, &w, frag, fmt.Sprintf("seed %d %s", seed, form), func() string { return dump([]string{path}) })
		}
	}
}

// writeState writes w as the JSON of `terraform show -json` of an applied
// state: groups with inline rules (ids sg-…), instances, the subnet and the
// VPC, as the provider records them (every rule attribute present).
func writeState(t testing.TB, dir string, w *awsWorld) string {
	t.Helper()
	res := func(typ, name string, index any, values map[string]any) map[string]any {
		addr := typ + "." + name
		r := map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 1, "values": values}
		if index != nil {
			r["index"] = index
			r["address"] = fmt.Sprintf("%s[%v]", addr, index)
		}
		return r
	}
	resources := []any{
		res("aws_vpc", "rt", nil, map[string]any{"id": rtVPC, "cidr_block": "10.0.0.0/16"}),
		res("aws_subnet", "rt", nil, map[string]any{"id": "subnet-0rt", "vpc_id": rtVPC, "cidr_block": "10.0.1.0/24", "map_public_ip_on_launch": false}),
	}
	for _, g := range w.Groups {
		rules := func(perms []jsonPermission) []any {
			out := []any{}
			for _, p := range perms {
				cidrs, groups, self := tfSources(g, p)
				from, to, _ := tfPorts(p)
				out = append(out, map[string]any{"protocol": p.IpProtocol, "from_port": from, "to_port": to,
					"cidr_blocks": append([]string{}, cidrs...), "security_groups": append([]string{}, groups...), "self": self,
					"ipv6_cidr_blocks": []string{}, "prefix_list_ids": []string{}, "description": ""})
			}
			return out
		}
		resources = append(resources, res("aws_security_group", tfGroup(g.GroupId), nil, map[string]any{
			"id": g.GroupId, "name": g.GroupName, "vpc_id": rtVPC, "owner_id": rtOwner,
			"ingress": rules(g.IpPermissions), "egress": rules(g.IpPermissionsEgress)}))
	}
	for i, in := range w.Instances {
		var ids []string
		for _, g := range in.SecurityGroups {
			ids = append(ids, g.GroupId)
		}
		resources = append(resources, res("aws_instance", "vm", i, map[string]any{
			"id": in.InstanceId, "subnet_id": in.SubnetId, "private_ip": in.PrivateIpAddress, "public_ip": "",
			"instance_state": "running", "security_groups": []string{}, "vpc_security_group_ids": ids}))
	}
	data, err := json.MarshalIndent(map[string]any{"format_version": "1.0", "terraform_version": "1.9.5",
		"values": map[string]any{"root_module": map[string]any{"resources": resources}}}, "", "  ")
	require.NoError(t, err)
	p := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}
