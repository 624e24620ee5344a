package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is one problem in a topology file: where it is, which field of which
// entity, what is wrong and what would be allowed. Its text is
//
//	file:line:col: field.path: [Code: ]message (allowed: ...)
//
// with the entity's name after its index when it has one:
// "instances[2] (db-1).security_groups[0]".
type Error struct {
	File    string
	Line    int
	Column  int
	Path    string // field path, e.g. "instances[2].ip"; "" for the document
	Entity  string // name of the instance, group, vswitch, ... the path is in; "" if none
	Code    string // the cloud's error code where the firewall would refuse, else ""
	Msg     string
	Allowed string // the allowed values, if there is a fixed set or range
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	if e.Path != "" {
		b.WriteString(NamedPath(e.Path, e.Entity))
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Allowed != "" {
		fmt.Fprintf(&b, " (allowed: %s)", e.Allowed)
	}
	return b.String()
}

// NamedPath writes the name of an entity after the index of the list it is
// in: NamedPath("instances[2].ip", "db-1") is "instances[2] (db-1).ip". An
// empty name, or a path without an index, leaves the path as it is.
func NamedPath(path, name string) string {
	i := strings.IndexByte(path, ']')
	if name == "" || i < 0 {
		return path
	}
	return path[:i+1] + " (" + name + ")" + path[i+1:]
}

// Warning is something Load corrected in a valid file, where the cloud
// would too: a rule CIDR with host bits set is stored by its network. Its
// text is
//
//	file:line:col: warning: field.path: message
type Warning struct {
	File   string
	Line   int
	Column int
	Path   string
	Entity string
	Msg    string
}

func (w *Warning) String() string {
	return fmt.Sprintf("%s:%d:%d: warning: %s: %s", w.File, w.Line, w.Column, NamedPath(w.Path, w.Entity), w.Msg)
}

// Errors is every problem found in a file, sorted by position. Load returns
// it as its error; print it one problem per line with Error or range over it.
type Errors []*Error

func (l Errors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors one by one, for errors.As and errors.Is.
func (l Errors) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sort orders the errors by position, then path and message, and drops exact
// duplicates (an alias expanded twice reports its problem once).
func (l Errors) sort() Errors {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}

// maxErrors bounds how many errors one file reports; a hostile file could
// otherwise produce millions.
const maxErrors = 1000

// errorList collects errors with positions looked up in a position table.
// An error on an entity merged from an import is placed at the entity's
// origin (origin), in the input file; the importers' own errors (foreign)
// keep the file, position and entity they were given.
type errorList struct {
	file    string
	paths   map[string]bool // paths with an error, to skip dependent checks
	pos     func(path string) Position
	origin  func(path string) (Origin, bool)
	errs    Errors
	foreign Errors
	files   []string // the imported files, in the order met, for sorting
	warns   []*Warning
	full    bool
}

// warn records a correction Load made, at the position of path.
func (l *errorList) warn(path, msg string) {
	file, p, msg := l.place(path, msg)
	l.warns = append(l.warns, &Warning{File: file, Line: p.Line, Column: p.Column, Path: path, Msg: msg})
}

// place is where an error at path is reported: its origin, for an entity
// merged from an import (the message then names the input's resource),
// else its position in the file.
func (l *errorList) place(path, msg string) (string, Position, string) {
	if l.origin != nil {
		if o, ok := l.origin(path); ok {
			if o.Resource != "" {
				msg += " (from " + o.Resource + ")"
			}
			return o.File, Position{max(o.Line, 1), max(o.Column, 1)}, msg
		}
	}
	return l.file, l.pos(path), msg
}

func (l *errorList) add(path, code, msg, allowed string) {
	file, p, msg := l.place(path, msg)
	l.addIn(file, p, path, code, msg, allowed)
}

func (l *errorList) addAt(p Position, path, code, msg, allowed string) {
	l.addIn(l.file, p, path, code, msg, allowed)
}

func (l *errorList) addIn(file string, p Position, path, code, msg, allowed string) {
	if len(l.errs) >= maxErrors {
		if !l.full {
			l.full = true
			l.errs = append(l.errs, &Error{File: l.file, Line: p.Line, Column: p.Column,
				Msg: fmt.Sprintf("too many errors; stopped after %d", maxErrors)})
		}
		return
	}
	if l.paths == nil {
		l.paths = map[string]bool{}
	}
	l.paths[path] = true
	l.errs = append(l.errs, &Error{File: escapeControls(file), Line: p.Line, Column: p.Column,
		Path: path, Code: code, Msg: escapeControls(msg), Allowed: escapeControls(allowed)})
}

// addForeign records an importer's errors as they are, with a position
// of at least 1:1 and control characters escaped.
func (l *errorList) addForeign(e *Error) {
	if len(l.foreign) >= maxErrors {
		return
	}
	c := *e
	c.Line, c.Column = max(c.Line, 1), max(c.Column, 1)
	c.File, c.Path, c.Entity = escapeControls(c.File), escapeControls(c.Path), escapeControls(c.Entity)
	c.Code, c.Msg, c.Allowed = escapeControls(c.Code), escapeControls(c.Msg), escapeControls(c.Allowed)
	l.foreign = append(l.foreign, &c)
	l.seen(c.File)
}

// seen notes a file errors may be reported in, in the order files are met.
func (l *errorList) seen(file string) {
	if file != l.file && !slices.Contains(l.files, file) {
		l.files = append(l.files, file)
	}
}

// all returns every error, the topology file's first, then each imported
// file's in the order met, each by position.
func (l *errorList) all() Errors {
	out := append(slices.Clip(l.errs), l.foreign...)
	for _, e := range out {
		l.seen(e.File)
	}
	rank := func(f string) int {
		if f == l.file {
			return -1
		}
		return slices.Index(l.files, f)
	}
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(rank(a.File), rank(b.File)), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(out, func(a, b *Error) bool { return *a == *b })
}

// sortedWarnings returns the warnings ordered as all orders errors.
func (l *errorList) sortedWarnings() []*Warning {
	for _, w := range l.warns {
		l.seen(w.File)
	}
	rank := func(f string) int {
		if f == l.file {
			return -1
		}
		return slices.Index(l.files, f)
	}
	slices.SortStableFunc(l.warns, func(a, b *Warning) int {
		return cmp.Or(cmp.Compare(rank(a.File), rank(b.File)), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return l.warns
}

// escapeControls writes the control and formatting characters of s, and its
// invalid UTF-8, as Go escapes (\x1b, \u202e): the values the checks refuse
// are quoted where they are named, and this keeps any other path (a parser
// message quoting the file) from carrying them to a terminal.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsGraphic(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
			} else {
				b.WriteString(`\ufffd`)
			}
		case !unicode.IsGraphic(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// suggest returns the candidate closest to s, or "" if none is close: a
// candidate s is a prefix of (3 characters or more), else the nearest by edit
// distance within max(2, len/3).
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	limit := max(2, len(s)/3)
	for _, c := range candidates {
		d := EditDistance(strings.ToLower(s), c)
		if len(s) >= 3 && strings.HasPrefix(c, strings.ToLower(s)) {
			d = 1
		}
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance, in bytes (importers use it for
// "did you mean" too). Inputs longer than 64
// bytes are never close to a field name, so they are not compared.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// entity returns the name of the vswitch, security group, instance, NAT
// gateway, internet host or expectation a field path lies in, or "" when
// the path is elsewhere or the entity has no name (yet). An expectation
// without a name is named by its ends, "web-1 → db-1".
func (t *Topology) entity(path string) string {
	list, rest, ok := strings.Cut(path, "[")
	if !ok {
		return ""
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return ""
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil || i < 0 {
		return ""
	}
	in := func(n int) bool { return i < n }
	switch list {
	case "vswitches":
		if in(len(t.VSwitches)) {
			return t.VSwitches[i].Name
		}
	case "security_groups":
		if in(len(t.SecurityGroups)) {
			return t.SecurityGroups[i].Name
		}
	case "instances":
		if in(len(t.Instances)) {
			return t.Instances[i].Name
		}
	case "nat_gateways":
		if in(len(t.NATGateways)) {
			return t.NATGateways[i].Name
		}
	case "vpn_gateways":
		if in(len(t.VPNGateways)) {
			return t.VPNGateways[i].Name
		}
	case "imports":
		if in(len(t.Imports)) {
			return t.Imports[i].Format
		}
	case "internet.hosts":
		if in(len(t.Internet.Hosts)) {
			return t.Internet.Hosts[i].Name
		}
	case "expect":
		if in(len(t.Expect)) {
			e := &t.Expect[i]
			switch {
			case e.Name != "":
				return e.Name
			case e.From != "" && e.To != "":
				return e.From + " → " + e.To
			}
		}
	}
	return ""
}

// named is the path with its entity's name, for messages that point at
// another entity: "instances[3] (web-1)".
func (t *Topology) named(path string) string { return NamedPath(path, t.entity(path)) }

// nameEntities fills the Entity of every error and warning once the file is
// decoded.
func (l *errorList) nameEntities(t *Topology) {
	for _, e := range l.errs {
		e.Entity = escapeControls(t.entity(e.Path))
	}
	for _, w := range l.warns {
		w.Entity = escapeControls(t.entity(w.Path))
	}
}
