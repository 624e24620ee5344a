package lint

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Why is the answer of `lint --why GROUP/INDEX`: for a rule lint keeps, a
// packet it decides (the witness) and the verdicts with and without it; for a
// redundant rule, the cause and the rules that cover it.
type Why struct {
	Rule      RuleRef `json:"rule"`
	Redundant bool    `json:"redundant"`
	Direction string  `json:"direction,omitempty"`
	// NIC is the instance the witness or the cause was found on.
	NIC         string    `json:"nic,omitempty"`
	Witness     string    `json:"witness,omitempty"`
	With        string    `json:"with,omitempty"`
	Without     string    `json:"without,omitempty"`
	Cause       string    `json:"cause,omitempty"`
	By          []RuleRef `json:"by,omitempty"`
	RedundantOn []string  `json:"redundant_on,omitempty"`
	NeededOn    []string  `json:"needed_on,omitempty"`
}

// Why explains rule index (as the file lists the group's rules) of group.
func (r *Report) Why(group string, index int) (*Why, error) {
	if w, ok := r.why[whyKey{group, index}]; ok {
		return w, nil
	}
	var have []int
	groups := map[string]bool{}
	for k := range r.why {
		groups[k.group] = true
		if k.group == group {
			have = append(have, k.index)
		}
	}
	if len(have) == 0 {
		names := slices.Sorted(maps.Keys(groups))
		return nil, fmt.Errorf("%s/%d: no group %q with rules in the file (allowed: %s)", group, index, group, strings.Join(names, ", "))
	}
	slices.Sort(have)
	s := make([]string, len(have))
	for i, x := range have {
		s[i] = fmt.Sprint(x)
	}
	return nil, fmt.Errorf("%s/%d: group %s has no rule %d (allowed: %s)", group, index, group, index, strings.Join(s, ", "))
}
