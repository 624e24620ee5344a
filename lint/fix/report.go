package fix

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteReport writes the report as a table: per group the rules before and
// after, the rules saved and the quota, then what Fix removed and merged,
// the fixes to make in imported files and the removals it could not make.
func WriteReport(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tBEFORE\tAFTER\tSAVED\tQUOTA\tHEADROOM")
	for _, g := range rep.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", g.Group, g.Before, g.After, g.Saved, g.Quota, g.Quota-g.After)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for _, g := range rep.Groups {
		for _, j := range g.Removed {
			fmt.Fprintf(&b, "%s: rule %d removed (redundant)\n", g.Group, j)
		}
		for _, m := range g.Merges {
			switch {
			case len(m.From) == 0:
				fmt.Fprintf(&b, "%s: rule %d: %s set to %s\n", g.Group, m.Into, m.Field, m.Value)
			case m.Field == "":
				fmt.Fprintf(&b, "%s: rules %s merged into rule %d\n", g.Group, ints(m.From), m.Into)
			default:
				fmt.Fprintf(&b, "%s: rules %s merged into rule %d (%s %s)\n", g.Group, ints(m.From), m.Into, m.Field, m.Value)
			}
		}
		if g.Pending > 0 {
			fmt.Fprintf(&b, "%s: %d more rules saved once the imported files are fixed\n", g.Group, g.Pending)
		}
	}
	for _, e := range rep.Elsewhere {
		fmt.Fprintf(&b, "%s:%d:%d: remove %s (rule %d of group %s is redundant)\n", e.Origin.File, e.Origin.Line, e.Origin.Column, resource(e), e.Index, e.Group)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(&b, "%s: rule %d not removed: %s\n", s.Group, s.Index, s.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func resource(e Elsewhere) string {
	if e.Origin.Resource != "" {
		return e.Origin.Resource
	}
	return "the rule " + e.Rule
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
