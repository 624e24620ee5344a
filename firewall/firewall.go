package firewall

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Firewall.
type Config struct {
	Quotas Quotas // zero fields take DefaultQuotas
	// AllowOutboundSMTP turns off the platform block of TCP port 25 towards
	// the internet (topology: platform.block_outbound_smtp: false).
	AllowOutboundSMTP bool
	Conntrack         ConntrackConfig
	// Now stamps audit records; nil means time.Now.
	Now func() time.Time
	// DecisionListsOnly makes a firewall for analysis (lint): every NIC's
	// policies hold their ordered decision lists, but no packet matcher is
	// compiled, which is most of the cost of a change. Lookup and Classify
	// still answer, by a first-match scan of the entries (slow: not for a
	// data path).
	DecisionListsOnly bool
}

// Firewall is the security-group state of one VPC: groups, NICs and their
// memberships, quotas, the connection-tracking table and the audit log.
// Changes are validated completely before they apply; a change that fails
// leaves everything as it was. Each NIC's compiled policy is published with an
// atomic pointer swap, so the data path never locks and never sees a mix.
type Firewall struct {
	mu      sync.Mutex // serializes changes; the data path never takes it
	st      *state
	cache   map[string]*NICPolicy // compiled policies by group-list key
	gen     uint64
	audit   []AuditRecord
	now     func() time.Time
	ct      *Conntrack
	allow25 atomic.Bool
	// listsOnly: Config.DecisionListsOnly.
	listsOnly bool
}

// New returns an empty firewall (no groups, no NICs).
func New(cfg Config) *Firewall {
	q := cfg.Quotas.withDefaults()
	fw := &Firewall{
		st: &state{
			quotas: q,
			groups: map[string]*Group{},
			nics:   map[string]*nicState{},
			addrs:  map[netip.Addr]string{},
		},
		cache:     map[string]*NICPolicy{},
		now:       cfg.Now,
		ct:        NewConntrack(cfg.Conntrack),
		listsOnly: cfg.DecisionListsOnly,
	}
	if fw.now == nil {
		fw.now = time.Now
	}
	fw.allow25.Store(cfg.AllowOutboundSMTP)
	return fw
}

// Close stops the conntrack table's clock.
func (fw *Firewall) Close() { fw.ct.Close() }

// Conntrack returns the VPC's connection-tracking table.
func (fw *Firewall) Conntrack() *Conntrack { return fw.ct }

// SetBlockOutboundSMTP turns the platform block of TCP 25 towards the
// internet on or off (docs/semantics.md §2.1).
func (fw *Firewall) SetBlockOutboundSMTP(block bool) { fw.allow25.Store(!block) }

// BlockOutboundSMTP reports whether the platform blocks TCP 25 to the internet.
func (fw *Firewall) BlockOutboundSMTP() bool { return !fw.allow25.Load() }

// NIC is a network interface known to the firewall: an address and the
// groups it belongs to. The data plane holds it and asks it for the current
// compiled policy on every new flow.
type NIC struct {
	id     string
	addr   netip.Addr
	policy atomic.Pointer[NICPolicy]
}

// ID returns the NIC's name.
func (n *NIC) ID() string { return n.id }

// Addr returns the NIC's private address.
func (n *NIC) Addr() netip.Addr { return n.addr }

// Policy returns the NIC's current compiled policy (an atomic load).
func (n *NIC) Policy() *NICPolicy { return n.policy.Load() }

// Update runs fn against a transaction and applies all its changes at once if
// fn and the final validation succeed. On any error nothing changes, and every
// problem found is returned (joined).
func (fw *Firewall) Update(fn func(tx *Tx) error) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	tx := newTx(fw.st)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.finish(); err != nil {
		return err
	}
	fw.commit(tx)
	return nil
}

// CreateGroup creates a group with its rules.
func (fw *Firewall) CreateGroup(g Group) error {
	return fw.Update(func(tx *Tx) error { return tx.CreateGroup(g) })
}

// DeleteGroup deletes a group that no NIC uses and no rule references.
func (fw *Firewall) DeleteGroup(name string) error {
	return fw.Update(func(tx *Tx) error { return tx.DeleteGroup(name) })
}

// AuthorizeRules adds rules to a group; actor is "user" or the service
// adding them (the audit log records it).
func (fw *Firewall) AuthorizeRules(group, actor string, rules ...Rule) error {
	return fw.Update(func(tx *Tx) error { return tx.AuthorizeRules(group, actor, rules...) })
}

// RevokeRules removes rules (matched by everything but description and
// managed_by) from a group.
func (fw *Firewall) RevokeRules(group, actor string, rules ...Rule) error {
	return fw.Update(func(tx *Tx) error { return tx.RevokeRules(group, actor, rules...) })
}

// AddNIC adds a NIC with its private address and groups (none: the default
// group) and returns it.
func (fw *Firewall) AddNIC(id string, addr netip.Addr, groups ...string) (*NIC, error) {
	var nic *NIC
	err := fw.Update(func(tx *Tx) error {
		var err error
		nic, err = tx.AddNIC(id, addr, groups...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nic, nil
}

// RemoveNIC removes a NIC; its address leaves every group it was in.
func (fw *Firewall) RemoveNIC(id string) error {
	return fw.Update(func(tx *Tx) error { return tx.RemoveNIC(id) })
}

// JoinGroup adds a NIC to a group.
func (fw *Firewall) JoinGroup(nic, group string) error {
	return fw.Update(func(tx *Tx) error { return tx.JoinGroup(nic, group) })
}

// LeaveGroup removes a NIC from a group (a NIC keeps at least one group).
func (fw *Firewall) LeaveGroup(nic, group string) error {
	return fw.Update(func(tx *Tx) error { return tx.LeaveGroup(nic, group) })
}

// SetQuotas changes the quotas for every existing group and NIC at once.
func (fw *Firewall) SetQuotas(q Quotas) error {
	return fw.Update(func(tx *Tx) error { return tx.SetQuotas(q) })
}

// Quotas returns the quotas in force.
func (fw *Firewall) Quotas() Quotas {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.st.quotas
}

// Group returns a copy of a group, with its rules.
func (fw *Firewall) Group(name string) (Group, bool) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	g, ok := fw.st.groups[name]
	if !ok {
		return Group{}, false
	}
	return *g.clone(), true
}

// Groups returns the names of all groups, sorted.
func (fw *Firewall) Groups() []string {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	names := make([]string, 0, len(fw.st.groups))
	for n := range fw.st.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NIC returns a NIC by name.
func (fw *Firewall) NIC(id string) (*NIC, bool) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	n, ok := fw.st.nics[id]
	if !ok {
		return nil, false
	}
	return n.nic, true
}

// NICGroups returns the groups of a NIC, in order.
func (fw *Firewall) NICGroups(id string) []string {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	n, ok := fw.st.nics[id]
	if !ok {
		return nil
	}
	return slices.Clone(n.groups)
}

// Members returns the NIC names in a group, sorted.
func (fw *Firewall) Members(group string) []string {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var out []string
	for id, n := range fw.st.nics {
		if slices.Contains(n.groups, group) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// AuditRecord is one rule change (docs/semantics.md §7).
type AuditRecord struct {
	Time   time.Time
	Actor  string // "user" or the managing service
	Action string // "authorize" or "revoke"
	Group  string
	Rule   Rule
}

// AuditLog returns every rule change so far, oldest first.
func (fw *Firewall) AuditLog() []AuditRecord {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return slices.Clone(fw.audit)
}

// commit publishes a validated transaction: new state, audit records, and a
// recompiled policy for every NIC whose policy depends on a changed group.
func (fw *Firewall) commit(tx *Tx) {
	fw.st = tx.st
	now := fw.now()
	for _, a := range tx.audit {
		a.Time = now
		fw.audit = append(fw.audit, a)
	}
	fw.gen++
	fw.recompile(tx.dirty)
}
