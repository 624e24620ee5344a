package terraform

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vpclab/vpclab/topology"
)

// maxErrors bounds the errors one import reports.
const maxErrors = 1000

// errorList collects the errors of an import.
type errorList struct {
	errs topology.Errors
	full bool
}

// add records an error at rng. Path is the field path
// (resource.alicloud_instance.web[0].private_ip); allowed, if given, lists
// the allowed values.
func (l *errorList) add(rng hcl.Range, path, msg string, allowed ...string) {
	if len(l.errs) >= maxErrors {
		if !l.full {
			l.full = true
			l.errs = append(l.errs, &topology.Error{File: rng.Filename, Line: rng.Start.Line, Column: rng.Start.Column,
				Msg: fmt.Sprintf("too many errors; stopped after %d", maxErrors)})
		}
		return
	}
	line, col := rng.Start.Line, rng.Start.Column
	if line < 1 {
		line, col = 1, 1
	}
	l.errs = append(l.errs, &topology.Error{File: rng.Filename, Line: line, Column: col, Path: path,
		Msg: msg, Allowed: strings.Join(allowed, ", ")})
}

// diags records HCL's error diagnostics (syntax, unknown arguments).
func (l *errorList) diags(ds hcl.Diagnostics) { l.diagsAt("", ds) }

func (l *errorList) diagsAt(path string, ds hcl.Diagnostics) {
	for _, d := range ds {
		if d.Severity != hcl.DiagError {
			continue
		}
		rng := hcl.Range{Start: hcl.InitialPos}
		if d.Subject != nil {
			rng = *d.Subject
		}
		p := path
		if m := namedArg.FindStringSubmatch(d.Detail); m != nil && p != "" {
			p += "." + m[1]
		}
		l.add(rng, p, diagText(d))
	}
}

// namedArg finds the argument or block an HCL diagnostic is about.
var namedArg = regexp.MustCompile(`^An? (?:argument|block type) named "([^"]+)"`)

// diagText is an HCL diagnostic as one sentence: "Unsupported argument: An
// argument named "vpc_name" is not expected here. Did you mean "vpc_id"?".
func diagText(d *hcl.Diagnostic) string {
	if d.Detail == "" {
		return d.Summary
	}
	return d.Summary + ": " + d.Detail
}

// sorted returns the errors sorted by file and position, duplicates dropped.
func (l *errorList) sorted() topology.Errors {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b *topology.Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(l.errs, func(a, b *topology.Error) bool { return *a == *b })
}

// rangeText is a range's start as file:line:col.
func rangeText(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
