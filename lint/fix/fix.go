package fix

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/vpclab/vpclab/topology"
)

// Removal names one rule to remove: the group and the rule's index in the
// group's rules as the loaded topology holds them.
type Removal struct {
	Group string
	Index int
}

// Merge is rules of one group folded into one: the rule at Into stays, with
// Field set to Value, and the rules at From are removed. Field is "" when
// the rules at From were identical to it (or inside it) and Into's text is
// unchanged.
type Merge struct {
	Into  int
	From  []int
	Field string // port_range, source, destination or source_port_range
	Value string
}

// GroupReport is what the rewrite does to one group.
type GroupReport struct {
	Group   string
	Before  int     // rules in the loaded group
	After   int     // rules in the rewritten file
	Saved   int     // Before - After
	Quota   int     // quotas.rules_per_group
	Removed []int   // rules removed as redundant
	Merges  []Merge // rules merged
	// Pending counts redundant rules that came from an import: they are
	// saved once the origin file is fixed (see Report.Elsewhere).
	Pending int
}

// Elsewhere is a redundant rule that came from an import: it has to be
// removed from the origin file, not from the topology file.
type Elsewhere struct {
	Group  string
	Index  int
	Origin topology.Origin // the resource to change
	Rule   string          // the rule in one line
}

// Skipped is a removal Fix could not make in the text, and why.
type Skipped struct {
	Group  string
	Index  int
	Reason string
}

// Report says what Fix did, group by group, and what it could not do.
type Report struct {
	Groups    []GroupReport
	Elsewhere []Elsewhere
	Skipped   []Skipped
}

// Fix returns data, the text of the topology file t was loaded from, with
// the rules named by removals removed and the mergeable rules of every group
// merged (see the package documentation), and a report of the rules each
// group saves. It refuses, with an error and no output, a removal that names
// no rule of t, and a rewrite that would not load.
func Fix(data []byte, t *topology.Topology, removals []Removal) ([]byte, *Report, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("fix: no topology")
	}
	bom := bytes.HasPrefix(data, []byte("\ufeff"))
	body := bytes.TrimPrefix(data, []byte("\ufeff"))
	doc, err := parseText(body)
	if err != nil {
		return nil, nil, err
	}
	groupIndex := map[string]int{}
	for i := range t.SecurityGroups {
		groupIndex[t.SecurityGroups[i].Name] = i
	}
	remove := make([]map[int]bool, len(t.SecurityGroups))
	for _, r := range removals {
		gi, ok := groupIndex[r.Group]
		if !ok {
			return nil, nil, fmt.Errorf("fix: removal of rule %d of group %q: %s has no such group", r.Index, r.Group, t.File)
		}
		if n := len(t.SecurityGroups[gi].Rules); r.Index < 0 || r.Index >= n {
			return nil, nil, fmt.Errorf("fix: removal of rule %d of group %q: the group has %d rules (0..%d)", r.Index, r.Group, n, n-1)
		}
		if remove[gi] == nil {
			remove[gi] = map[int]bool{}
		}
		remove[gi][r.Index] = true
	}

	rep := &Report{}
	var edits []edit
	want := map[string]int{} // group → rule count expected after the rewrite
	for gi := range t.SecurityGroups {
		g := &t.SecurityGroups[gi]
		fg := doc.groups[g.Name]
		gr := GroupReport{Group: g.Name, Before: len(g.Rules), Quota: t.Quotas.RulesPerGroup}
		fw := g.Firewall()
		owned := func(j int) bool { return fg != nil && j < len(fg.rules) && g.Rules[j].Origin.IsZero() }
		gone := map[int]bool{}
		for _, j := range sortedKeys(remove[gi]) {
			switch {
			case !owned(j):
				o := g.Rules[j].Origin
				if o.IsZero() {
					o = g.Origin
				}
				if o.IsZero() {
					rep.Skipped = append(rep.Skipped, Skipped{g.Name, j, fmt.Sprintf("%s does not hold the rule and it names no origin", t.File)})
					continue
				}
				rep.Elsewhere = append(rep.Elsewhere, Elsewhere{g.Name, j, o, fw.Rules[j].String()})
				gr.Pending++
			case fg.err != "":
				rep.Skipped = append(rep.Skipped, Skipped{g.Name, j, fg.err})
			default:
				if reason := fg.removable(doc, j); reason != "" {
					rep.Skipped = append(rep.Skipped, Skipped{g.Name, j, reason})
					continue
				}
				gone[j] = true
				gr.Removed = append(gr.Removed, j)
			}
		}
		if fg != nil && fg.err == "" {
			merges, absorbed := planMerges(doc, fg, g, fw.Rules, gone, owned)
			gr.Merges = merges
			for _, m := range merges {
				if m.Field != "" {
					e, err := fg.valueEdit(doc, m.Into, m.Field, m.Value)
					if err != nil {
						return nil, nil, err
					}
					edits = append(edits, e)
				}
			}
			for j := range absorbed {
				gone[j] = true
			}
			es, err := fg.removeEdits(doc, gone)
			if err != nil {
				return nil, nil, err
			}
			edits = append(edits, es...)
		}
		gr.After = gr.Before - len(gone)
		gr.Saved = len(gone)
		want[g.Name] = gr.After
		rep.Groups = append(rep.Groups, gr)
	}
	out, err := apply(body, edits)
	if err != nil {
		return nil, nil, err
	}
	if bom {
		out = append([]byte("\ufeff"), out...)
	}
	if len(edits) == 0 {
		return out, rep, nil
	}
	nt, err := topology.Load(t.File, out)
	if err != nil {
		return nil, nil, fmt.Errorf("fix: the rewritten file would not load, so nothing is rewritten (please report it): %w", err)
	}
	for i := range nt.SecurityGroups {
		g := &nt.SecurityGroups[i]
		if n, ok := want[g.Name]; ok && n != len(g.Rules) {
			return nil, nil, fmt.Errorf("fix: the rewritten group %s has %d rules, want %d; nothing is rewritten (please report it)", g.Name, len(g.Rules), n)
		}
	}
	return out, rep, nil
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
