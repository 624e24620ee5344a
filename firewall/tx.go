package firewall

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// state is the firewall's configuration. A transaction copies the maps and
// clones what it changes, so a failed transaction leaves the old state intact.
type state struct {
	quotas Quotas
	groups map[string]*Group
	nics   map[string]*nicState
	addrs  map[netip.Addr]string // address → NIC id
}

type nicState struct {
	id     string
	addr   netip.Addr
	groups []string
	nic    *NIC
}

// Tx is a set of changes applied together by Firewall.Update. Each method
// checks what it can at once; references between groups are checked when the
// transaction ends, so a batch may create groups in any order.
type Tx struct {
	st        *state
	ownGroups map[string]bool // groups already cloned by this tx
	ownNICs   map[string]bool
	dirty     map[string]bool // groups whose rules, type or membership changed
	audit     []AuditRecord
	newNICs   []*NIC
}

func newTx(old *state) *Tx {
	return &Tx{
		st: &state{
			quotas: old.quotas,
			groups: maps.Clone(old.groups),
			nics:   maps.Clone(old.nics),
			addrs:  maps.Clone(old.addrs),
		},
		ownGroups: map[string]bool{},
		ownNICs:   map[string]bool{},
		dirty:     map[string]bool{},
	}
}

func (tx *Tx) group(name string) *Group {
	g, ok := tx.st.groups[name]
	if !ok {
		return nil
	}
	if !tx.ownGroups[name] {
		g = g.clone()
		tx.st.groups[name] = g
		tx.ownGroups[name] = true
	}
	return g
}

func (tx *Tx) nicState(id string) *nicState {
	n, ok := tx.st.nics[id]
	if !ok {
		return nil
	}
	if !tx.ownNICs[id] {
		c := *n
		c.groups = slices.Clone(n.groups)
		n = &c
		tx.st.nics[id] = n
		tx.ownNICs[id] = true
	}
	return n
}

// CreateGroup creates a group with its rules. The group named default
// (DefaultGroupName) is the system group: it gets its system rules
// (docs/semantics.md §3) and the given rules beside them, and must be basic.
func (tx *Tx) CreateGroup(in Group) error {
	var errs errList
	if !validGroupName(in.Name) {
		errs.add(&Error{Code: ErrInvalidGroupName, Group: in.Name, Rule: -1, Field: "name", Value: in.Name,
			Allowed: "1..128 printable characters without spaces", Msg: "invalid group name"})
		return errs.err()
	}
	if _, ok := tx.st.groups[in.Name]; ok {
		errs.add(&Error{Code: ErrGroupAlreadyExists, Group: in.Name, Rule: -1, Msg: "a group with this name exists"})
		return errs.err()
	}
	if in.Type != Basic && in.Type != Enterprise {
		errs.add(&Error{Code: ErrInvalidGroupType, Group: in.Name, Rule: -1, Field: "type",
			Value: fmt.Sprint(int(in.Type)), Allowed: "basic, enterprise", Msg: "unknown group type"})
	}
	if in.InnerAccess != InnerAccept && in.InnerAccess != InnerDrop {
		errs.add(&Error{Code: ErrInvalidInnerAccess, Group: in.Name, Rule: -1, Field: "inner_access",
			Value: fmt.Sprint(int(in.InnerAccess)), Allowed: "accept, drop", Msg: "unknown inner access policy"})
	}
	g := &Group{Name: in.Name, Type: in.Type, InnerAccess: in.InnerAccess}
	if g.Type == Enterprise {
		g.InnerAccess = InnerDrop
	}
	if len(errs) > 0 {
		tx.st.groups[g.Name] = g
		tx.ownGroups[g.Name] = true
		tx.dirty[g.Name] = true
		return errs.err()
	}
	if g.Name == DefaultGroupName {
		// The system group keeps its system rules; the given rules are
		// added beside them, as a user adds rules to the cloud's default
		// group. It is a basic group: another type is refused, and the
		// rules are still checked as a basic group's.
		if g.Type != Basic {
			errs.add(&Error{Code: ErrInvalidGroupType, Group: in.Name, Rule: -1, Field: "type",
				Value: g.Type.String(), Allowed: "basic", Msg: "the default security group is a basic group"})
		}
		sys := defaultGroup()
		sys.InnerAccess = in.InnerAccess
		g = sys
	}
	tx.st.groups[g.Name] = g
	tx.ownGroups[g.Name] = true
	tx.dirty[g.Name] = true
	if err := tx.AuthorizeRules(g.Name, "", in.Rules...); err != nil {
		errs = append(errs, err)
	}
	return errs.err()
}

// DeleteGroup deletes a group that no NIC uses and no other group references.
func (tx *Tx) DeleteGroup(name string) error {
	if _, ok := tx.st.groups[name]; !ok {
		return &Error{Code: ErrGroupNotFound, Group: name, Rule: -1, Msg: "no such group"}
	}
	var errs errList
	for _, id := range sortedKeys(tx.st.nics) {
		if slices.Contains(tx.st.nics[id].groups, name) {
			errs.add(&Error{Code: ErrGroupInUse, Group: name, Rule: -1, NIC: id, Msg: "the group still has members"})
		}
	}
	for _, other := range sortedKeys(tx.st.groups) {
		if other == name {
			continue
		}
		for i, r := range tx.st.groups[other].Rules {
			if r.RemoteGroup == name {
				errs.add(&Error{Code: ErrGroupInUse, Group: other, Rule: i,
					Msg: fmt.Sprintf("rule references group %s, which cannot be deleted", name)})
			}
		}
	}
	if len(errs) > 0 {
		return errs.err()
	}
	delete(tx.st.groups, name)
	tx.dirty[name] = true
	return nil
}

// AuthorizeRules adds rules to a group. A rule identical to one the group has
// (all fields but description and managed_by) changes nothing. actor is who
// adds them for the audit log: "" or "user" for the user, else the managing
// service; a rule's own ManagedBy wins.
func (tx *Tx) AuthorizeRules(group, actor string, rules ...Rule) error {
	g := tx.group(group)
	if g == nil {
		return &Error{Code: ErrGroupNotFound, Group: group, Rule: -1, Msg: "no such group"}
	}
	var errs errList
	base := len(g.Rules)
	added := 0
	for i, in := range rules {
		r, rerrs := normalizeRule(group, base+i, in)
		for _, e := range rerrs {
			errs.add(e)
		}
		if len(rerrs) > 0 {
			continue
		}
		if r.RemoteGroup != "" {
			if g.Type == Enterprise {
				errs.add(&Error{Code: ErrEnterpriseGroupReference, Group: group, Rule: base + i,
					Field: remoteGroupField(r.Direction), Value: r.RemoteGroup,
					Msg: "an enterprise security group cannot reference security groups; use CIDRs"})
				continue
			}
			if r.RemoteGroup == group {
				errs.add(&Error{Code: ErrConflict, Group: group, Rule: base + i,
					Field: remoteGroupField(r.Direction), Value: r.RemoteGroup,
					Msg: "a rule cannot reference its own group (members already reach each other through inner_access)"})
				continue
			}
		}
		id := r.identity()
		if slices.ContainsFunc(g.Rules, func(x Rule) bool { return x.identity() == id }) {
			continue // idempotent: the same rule counts once
		}
		g.Rules = append(g.Rules, r)
		added++
		who := actor
		if r.ManagedBy != "" {
			who = r.ManagedBy
		}
		if who == "" {
			who = "user"
		}
		tx.audit = append(tx.audit, AuditRecord{Actor: who, Action: "authorize", Group: group, Rule: r})
	}
	if n := g.UserRules(); n > tx.st.quotas.RulesPerGroup {
		errs.add(&Error{Code: ErrAuthorizationLimitExceed, Group: group, Rule: -1,
			Msg: fmt.Sprintf("the group would have %d rules; the quota is %d rules per group (ingress and egress counted together)",
				n, tx.st.quotas.RulesPerGroup)})
	}
	if refs := referencedGroups(g); len(refs) > MaxGroupReferences {
		errs.add(&Error{Code: ErrGroupReferenceLimitExceed, Group: group, Rule: -1,
			Msg: fmt.Sprintf("the group's rules reference %d distinct groups; at most %d are allowed", len(refs), MaxGroupReferences)})
	}
	if added > 0 {
		tx.dirty[group] = true
		if err := tx.checkNICRuleTotals(group); err != nil {
			errs = append(errs, err)
		}
	}
	return errs.err()
}

// RevokeRules removes rules from a group, matching them by identity.
func (tx *Tx) RevokeRules(group, actor string, rules ...Rule) error {
	g := tx.group(group)
	if g == nil {
		return &Error{Code: ErrGroupNotFound, Group: group, Rule: -1, Msg: "no such group"}
	}
	var errs errList
	for i, in := range rules {
		r, rerrs := normalizeRule(group, i, in)
		if len(rerrs) > 0 {
			for _, e := range rerrs {
				errs.add(e)
			}
			continue
		}
		id := r.identity()
		j := slices.IndexFunc(g.Rules, func(x Rule) bool { return x.identity() == id && !x.system })
		if j < 0 {
			errs.add(&Error{Code: ErrRuleNotFound, Group: group, Rule: -1, Msg: "no such rule: " + r.String()})
			continue
		}
		removed := g.Rules[j]
		g.Rules = slices.Delete(g.Rules, j, j+1)
		who := actor
		if who == "" {
			who = "user"
		}
		tx.audit = append(tx.audit, AuditRecord{Actor: who, Action: "revoke", Group: group, Rule: removed})
		tx.dirty[group] = true
	}
	return errs.err()
}

// AddNIC adds a NIC with its address and groups (none: the default group).
func (tx *Tx) AddNIC(id string, addr netip.Addr, groups ...string) (*NIC, error) {
	addr = addr.Unmap()
	var errs errList
	if id == "" {
		errs.add(&Error{Code: ErrNICNotFound, Rule: -1, Field: "name", Msg: "a NIC needs a name"})
	} else if _, ok := tx.st.nics[id]; ok {
		errs.add(&Error{Code: ErrNICAlreadyExists, NIC: id, Rule: -1, Msg: "a NIC with this name exists"})
	}
	if !addr.Is4() {
		errs.add(&Error{Code: ErrInvalidAddress, NIC: id, Rule: -1, Field: "ip", Value: addr.String(),
			Allowed: "an IPv4 address", Msg: "a NIC needs an IPv4 address"})
	} else if other, ok := tx.st.addrs[addr]; ok {
		errs.add(&Error{Code: ErrAddressInUse, NIC: id, Rule: -1, Field: "ip", Value: addr.String(),
			Msg: "address already used by " + other})
	}
	if len(groups) == 0 {
		if _, ok := tx.st.groups[DefaultGroupName]; !ok {
			g := defaultGroup()
			tx.st.groups[g.Name] = g
			tx.ownGroups[g.Name] = true
		}
		groups = []string{DefaultGroupName}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	n := &nicState{id: id, addr: addr, nic: &NIC{id: id, addr: addr}}
	tx.st.nics[id] = n
	tx.ownNICs[id] = true
	tx.st.addrs[addr] = id
	tx.newNICs = append(tx.newNICs, n.nic)
	for _, g := range groups {
		if err := tx.JoinGroup(id, g); err != nil {
			errs = append(errs, err)
		}
	}
	return n.nic, errs.err()
}

// RemoveNIC removes a NIC.
func (tx *Tx) RemoveNIC(id string) error {
	n, ok := tx.st.nics[id]
	if !ok {
		return &Error{Code: ErrNICNotFound, NIC: id, Rule: -1, Msg: "no such NIC"}
	}
	for _, g := range n.groups {
		tx.dirty[g] = true
	}
	delete(tx.st.nics, id)
	delete(tx.st.addrs, n.addr)
	return nil
}

// JoinGroup adds a NIC to a group.
func (tx *Tx) JoinGroup(id, group string) error {
	n := tx.nicState(id)
	if n == nil {
		return &Error{Code: ErrNICNotFound, NIC: id, Rule: -1, Msg: "no such NIC"}
	}
	g, ok := tx.st.groups[group]
	if !ok {
		return &Error{Code: ErrGroupNotFound, Group: group, NIC: id, Rule: -1, Msg: "no such group"}
	}
	if slices.Contains(n.groups, group) {
		return &Error{Code: ErrAlreadyMember, Group: group, NIC: id, Rule: -1, Msg: "the NIC is already in this group"}
	}
	q := tx.st.quotas
	if len(n.groups)+1 > q.GroupsPerNIC {
		return &Error{Code: ErrInstanceSecurityGroupLimitExceeded, Group: group, NIC: id, Rule: -1,
			Msg: fmt.Sprintf("the NIC is already in %d security groups; the quota is %d groups per NIC", len(n.groups), q.GroupsPerNIC)}
	}
	for _, other := range n.groups {
		if og := tx.st.groups[other]; og != nil && og.Type != g.Type {
			return &Error{Code: ErrGroupTypeMismatch, Group: group, NIC: id, Rule: -1,
				Msg: fmt.Sprintf("a NIC cannot mix basic and enterprise groups: %s is %s, %s is %s", other, og.Type, group, g.Type)}
		}
	}
	total := g.UserRules()
	for _, other := range n.groups {
		total += tx.st.groups[other].UserRules()
	}
	if total > q.RulesPerNIC() {
		return &Error{Code: ErrAuthorizationLimitExceed, Group: group, NIC: id, Rule: -1,
			Msg: fmt.Sprintf("the number of security group rules that act on the instance has reached the upper limit (%d > %d)", total, q.RulesPerNIC())}
	}
	n.groups = append(n.groups, group)
	tx.dirty[group] = true
	return nil
}

// LeaveGroup removes a NIC from a group. A NIC keeps at least one group.
func (tx *Tx) LeaveGroup(id, group string) error {
	n := tx.nicState(id)
	if n == nil {
		return &Error{Code: ErrNICNotFound, NIC: id, Rule: -1, Msg: "no such NIC"}
	}
	i := slices.Index(n.groups, group)
	if i < 0 {
		return &Error{Code: ErrNotMember, Group: group, NIC: id, Rule: -1, Msg: "the NIC is not in this group"}
	}
	if len(n.groups) == 1 {
		return &Error{Code: ErrConflict, Group: group, NIC: id, Rule: -1,
			Msg: "a NIC must stay in at least one security group; join another group first"}
	}
	n.groups = slices.Delete(n.groups, i, i+1)
	tx.dirty[group] = true
	return nil
}

// SetQuotas changes the quotas. Lowering one below what an existing group or
// NIC uses is refused, naming each of them.
func (tx *Tx) SetQuotas(in Quotas) error {
	q := in.withDefaults()
	var errs errList
	for _, e := range q.validate() {
		errs.add(e)
	}
	if len(errs) > 0 {
		return errs.err()
	}
	for _, name := range sortedKeys(tx.st.groups) {
		if n := tx.st.groups[name].UserRules(); n > q.RulesPerGroup {
			errs.add(&Error{Code: ErrQuotaBelowUsage, Group: name, Rule: -1, Field: "rules_per_group",
				Value: fmt.Sprint(q.RulesPerGroup), Msg: fmt.Sprintf("the group already has %d rules", n)})
		}
	}
	for _, id := range sortedKeys(tx.st.nics) {
		n := tx.st.nics[id]
		if len(n.groups) > q.GroupsPerNIC {
			errs.add(&Error{Code: ErrQuotaBelowUsage, NIC: id, Rule: -1, Field: "groups_per_nic",
				Value: fmt.Sprint(q.GroupsPerNIC), Msg: fmt.Sprintf("the NIC is already in %d groups", len(n.groups))})
		}
	}
	if len(errs) > 0 {
		return errs.err()
	}
	tx.st.quotas = q
	return nil
}

// checkNICRuleTotals checks that no NIC in group carries more rules than
// rules_per_group × groups_per_nic.
func (tx *Tx) checkNICRuleTotals(group string) error {
	q := tx.st.quotas
	var errs errList
	for _, id := range sortedKeys(tx.st.nics) {
		n := tx.st.nics[id]
		if !slices.Contains(n.groups, group) {
			continue
		}
		total := 0
		for _, g := range n.groups {
			total += tx.st.groups[g].UserRules()
		}
		if total > q.RulesPerNIC() {
			errs.add(&Error{Code: ErrAuthorizationLimitExceed, Group: group, NIC: id, Rule: -1,
				Msg: fmt.Sprintf("the number of security group rules that act on the instance has reached the upper limit (%d > %d)", total, q.RulesPerNIC())})
		}
	}
	return errs.err()
}

// finish runs the checks that need the whole batch: every referenced group
// exists.
func (tx *Tx) finish() error {
	var errs errList
	for _, name := range sortedKeys(tx.st.groups) {
		if !tx.dirty[name] {
			continue
		}
		for i, r := range tx.st.groups[name].Rules {
			if r.RemoteGroup == "" {
				continue
			}
			if _, ok := tx.st.groups[r.RemoteGroup]; !ok {
				errs.add(&Error{Code: ErrGroupNotFound, Group: name, Rule: i, Field: remoteGroupField(r.Direction),
					Value: r.RemoteGroup, Allowed: allowedGroups(tx.st.groups), Msg: "the referenced group does not exist"})
			}
		}
	}
	return errs.err()
}

func remoteGroupField(d Direction) string {
	if d == Egress {
		return "destination_group"
	}
	return "source_group"
}

func referencedGroups(g *Group) []string {
	var refs []string
	for _, r := range g.Rules {
		if r.RemoteGroup != "" && !slices.Contains(refs, r.RemoteGroup) {
			refs = append(refs, r.RemoteGroup)
		}
	}
	return refs
}

func allowedGroups(groups map[string]*Group) string {
	names := sortedKeys(groups)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
