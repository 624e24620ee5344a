package firewall

import (
	"cmp"
	"slices"
)

// decisionList assembles the ordered decision list of docs/semantics.md §2
// for one direction, without compiling a matcher: intra-group accept (step
// 3); every group's rules for the direction sorted by priority with drop
// before accept on ties, stable in group order then rule order (step 4,
// including the default group's system rules at 110); intra-group drop for
// ingress (step 5); and the implicit default as the fallback (step 6).
func decisionList(st *state, groups []string, dir Direction, members map[string][]Range32) *Policy {
	pol := &Policy{Dir: dir, Fallback: SGDefaultDeny}
	enterprise := false
	for _, name := range groups {
		if st.groups[name].Type == Enterprise {
			enterprise = true
		}
	}
	if dir == Egress && !enterprise {
		pol.Fallback = SGDefaultAccept
	}
	// Step 3: intra-group accept, both directions.
	for _, name := range groups {
		g := st.groups[name]
		if g.Inner() != InnerAccept {
			continue
		}
		pol.Entries = append(pol.Entries, innerEntry(SGInnerAccept, name, dir, members[name]))
	}
	// Step 4: user (and system) rules.
	type ranked struct {
		e             Entry
		prio          int
		drop          int
		groupIdx, idx int
	}
	var rules []ranked
	for gi, name := range groups {
		g := st.groups[name]
		for ri, r := range g.Rules {
			if r.Direction != dir {
				continue
			}
			code, drop := SGRuleAccept, 1
			if r.Policy == Drop {
				code, drop = SGRuleDrop, 0
			}
			rules = append(rules, ranked{
				e:    Entry{Code: code, Group: name, Rule: ri, R: r, Match: ruleMatch(&r, members)},
				prio: r.Priority, drop: drop, groupIdx: gi, idx: ri,
			})
		}
	}
	slices.SortStableFunc(rules, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.prio, b.prio), cmp.Compare(a.drop, b.drop),
			cmp.Compare(a.groupIdx, b.groupIdx), cmp.Compare(a.idx, b.idx))
	})
	for _, r := range rules {
		pol.Entries = append(pol.Entries, r.e)
	}
	// Step 5: intra-group drop, ingress only, below every rule.
	if dir == Ingress {
		for _, name := range groups {
			g := st.groups[name]
			if g.Inner() != InnerDrop {
				continue
			}
			pol.Entries = append(pol.Entries, innerEntry(SGInnerDrop, name, dir, members[name]))
		}
	}
	return pol
}

// linearMatch is the first entry whose match holds t, or -1: Lookup of a
// policy without a compiled matcher (Config.DecisionListsOnly).
func (p *Policy) linearMatch(t *Tuple) int {
	for i := range p.Entries {
		if p.Entries[i].Match.Matches(t) {
			return i
		}
	}
	return -1
}
