package topology

// Short names of imported entities. Terraform names things by address,
// alicloud_instance.web[0]; users say web[0]. An imported entity whose name
// is a resource address (a resource type with an underscore, a dot, the
// rest) can be referenced in the file by the rest alone, where that short
// name is unambiguous among the names of its kind: groups for security_groups
// and source_group/destination_group, instances and internet hosts for
// dnat instance, from and to, vswitches for vswitch and snat. A name the
// file or an import defines in full always wins over a short one.

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

// nameKind is a namespace of references.
type nameKind int

const (
	kindGroup    nameKind = iota // security groups
	kindEndpoint                 // instances and internet hosts
	kindVSwitch                  // vswitches
	kindNAT                      // NAT gateways
	numKinds
)

var kindWords = [numKinds]string{"security group", "instance or internet host", "vswitch", "NAT gateway"}

// aliasIndex maps, per kind, a short name to the full names it abbreviates.
type aliasIndex [numKinds]map[string][]string

// shortName returns the address of a resource without its type:
// "alicloud_instance.web[0]" → "web[0]". ok is false for a name that is
// not a resource address (module.x.y, web-1, sg-bp1...).
func shortName(name string) (string, bool) {
	typ, rest, ok := strings.Cut(name, ".")
	if !ok || rest == "" || !strings.Contains(typ, "_") {
		return "", false
	}
	for _, c := range typ {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", false
		}
	}
	return rest, true
}

// resolveAliases indexes the short names of the imported entities (those
// after the first user[kind] of each list) and rewrites the file's own
// references that use one to the full name. A short name that fits several
// entities is an error listing them.
func (t *Topology) resolveAliases(user [numKinds]int, errs *errorList) {
	var exact [numKinds]map[string]bool
	for k := range exact {
		exact[k] = map[string]bool{}
		t.aliases[k] = map[string][]string{}
	}
	add := func(k nameKind, name string, imported bool) {
		exact[k][name] = true
		if short, ok := shortName(name); ok && imported {
			t.aliases[k][short] = append(t.aliases[k][short], name)
		}
	}
	exact[kindGroup][firewall.DefaultGroupName] = true
	for i := range t.SecurityGroups {
		add(kindGroup, t.SecurityGroups[i].Name, i >= user[kindGroup])
	}
	for i := range t.Instances {
		add(kindEndpoint, t.Instances[i].Name, i >= user[kindEndpoint])
	}
	for i := range t.Internet.Hosts {
		add(kindEndpoint, t.Internet.Hosts[i].Name, false)
	}
	for i := range t.VSwitches {
		add(kindVSwitch, t.VSwitches[i].Name, i >= user[kindVSwitch])
	}
	for i := range t.NATGateways {
		add(kindNAT, t.NATGateways[i].Name, i >= user[kindNAT])
	}
	fix := func(k nameKind, path string, ref *string) {
		if *ref == "" || exact[k][*ref] || errs.paths[path] {
			return
		}
		switch full := t.aliases[k][*ref]; len(full) {
		case 0:
		case 1:
			*ref = full[0]
		default:
			errs.add(path, "", fmt.Sprintf("%q is ambiguous: it is short for %s; write the full name of the %s",
				*ref, strings.Join(full, " and "), kindWords[k]), strings.Join(full, ", "))
		}
	}
	for i := range user[kindGroup] {
		g := &t.SecurityGroups[i]
		for j := range g.Rules {
			r := &g.Rules[j]
			p := fmt.Sprintf("security_groups[%d].rules[%d]", i, j)
			fix(kindGroup, p+".source_group", &r.SourceGroup)
			fix(kindGroup, p+".destination_group", &r.DestinationGroup)
		}
	}
	for i := range user[kindEndpoint] {
		in := &t.Instances[i]
		p := fmt.Sprintf("instances[%d]", i)
		fix(kindVSwitch, p+".vswitch", &in.VSwitch)
		for j := range in.SecurityGroups {
			fix(kindGroup, fmt.Sprintf("%s.security_groups[%d]", p, j), &in.SecurityGroups[j])
		}
	}
	for i := range user[kindNAT] {
		n := &t.NATGateways[i]
		p := fmt.Sprintf("nat_gateways[%d]", i)
		fix(kindVSwitch, p+".vswitch", &n.VSwitch)
		for j := range n.SNAT {
			fix(kindVSwitch, fmt.Sprintf("%s.snat[%d]", p, j), &n.SNAT[j])
		}
		for j := range n.DNAT {
			fix(kindEndpoint, fmt.Sprintf("%s.dnat[%d].instance", p, j), &n.DNAT[j].Instance)
		}
	}
	for i := range t.Expect {
		e := &t.Expect[i]
		p := fmt.Sprintf("expect[%d]", i)
		fix(kindEndpoint, p+".from", &e.From)
		if _, err := netip.ParseAddr(e.To); err != nil {
			fix(kindEndpoint, p+".to", &e.To)
		}
	}
}

// Resolve returns the full name of an instance or internet host given by
// name or, for an imported instance, by its short name (web[0] for
// alicloud_instance.web[0]) when that is unambiguous; any other name is
// returned as it is. The CLI's --from and --to go through it.
func (t *Topology) Resolve(name string) string {
	if t.instance(name) != nil || t.host(name) != nil {
		return name
	}
	if full := t.aliases[kindEndpoint][name]; len(full) == 1 {
		return full[0]
	}
	return name
}

// Aliases returns the unambiguous short names of the imported instances
// and their full names, for listing valid names.
func (t *Topology) Aliases() map[string]string {
	out := map[string]string{}
	for short, full := range t.aliases[kindEndpoint] {
		if len(full) == 1 && t.instance(short) == nil && t.host(short) == nil {
			out[short] = full[0]
		}
	}
	return out
}
