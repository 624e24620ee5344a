package topology

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
)

// validator checks what the decoder cannot see field by field: references,
// uniqueness, addresses and quotas. Checks that depend on a field the
// decoder rejected are skipped, so one mistake is reported once.
type validator struct {
	t    *Topology
	errs *errorList

	vswitches map[string]int // name → index of first definition
	groups    map[string]int
	instances map[string]int
	hosts     map[string]int
	peers     map[string]int // VPN peer name → index into peerPaths
	peerPaths []string
	publics   map[netip.Addr]string // EIP, NAT EIP or host address → path of its owner
	private   map[netip.Addr]string // instance address → path
}

func validate(t *Topology, errs *errorList) {
	v := &validator{t: t, errs: errs,
		vswitches: map[string]int{}, groups: map[string]int{},
		instances: map[string]int{}, hosts: map[string]int{}, peers: map[string]int{},
		publics: map[netip.Addr]string{}, private: map[netip.Addr]string{}}
	v.network()
	v.securityGroups()
	v.instanceList()
	v.hostList()
	v.assign()
	v.natGateways()
	v.vpnGateways()
	v.expectations()
	v.cluster()
	v.firewall()
}

// bad reports whether the decoder rejected the value at path.
func (v *validator) bad(path string) bool { return v.errs.paths[path] }

func (v *validator) add(path, code, msg, allowed string) { v.errs.add(path, code, msg, allowed) }

// names lists the keys of an index, in file order, for "allowed" texts.
func names(m map[string]int) string {
	list := make([]string, 0, len(m))
	for k := range m {
		list = append(list, k)
	}
	slices.SortFunc(list, func(a, b string) int { return cmp.Compare(m[a], m[b]) })
	if len(list) > 10 {
		list = append(list[:10], "...")
	}
	if len(list) == 0 {
		return "none defined"
	}
	return strings.Join(list, ", ")
}

// unique records name at index i of kind, reporting a repeated name.
func (v *validator) unique(index map[string]int, name, path, kind string, i int, firstPath func(int) string) bool {
	if name == "" {
		return false
	}
	if j, dup := index[name]; dup {
		v.add(path, "", fmt.Sprintf("%s name %q is already used by %s", kind, name, v.usedBy(path, firstPath(j))), "")
		return false
	}
	index[name] = i
	return true
}

// usedBy names the entity at first, which path collides with; when either
// came from an import, with the place first is defined (file:line:col), so
// that the error names both places.
func (v *validator) usedBy(path, first string) string {
	_, a := v.t.originOf(path)
	_, b := v.t.originOf(first)
	if !a && !b {
		return v.t.named(first)
	}
	return v.t.named(first) + " at " + v.t.place(first)
}

// network checks the VPC and its vswitches.
func (v *validator) network() {
	t := v.t
	vpc := t.VPC.CIDR
	if vpc.IsValid() && !netstack.IsPrivateRange(vpc) {
		v.add("vpc.cidr", "", fmt.Sprintf("%s is not a private range", vpc), "inside "+netstack.PrivateRangesText())
	}
	if len(t.VSwitches) == 0 && t.has("vswitches") {
		v.add("vswitches", "", "a VPC needs at least one vswitch", "")
	}
	var valid []int
	for i := range t.VSwitches {
		vs := &t.VSwitches[i]
		p := fmt.Sprintf("vswitches[%d]", i)
		v.unique(v.vswitches, vs.Name, p+".name", "vswitch", i, func(j int) string { return fmt.Sprintf("vswitches[%d]", j) })
		c := vs.CIDR
		if !c.IsValid() {
			continue
		}
		switch {
		case vpc.IsValid() && (!vpc.Contains(c.Addr()) || c.Bits() < vpc.Bits()):
			v.add(p+".cidr", "", fmt.Sprintf("%s is not inside the VPC CIDR %s", c, vpc), "inside "+vpc.String())
		case c.Bits() > netstack.MaxVSwitchBits:
			v.add(p+".cidr", "", fmt.Sprintf("%s is too small: a vswitch needs at least 8 addresses", c), fmt.Sprintf("/%d or larger", netstack.MaxVSwitchBits))
		default:
			valid = append(valid, i)
		}
	}
	// Overlaps: sorted by first address, a prefix overlaps an earlier one
	// iff it starts before the furthest end seen so far.
	slices.SortFunc(valid, func(a, b int) int {
		return cmp.Or(t.VSwitches[a].CIDR.Addr().Compare(t.VSwitches[b].CIDR.Addr()), cmp.Compare(a, b))
	})
	far := -1
	for _, i := range valid {
		c := t.VSwitches[i].CIDR
		if far >= 0 && c.Addr().Compare(lastAddr(t.VSwitches[far].CIDR)) <= 0 {
			a, b := min(i, far), max(i, far)
			v.add(fmt.Sprintf("vswitches[%d].cidr", b), netstack.ErrVSwitchOverlap, fmt.Sprintf("%s overlaps vswitch %s (%s)",
				t.VSwitches[b].CIDR, t.VSwitches[a].Name, t.VSwitches[a].CIDR), "")
		}
		if far < 0 || lastAddr(c).Compare(lastAddr(t.VSwitches[far].CIDR)) > 0 {
			far = i
		}
	}
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= ^uint32(0) >> p.Bits()
	if p.Bits() == 0 {
		n = ^uint32(0)
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// securityGroups checks group names, types and the references of rules. The
// rules themselves are checked by the firewall (see firewall()).
func (v *validator) securityGroups() {
	t := v.t
	for i := range t.SecurityGroups {
		g := &t.SecurityGroups[i]
		p := fmt.Sprintf("security_groups[%d]", i)
		v.unique(v.groups, g.Name, p+".name", "security group", i, func(j int) string { return fmt.Sprintf("security_groups[%d]", j) })
		switch {
		case g.Type == "enterprise" && g.InnerAccess == "accept":
			v.add(p+".inner_access", firewall.ErrInvalidInnerAccess,
				"enterprise groups always drop traffic between members", "drop")
		case g.InnerAccess == "" && g.Type == "enterprise":
			g.InnerAccess = "drop"
		case g.InnerAccess == "":
			g.InnerAccess = "accept"
		}
	}
	defaultUsed := false
	for i := range t.Instances {
		defaultUsed = defaultUsed || len(t.Instances[i].SecurityGroups) == 0
	}
	for i := range t.SecurityGroups {
		g := &t.SecurityGroups[i]
		for j := range g.Rules {
			r := &g.Rules[j]
			p := fmt.Sprintf("security_groups[%d].rules[%d]", i, j)
			if v.bad(p + ".direction") {
				continue
			}
			wrong, wrongGroup, right := "destination", "destination_group", "source"
			if r.Direction == "egress" {
				wrong, wrongGroup, right = "source", "source_group", "destination"
			}
			if (wrong == "source" && r.Source != "") || (wrong == "destination" && r.Destination != "") {
				v.add(p+"."+wrong, "", fmt.Sprintf("%s is for %s rules; an %s rule names %s", wrong, other(r.Direction), r.Direction, right), right+", "+right+"_group")
			}
			if (wrongGroup == "source_group" && r.SourceGroup != "") || (wrongGroup == "destination_group" && r.DestinationGroup != "") {
				v.add(p+"."+wrongGroup, "", fmt.Sprintf("%s is for %s rules; an %s rule names %s_group", wrongGroup, other(r.Direction), r.Direction, right), right+", "+right+"_group")
			}
			ref, refField := r.SourceGroup, "source_group"
			if r.Direction == "egress" {
				ref, refField = r.DestinationGroup, "destination_group"
			}
			if _, ok := v.groups[ref]; ref != "" && !ok && !(ref == firewall.DefaultGroupName && defaultUsed) && !v.bad(p+"."+refField) {
				v.add(p+"."+refField, firewall.ErrGroupNotFound, fmt.Sprintf("no security group %q", ref), names(v.groups))
			}
		}
	}
}

func other(direction string) string {
	if direction == "egress" {
		return "ingress"
	}
	return "egress"
}

// problem is a rule field the firewall's parsers rejected, or, if warning,
// one they corrected (a CIDR with host bits set) and normalized is its
// corrected text.
type problem struct {
	field, code, msg, allowed string
	warning                   bool
	normalized                string
}

// firewall converts the rule to the firewall's form, parsing ports and CIDRs
// with the firewall's own parsers. Range and protocol checks are left to the
// firewall, which applies them when the rule is authorized.
func (r *Rule) firewall() (firewall.Rule, []problem) {
	var out firewall.Rule
	var probs []problem
	out.Direction, _ = firewall.ParseDirection(r.Direction)
	out.Policy, _ = firewall.ParseAction(r.Policy)
	out.Priority = r.Priority
	out.Protocol = r.Protocol
	out.NICType = r.NICType
	out.Description = r.Description
	out.ManagedBy = r.ManagedBy
	ports := func(field, code, s string) firewall.Ports {
		if s == "" {
			return firewall.Ports{}
		}
		pr, err := firewall.ParsePorts(s)
		if err == nil && pr == (firewall.Ports{}) {
			err = fmt.Errorf("port range %q: 0 is not a port", s)
		}
		if err != nil {
			probs = append(probs, problem{field: field, code: code, msg: err.Error(), allowed: "start/end within 1..65535, a single port, or -1/-1"})
		}
		return pr
	}
	out.Ports = ports("port_range", firewall.ErrInvalidPortRange, r.PortRange)
	out.SourcePorts = ports("source_port_range", firewall.ErrInvalidSourcePortRange, r.SourcePortRange)
	cidr := func(field, s string) netip.Prefix {
		if s == "" {
			return netip.Prefix{}
		}
		pf, err := firewall.ParseCIDR(field, s)
		if err != nil {
			fe := err.(*firewall.Error)
			probs = append(probs, problem{field: field, code: fe.Code, msg: fmt.Sprintf("%s: %q", fe.Msg, s), allowed: "an IPv4 CIDR (10.0.0.0/8) or address"})
			return netip.Prefix{}
		}
		if !pf.Addr().Is4() {
			probs = append(probs, problem{field: field, msg: fmt.Sprintf("%s is IPv6; vpclab VPCs are IPv4 only", s), allowed: "an IPv4 CIDR (10.0.0.0/8) or address"})
			return netip.Prefix{}
		}
		if raw, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil && raw != pf {
			probs = append(probs, problem{field: field, warning: true, normalized: pf.String(),
				msg: fmt.Sprintf("%s has host bits set; normalized to its network %s (rules are stored by their network, as in the cloud)", s, pf)})
		}
		return pf
	}
	if out.Direction == firewall.Egress {
		out.Remote = cidr("destination", r.Destination)
		out.RemoteGroup = r.DestinationGroup
	} else {
		out.Remote = cidr("source", r.Source)
		out.RemoteGroup = r.SourceGroup
	}
	out.LocalCIDR = cidr("local_cidr", r.LocalCIDR)
	return out, probs
}

var ruleFields = fieldsOf(reflect.TypeFor[Rule]()).names

// ruleBad reports whether the decoder rejected any field of the rule at p.
func (v *validator) ruleBad(p string) bool {
	if v.bad(p) {
		return true
	}
	for _, f := range ruleFields {
		if v.bad(p + "." + f) {
			return true
		}
	}
	return false
}

// firewall runs the groups and NICs through a scratch firewall transaction,
// so that a file accepted here is accepted by the data plane: the rule checks
// (ranges per protocol, remote side, nic_type), group references, quotas and
// basic/enterprise mixing are the firewall's own. Its errors are mapped back
// to positions. The transaction is always abandoned.
//
// A group whose type or inner_access is wrong is still checked, so that one
// mistake hides no other: with an unknown type its rules are checked as a
// basic group's and NICs do not join it (basic/enterprise mixing with it is
// unknowable); an enterprise group's inner_access is taken as drop.
func (v *validator) firewall() {
	t := v.t
	fw := firewall.New(firewall.Config{Quotas: t.Quotas.Firewall()})
	defer fw.Close()
	type groupRef struct {
		index       int
		unknownType bool
		rules       []int // firewall rule index → file rule index
		fw          []firewall.Rule
	}
	groups := map[string]*groupRef{}
	var order []string
	for i := range t.SecurityGroups {
		g := &t.SecurityGroups[i]
		gp := fmt.Sprintf("security_groups[%d]", i)
		if g.Name == "" || v.groups[g.Name] != i {
			continue
		}
		ref := &groupRef{index: i, unknownType: v.bad(gp + ".type")}
		for j := range g.Rules {
			p := fmt.Sprintf("%s.rules[%d]", gp, j)
			if v.ruleBad(p) {
				continue
			}
			r, probs := g.Rules[j].firewall()
			failed := false
			for _, pr := range probs {
				if pr.warning {
					v.errs.warn(p+"."+pr.field, pr.msg)
					g.Rules[j].setCIDR(pr.field, pr.normalized)
					continue
				}
				failed = true
				v.add(p+"."+pr.field, pr.code, pr.msg, pr.allowed)
			}
			if failed || v.ruleBad(p) {
				continue
			}
			ref.rules = append(ref.rules, j)
			ref.fw = append(ref.fw, r)
		}
		groups[g.Name] = ref
		order = append(order, g.Name)
	}
	nics := map[string]int{}
	abandon := errors.New("abandon")
	err := fw.Update(func(tx *firewall.Tx) error {
		var errs []error
		for _, name := range order {
			ref := groups[name]
			fg := t.SecurityGroups[ref.index].Firewall()
			fg.Rules = ref.fw
			if ref.unknownType {
				fg.Type = firewall.Basic
			}
			if fg.Type == firewall.Enterprise || v.bad(fmt.Sprintf("security_groups[%d].inner_access", ref.index)) {
				fg.InnerAccess = firewall.InnerDrop
			}
			if err := tx.CreateGroup(fg); err != nil {
				errs = append(errs, err)
			}
		}
		for i := range t.Instances {
			in := &t.Instances[i]
			if in.Name == "" || v.instances[in.Name] != i {
				continue
			}
			var gs []string
			unknown := false
			for _, g := range in.SecurityGroups {
				ref, ok := groups[g]
				switch {
				case ok && ref.unknownType:
					unknown = true
				case ok:
					gs = append(gs, g)
				}
			}
			if len(in.SecurityGroups) > 0 && len(gs) == 0 || unknown {
				// Every group is unknown (already reported), or one has
				// an unknown type: what the NIC may join is unknowable.
				continue
			}
			nics[in.Name] = i
			// Addresses are checked by validate; the firewall gets unique
			// placeholders so that it checks memberships only.
			addr := netip.AddrFrom4([4]byte{240, byte(i >> 16), byte(i >> 8), byte(i)})
			if _, err := tx.AddNIC(in.Name, addr, gs...); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, abandon)
		return errors.Join(errs...)
	})
	for _, fe := range firewall.Errors(err) {
		path := ""
		switch {
		case fe.NIC != "":
			i := nics[fe.NIC]
			path = fmt.Sprintf("instances[%d].security_groups", i)
			if j := slices.Index(t.Instances[i].SecurityGroups, fe.Group); fe.Group != "" && j >= 0 {
				// The first occurrence is the one joined; a repeat is the one refused.
				if k := slices.Index(t.Instances[i].SecurityGroups[j+1:], fe.Group); fe.Code == firewall.ErrAlreadyMember && k >= 0 {
					j += 1 + k
				}
				path = fmt.Sprintf("%s[%d]", path, j)
			}
		case fe.Group != "":
			ref := groups[fe.Group]
			if ref == nil {
				break
			}
			path = fmt.Sprintf("security_groups[%d]", ref.index)
			rule := fe.Rule
			if fe.Group == firewall.DefaultGroupName {
				rule -= len(firewall.SystemRules()) // the file's rules come after them
			}
			switch {
			case fe.Rule >= 0 && rule >= 0 && rule < len(ref.rules):
				path = fmt.Sprintf("%s.rules[%d]", path, ref.rules[rule])
				if fe.Field != "" {
					path += "." + fe.Field
				}
			case fe.Code == firewall.ErrAuthorizationLimitExceed:
				path += ".rules"
				if k := overQuota(ref.fw, t.Quotas.RulesPerGroup); k >= 0 {
					path = fmt.Sprintf("%s[%d]", path, ref.rules[k])
				}
			case fe.Code == firewall.ErrGroupReferenceLimitExceed:
				path += ".rules"
				if k := overReferences(ref.fw, firewall.MaxGroupReferences); k >= 0 {
					path = fmt.Sprintf("%s[%d].%s", path, ref.rules[k], remoteGroupField(ref.fw[k]))
				}
			case fe.Field != "":
				path += "." + fe.Field
			}
		}
		msg := fe.Msg
		if fe.Value != "" && !strings.Contains(msg, fe.Value) {
			msg += fmt.Sprintf(": %q", fe.Value)
		}
		v.add(path, fe.Code, msg, fe.Allowed)
	}
	// Normalize the rules the firewall accepted, as it stores them.
	for _, ref := range groups {
		g := &t.SecurityGroups[ref.index]
		for k, j := range ref.rules {
			r := &g.Rules[j]
			fr := ref.fw[k]
			if fr.Protocol == firewall.ProtocolTCP || fr.Protocol == firewall.ProtocolUDP {
				r.PortRange = fr.Ports.String()
			} else {
				r.PortRange = firewall.AnyPorts.String()
			}
			if fr.SourcePorts != (firewall.Ports{}) && !fr.SourcePorts.IsAny() {
				r.SourcePortRange = fr.SourcePorts.String()
			}
		}
	}
}

// setCIDR replaces the text of a rule's CIDR field (source, destination or
// local_cidr).
func (r *Rule) setCIDR(field, s string) {
	switch field {
	case "source":
		r.Source = s
	case "destination":
		r.Destination = s
	case "local_cidr":
		r.LocalCIDR = s
	}
}

// ruleKey is a rule as the firewall compares rules: description and
// managed_by aside, ports of portless protocols and an absent source port
// range as "any" (docs/semantics.md §1.4: identical rules count once).
func ruleKey(r firewall.Rule) firewall.Rule {
	r.Description, r.ManagedBy = "", ""
	if r.Protocol != firewall.ProtocolTCP && r.Protocol != firewall.ProtocolUDP || r.Ports == (firewall.Ports{}) {
		r.Ports = firewall.AnyPorts
	}
	if r.SourcePorts == (firewall.Ports{}) {
		r.SourcePorts = firewall.AnyPorts
	}
	return r
}

// overQuota returns the index of the first rule that takes a group past
// quota distinct rules, or -1.
func overQuota(rules []firewall.Rule, quota int) int {
	seen := map[firewall.Rule]bool{}
	for k, r := range rules {
		key := ruleKey(r)
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(seen) > quota {
			return k
		}
	}
	return -1
}

// overReferences returns the index of the first rule that references more
// than limit distinct groups, or -1.
func overReferences(rules []firewall.Rule, limit int) int {
	seen := map[string]bool{}
	for k, r := range rules {
		if r.RemoteGroup == "" || seen[r.RemoteGroup] {
			continue
		}
		seen[r.RemoteGroup] = true
		if len(seen) > limit {
			return k
		}
	}
	return -1
}

// remoteGroupField is the file's name of a rule's group reference.
func remoteGroupField(r firewall.Rule) string {
	if r.Direction == firewall.Egress {
		return "destination_group"
	}
	return "source_group"
}

// instanceList checks instances: names, vswitch, address, groups, EIP,
// services and exposed ports.
func (v *validator) instanceList() {
	t := v.t
	hostPorts := map[string]string{} // "8080/tcp" → the path of the expose using it
	for i := range t.Instances {
		in := &t.Instances[i]
		p := fmt.Sprintf("instances[%d]", i)
		v.unique(v.instances, in.Name, p+".name", "instance", i, func(j int) string { return fmt.Sprintf("instances[%d]", j) })
		vsi, ok := v.vswitches[in.VSwitch]
		if in.VSwitch != "" && !ok && !v.bad(p+".vswitch") {
			v.add(p+".vswitch", "", fmt.Sprintf("no vswitch %q", in.VSwitch), names(v.vswitches))
		}
		if in.IP.IsValid() {
			v.privateAddr(p+".ip", in.IP, vsi, ok)
		}
		for j, g := range in.SecurityGroups {
			if _, ok := v.groups[g]; !ok && !v.bad(fmt.Sprintf("%s.security_groups[%d]", p, j)) {
				v.add(fmt.Sprintf("%s.security_groups[%d]", p, j), firewall.ErrGroupNotFound, fmt.Sprintf("no security group %q", g), names(v.groups))
			}
		}
		if in.EIP.IsValid() {
			v.publicAddr(p+".eip", in.EIP, "an EIP")
		}
		v.services(p, in.Services)
		if len(in.Expose) > 0 && !in.EIP.IsValid() && !v.bad(p+".eip") {
			v.add(p+".expose", "", "expose reaches the instance through its EIP, as internet traffic from internet.host_client; give the instance an eip", "")
		}
		for j, e := range in.Expose {
			ep := fmt.Sprintf("%s.expose[%d]", p, j)
			if e.HostPort == 0 || e.Protocol == "" || v.bad(ep+".protocol") {
				continue
			}
			// A TCP and a UDP socket may share a port number, as the
			// host's own sockets may.
			key := fmt.Sprintf("%d/%s", e.HostPort, e.Protocol)
			if first, dup := hostPorts[key]; dup {
				v.add(ep+".host_port", "", fmt.Sprintf("host port %s is already used by %s", key, v.t.named(first)), "")
				continue
			}
			hostPorts[key] = ep
		}
	}
}

// privateAddr checks an explicit instance address: inside its vswitch, not
// reserved, unique.
func (v *validator) privateAddr(path string, a netip.Addr, vsi int, vsKnown bool) {
	if vsKnown {
		c := v.t.VSwitches[vsi].CIDR
		if c.IsValid() && !v.bad(fmt.Sprintf("vswitches[%d].cidr", vsi)) {
			if !c.Contains(a) {
				v.add(path, firewall.ErrInvalidAddress, fmt.Sprintf("%s is not in vswitch %s (%s)", a, v.t.VSwitches[vsi].Name, c), c.String())
				return
			}
			if netstack.Reserved(c, a) {
				first, last := netstack.AssignableRange(c)
				v.add(path, firewall.ErrInvalidAddress, fmt.Sprintf("%s is reserved in %s: the first address and the last three are reserved", a, c), first.String()+".."+last.String())
				return
			}
		}
	}
	if first, dup := v.private[a]; dup {
		v.add(path, firewall.ErrAddressInUse, fmt.Sprintf("%s is already used by %s", a, v.t.named(first)), "")
		return
	}
	v.private[a] = strings.TrimSuffix(path, ".ip")
}

// publicAddr checks an EIP, NAT EIP or internet host address: public and
// used once.
func (v *validator) publicAddr(path string, a netip.Addr, what string) {
	if !netstack.IsPublic(a) {
		v.add(path, "", fmt.Sprintf("%s is not a public address; %s must be public", a, what), netstack.PublicRuleText())
		return
	}
	if first, dup := v.publics[a]; dup {
		v.add(path, "", fmt.Sprintf("%s is already used by %s", a, v.t.named(first)), "")
		return
	}
	v.publics[a] = path
}

// services checks what listens in an instance or host. A catch-all
// (port: all) without a protocol listens on every protocol its kind speaks;
// its Protocol is then "".
func (v *validator) services(owner string, list []Service) {
	seen := map[string]string{}
	for j := range list {
		s := &list[j]
		p := fmt.Sprintf("%s.services[%d]", owner, j)
		if v.bad(p+".kind") || v.bad(p+".protocol") {
			continue
		}
		all := s.Port == AllPorts && !v.bad(p+".port")
		if all && v.t.has(p) && !v.t.has(p+".protocol") {
			s.Protocol = ""
		}
		switch {
		case s.Kind == "http" && s.Protocol == "udp":
			v.add(p+".protocol", "", "http services are TCP only", "tcp")
		case s.Kind == "banner" && s.Protocol == "udp":
			v.add(p+".protocol", "", "banner services greet a TCP client and hold the connection: TCP only", "tcp")
		case s.Kind != "banner" && s.Text != "":
			v.add(p+".text", "", "text is for banner services only", "")
		}
		if s.Port == 0 && !all {
			continue
		}
		for _, proto := range s.Protocols() {
			key := fmt.Sprintf("%s/%s", s.PortText(), proto)
			if first, dup := seen[key]; dup {
				msg := fmt.Sprintf("port %s is already used by %s", key, v.t.named(first))
				if all {
					msg = fmt.Sprintf("%s already listens on every %s port", v.t.named(first), proto)
				}
				v.add(p+".port", "", msg, "")
				break
			}
			seen[key] = p
		}
	}
}

// hostList checks the internet section.
func (v *validator) hostList() {
	t := v.t
	if a := t.Internet.HostClient; a.IsValid() && !netstack.IsPublic(a) {
		v.add("internet.host_client", "", fmt.Sprintf("%s is not a public address", a), "a public IPv4 address")
	}
	for i := range t.Internet.Hosts {
		h := &t.Internet.Hosts[i]
		p := fmt.Sprintf("internet.hosts[%d]", i)
		if h.Name != "" {
			if j, dup := v.instances[h.Name]; dup {
				v.add(p+".name", "", fmt.Sprintf("host name %q is already used by %s", h.Name, v.usedBy(p, fmt.Sprintf("instances[%d]", j))), "")
			} else {
				v.unique(v.hosts, h.Name, p+".name", "host", i, func(j int) string { return fmt.Sprintf("internet.hosts[%d]", j) })
			}
		}
		if h.IP.IsValid() {
			v.publicAddr(p+".ip", h.IP, "an internet host's address")
		}
		v.services(p, h.Services)
	}
	if a := t.Internet.HostClient; a.IsValid() && netstack.IsPublic(a) {
		if owner, ok := v.publics[a]; ok && strings.HasSuffix(owner, ".eip") {
			v.add("internet.host_client", "", fmt.Sprintf("%s is the EIP of %s", a, v.t.named(strings.TrimSuffix(owner, ".eip"))), "")
		}
	}
}

// natGateways checks NAT gateways, their SNAT vswitches and DNAT entries.
func (v *validator) natGateways() {
	t := v.t
	nats := map[string]int{}
	snat := map[string]string{} // vswitch → gateway path
	for i := range t.NATGateways {
		n := &t.NATGateways[i]
		p := fmt.Sprintf("nat_gateways[%d]", i)
		v.unique(nats, n.Name, p+".name", "NAT gateway", i, func(j int) string { return fmt.Sprintf("nat_gateways[%d]", j) })
		if _, ok := v.vswitches[n.VSwitch]; n.VSwitch != "" && !ok && !v.bad(p+".vswitch") {
			v.add(p+".vswitch", "", fmt.Sprintf("no vswitch %q", n.VSwitch), names(v.vswitches))
		}
		if n.EIP.IsValid() {
			v.publicAddr(p+".eip", n.EIP, "a NAT gateway's EIP")
		}
		for j, vs := range n.SNAT {
			sp := fmt.Sprintf("%s.snat[%d]", p, j)
			if _, ok := v.vswitches[vs]; !ok {
				if v.bad(sp) {
					continue
				}
				v.add(sp, "", fmt.Sprintf("no vswitch %q", vs), names(v.vswitches))
				continue
			}
			if first, dup := snat[vs]; dup {
				v.add(sp, netstack.ErrSNATVSwitchTaken, fmt.Sprintf("vswitch %s already has SNAT through %s; a vswitch uses one NAT gateway", vs, v.t.named(first)), "")
				continue
			}
			snat[vs] = p
		}
		ports := map[string]string{}
		for j, d := range n.DNAT {
			dp := fmt.Sprintf("%s.dnat[%d]", p, j)
			if k, ok := v.instances[d.Instance]; d.Instance != "" && !ok && !v.bad(dp+".instance") {
				v.add(dp+".instance", "", fmt.Sprintf("no instance %q", d.Instance), names(v.instances))
			} else if ok && t.Instances[k].EIP.IsValid() {
				v.add(dp+".instance", netstack.ErrDNATToEIPInstance, fmt.Sprintf("instance %s has an EIP (%s); a DNAT entry cannot target an instance with an EIP", d.Instance, t.Instances[k].EIP), "")
			}
			if d.PublicPort == 0 || d.Protocol == "" {
				continue
			}
			key := fmt.Sprintf("%d/%s", d.PublicPort, d.Protocol)
			if first, dup := ports[key]; dup {
				v.add(dp+".public_port", netstack.ErrDNATDuplicate, fmt.Sprintf("public port %s is already forwarded by %s", key, v.t.named(first)), "")
				continue
			}
			ports[key] = dp
		}
	}
}

// expectations checks the probes.
func (v *validator) expectations() {
	t := v.t
	for i := range t.Expect {
		e := &t.Expect[i]
		p := fmt.Sprintf("expect[%d]", i)
		if e.From != "" && !v.endpoint(e.From) && !v.bad(p+".from") {
			v.add(p+".from", "", fmt.Sprintf("no instance, internet host or VPN peer %q", e.From), v.endpointNames())
		}
		if e.To != "" && !v.endpoint(e.To) && !v.bad(p+".to") {
			if a, err := netip.ParseAddr(e.To); err != nil || !a.Is4() {
				v.add(p+".to", "", fmt.Sprintf("%q is neither an instance, an internet host nor an IPv4 address", e.To), v.endpointNames()+", or an IPv4 address")
			}
		}
		if v.bad(p + ".protocol") {
			continue
		}
		switch {
		case e.Protocol == "icmp" && t.has(p+".port"):
			v.add(p+".port", "", "icmp probes take no port", "")
		case e.Protocol != "icmp" && e.Port == 0 && !v.bad(p+".port"):
			v.add(p+".port", "", e.Protocol+" probes need a port", "1..65535")
		}
	}
}

func (v *validator) endpoint(name string) bool {
	_, inst := v.instances[name]
	_, host := v.hosts[name]
	_, peer := v.peers[name]
	return inst || host || peer
}

func (v *validator) endpointNames() string {
	all := map[string]int{}
	for k, i := range v.instances {
		all[k] = i
	}
	for k, i := range v.hosts {
		all[k] = len(v.t.Instances) + i
	}
	for k, i := range v.peers {
		all[k] = len(v.t.Instances) + len(v.t.Internet.Hosts) + i
	}
	return names(all)
}
