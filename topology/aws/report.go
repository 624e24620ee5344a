package aws

import (
	"cmp"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// maxErrors bounds how many errors one import reports; a hostile input could
// otherwise produce millions.
const maxErrors = 1000

// report collects the errors of an import (every one, sorted at the end) and
// what was skipped because the caller asked for SkipUnsupported.
type report struct {
	errs    topology.Errors
	skipped []topology.Skipped
	skip    bool
	bad     map[string]bool // file and field path of each error, to report a field once
}

// fail records an error at o, naming the field path and the entity.
func (r *report) fail(o topology.Origin, path, entity, msg, allowed string) {
	key := o.File + "\x00" + path
	if len(r.errs) >= maxErrors || path != "" && r.bad[key] {
		return
	}
	if r.bad == nil {
		r.bad = map[string]bool{}
	}
	r.bad[key] = true
	r.errs = append(r.errs, &topology.Error{File: o.File, Line: o.Line, Column: o.Column,
		Path: path, Entity: entity, Msg: msg, Allowed: allowed})
}

// unsupported records something understood but not supported: an error,
// or with SkipUnsupported an entry in Fragment.Skipped.
func (r *report) unsupported(o topology.Origin, path, entity, why string) {
	if r.skip {
		r.skipped = append(r.skipped, topology.Skipped{Origin: o, What: path, Why: why})
		return
	}
	r.fail(o, path, entity, "not supported: "+why+" (--skip-unsupported leaves it out)", "")
}

// err returns the errors sorted by file and position, or nil.
func (r *report) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(r.errs, func(a, b *topology.Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column), strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	r.errs = slices.CompactFunc(r.errs, func(a, b *topology.Error) bool { return *a == *b })
	return r.errs
}
