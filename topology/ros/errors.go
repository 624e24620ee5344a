package ros

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// maxErrors bounds the errors one file reports.
const maxErrors = 1000

// errList collects every problem of one template, and the items skipped
// because the caller asked for SkipUnsupported.
type errList struct {
	file    string
	skip    bool
	errs    topology.Errors
	skipped []topology.Skipped
}

// at records an error at a position. path is the template's field path
// ("Resources.Web.Properties.PortRange"), entity the logical id.
func (l *errList) at(line, col int, path, entity, msg, allowed string) {
	if len(l.errs) > maxErrors {
		return
	}
	if len(l.errs) == maxErrors {
		msg, allowed = fmt.Sprintf("too many errors; stopped after %d", maxErrors), ""
	}
	l.errs = append(l.errs, &topology.Error{File: l.file, Line: line, Column: col,
		Path: path, Entity: entity, Msg: msg, Allowed: allowed})
}

// add records an error at a node.
func (l *errList) add(n *node, path, entity, msg, allowed string) {
	line, col := 1, 1
	if n != nil {
		line, col = n.line, n.col
	}
	l.at(line, col, path, entity, msg, allowed)
}

// unsupported records something understood but not supported: an error, or
// with SkipUnsupported a Skipped entry. Either way the caller leaves the
// item out.
func (l *errList) unsupported(n *node, path, entity, what, why string) {
	if l.skip {
		line, col := 1, 1
		if n != nil {
			line, col = n.line, n.col
		}
		l.skipped = append(l.skipped, topology.Skipped{
			Origin: topology.Origin{File: l.file, Line: line, Column: col, Resource: entity},
			What:   what, Why: why})
		return
	}
	l.add(n, path, entity, "not supported: "+why+" (--skip-unsupported leaves it out)", "")
}

// sorted returns the errors ordered by position, duplicates dropped (an
// expression evaluated twice reports its problem once).
func (l *errList) sorted() topology.Errors {
	out := slices.Clone(l.errs)
	slices.SortStableFunc(out, func(a, b *topology.Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(out, func(a, b *topology.Error) bool { return *a == *b })
}

// sortedSkipped returns the skipped items ordered by position.
func (l *errList) sortedSkipped() []topology.Skipped {
	out := slices.Clone(l.skipped)
	slices.SortStableFunc(out, func(a, b topology.Skipped) int {
		return cmp.Or(cmp.Compare(a.Origin.Line, b.Origin.Line), cmp.Compare(a.Origin.Column, b.Origin.Column))
	})
	return out
}

// suggest returns the candidate closest to s, or "" if none is close.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	limit := max(2, len(s)/4)
	for _, c := range candidates {
		d := topology.EditDistance(strings.ToLower(s), strings.ToLower(c))
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
