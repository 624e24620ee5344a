package topology

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/vpclab/vpclab/netstack"
)

// Decoding limits. A topology nests at most 5 levels and a large one has a
// few ten thousand nodes; these bounds stop alias bombs and cycles.
const (
	maxDepth = 32      // nesting of mappings and sequences, aliases included
	maxNodes = 500_000 // nodes decoded beyond one per byte of the file, aliases expanded each time they are used
	maxAlias = 64      // alias → alias chains
)

// cidrMalformed is the VPC API's code for a CIDR block it refuses, the
// vpc's or a vswitch's (the only CIDR-typed fields).
const cidrMalformed = netstack.ErrInvalidCIDR

// decoder fills Go values from the YAML syntax tree, reporting every problem
// with its position instead of stopping at the first, and records the
// position of each value it sets by field path.
type decoder struct {
	errs    *errorList
	pos     map[string]Position
	anchors map[string]ast.Node
	budget  int
	limit   int               // the budget's start, for its message
	over    bool              // budget exhausted and reported
	root    bool              // the document is a mapping (its fields were decoded)
	merging map[ast.Node]bool // mappings being merged, to catch cycles
}

func newDecoder(errs *errorList) *decoder {
	return &decoder{errs: errs, pos: map[string]Position{}, anchors: map[string]ast.Node{}, budget: maxNodes, limit: maxNodes}
}

func nodePos(n ast.Node) Position {
	if n == nil {
		return Position{1, 1}
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Position{1, 1}
	}
	return Position{tk.Position.Line, tk.Position.Column}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// collectAnchors records every anchor of the tree. The walk is iterative, so
// it needs no recursion limit of its own.
func (d *decoder) collectAnchors(root ast.Node) {
	stack := []ast.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := n.(type) {
		case *ast.AnchorNode:
			if n.Name != nil && n.Value != nil {
				d.anchors[n.Name.GetToken().Value] = n.Value
				stack = append(stack, n.Value)
			}
		case *ast.MappingNode:
			for _, mv := range n.Values {
				stack = append(stack, mv)
			}
		case *ast.MappingValueNode:
			if n.Key != nil {
				stack = append(stack, n.Key)
			}
			if n.Value != nil {
				stack = append(stack, n.Value)
			}
		case *ast.MappingKeyNode:
			if n.Value != nil {
				stack = append(stack, n.Value)
			}
		case *ast.SequenceNode:
			for _, v := range n.Values {
				if v != nil {
					stack = append(stack, v)
				}
			}
		case *ast.TagNode:
			if n.Value != nil {
				stack = append(stack, n.Value)
			}
		}
	}
}

// resolve follows anchors, aliases and tags to the node that holds the value.
func (d *decoder) resolve(n ast.Node, path string) (ast.Node, bool) {
	for range maxAlias {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.AliasNode:
			name := ""
			if x.Value != nil {
				name = x.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errs.addAt(nodePos(x), path, "", fmt.Sprintf("alias *%s names no anchor", name), "")
				return nil, false
			}
			n = target
		default:
			return n, true
		}
		if n == nil {
			return nil, true
		}
	}
	d.errs.addAt(nodePos(n), path, "", "alias chain too long", "")
	return nil, false
}

// spend charges one node against the budget.
func (d *decoder) spend(n ast.Node, path string) bool {
	d.budget--
	if d.budget >= 0 {
		return true
	}
	if !d.over {
		d.over = true
		d.errs.addAt(nodePos(n), path, "", fmt.Sprintf("document too large: more than %d values after expanding aliases", d.limit), "")
	}
	return false
}

// decode sets v from node n. f describes the struct field v is, or is nil
// for sequence elements and the document.
func (d *decoder) decode(n ast.Node, v reflect.Value, path string, f *field, depth int) {
	if depth > maxDepth {
		d.errs.addAt(nodePos(n), path, "", fmt.Sprintf("nesting deeper than %d levels", maxDepth), "")
		return
	}
	if !d.spend(n, path) {
		return
	}
	at := nodePos(n)
	n, ok := d.resolve(n, path)
	if !ok {
		return
	}
	if n == nil || n.Type() == ast.NullType {
		return // absent: defaults stay, required fields are reported by the caller
	}
	d.pos[path] = at
	t := v.Type()
	switch {
	case t == addrType:
		s, ok := d.scalar(n, at, path, "an IPv4 address", false)
		if !ok {
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			d.errs.addAt(at, path, "", fmt.Sprintf("%q is not an IPv4 address", s), "")
			return
		}
		v.Set(reflect.ValueOf(a))
	case t == prefixType:
		s, ok := d.scalar(n, at, path, "an IPv4 CIDR", false)
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			d.errs.addAt(at, path, cidrMalformed, fmt.Sprintf("%q is not an IPv4 CIDR", s), "a CIDR like 10.0.0.0/16")
			return
		}
		if p.Masked() != p {
			// The VPC API refuses such a CIDR block; the user probably
			// meant its network.
			d.errs.addAt(at, path, cidrMalformed, fmt.Sprintf("%s has host bits set: a CIDR block is written with its network address; did you mean %s?", s, p.Masked()), "")
			return
		}
		v.Set(reflect.ValueOf(p))
	case t == durationType:
		d.decodeDuration(n, at, v, path, f)
	case t.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path, depth)
	case t.Kind() == reflect.Pointer:
		// An optional value (shard: 0 is not absent): decoded into a new
		// one, set only when it decodes without an error.
		p := reflect.New(t.Elem())
		before := len(d.errs.errs)
		d.decode(n, p.Elem(), path, f, depth)
		if len(d.errs.errs) == before {
			v.Set(p)
		}
	case t.Kind() == reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.errs.addAt(at, path, "", "want a list, got "+describe(n), "")
			return
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		var ef *field // a list of names is checked as names
		if f != nil && t.Elem().Kind() == reflect.String {
			ef = &field{chars: f.chars}
		}
		for i, e := range seq.Values {
			d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i), ef, depth+1)
		}
		v.Set(s)
	case t.Kind() == reflect.String:
		scalar := f != nil && f.scalar
		s, ok := d.scalar(n, at, path, "a string", scalar)
		if !ok {
			return
		}
		chars := textChars
		if f != nil {
			chars = f.chars
		}
		if msg := chars.check(s); msg != "" {
			d.errs.addAt(at, path, "", fmt.Sprintf("%s contains %s", quote(s), msg), chars.allowed())
			return
		}
		if f != nil && f.enum != nil {
			lower := strings.ToLower(s)
			if !contains(f.enum, lower) {
				msg := fmt.Sprintf("unknown value %q", s)
				if sg := suggest(s, f.enum); sg != "" {
					msg += fmt.Sprintf(", did you mean %q?", sg)
				}
				d.errs.addAt(at, path, "", msg, f.allowed())
				return
			}
			s = lower
		}
		v.SetString(s)
	case t.Kind() == reflect.Int && f != nil && f.all && isWordAll(n):
		v.SetInt(AllPorts)
	case t.Kind() == reflect.Map:
		d.decodeMap(n, at, v, path, depth)
	case t.Kind() == reflect.Int:
		num, ok := n.(*ast.IntegerNode)
		if s, isStr := n.(*ast.StringNode); isStr && s.Token != nil && s.Token.Type == token.StringType && isDigits(s.Value) {
			d.errs.addAt(at, path, "", fmt.Sprintf("%s is out of range", truncate(s.Value)), allowedOf(f))
			return
		}
		if !ok {
			d.errs.addAt(at, path, "", "want an integer, got "+describe(n), allowedOf(f))
			return
		}
		var x int64
		inRange := true
		switch val := num.Value.(type) {
		case int64:
			x = val
		case uint64:
			inRange = val <= 1<<62
			x = int64(min(val, 1<<62))
		default:
			inRange = false
		}
		if f != nil && ((f.min != nil && x < int64(*f.min)) || (f.max != nil && x > int64(*f.max))) {
			inRange = false
		}
		if !inRange {
			d.errs.addAt(at, path, "", fmt.Sprintf("%s is out of range", num.GetToken().Value), allowedOf(f))
			return
		}
		v.SetInt(x)
	case t.Kind() == reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.errs.addAt(at, path, "", "want true or false, got "+describe(n), "true, false")
			return
		}
		v.SetBool(b.Value)
	default:
		panic("topology: cannot decode into " + t.String())
	}
}

func allowedOf(f *field) string {
	if f == nil {
		return ""
	}
	return f.allowed()
}

// scalar returns the text of a string scalar (or of a number, if numbers are
// allowed).
func (d *decoder) scalar(n ast.Node, at Position, path, want string, numbers bool) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value != nil {
			return x.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode:
		if numbers {
			return x.GetToken().Value, true
		}
	}
	msg := "want " + want + ", got " + describe(n)
	if n.Type() == ast.IntegerType || n.Type() == ast.FloatType || n.Type() == ast.BoolType {
		msg += "; quote it to make it a string"
	}
	d.errs.addAt(at, path, "", msg, "")
	return "", false
}

// describe names what a node is, for "want X, got Y".
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.StringType, ast.LiteralType:
		return fmt.Sprintf("string %q", truncate(n.GetToken().Value))
	case ast.IntegerType, ast.FloatType, ast.InfinityType, ast.NanType:
		return "number " + truncate(n.GetToken().Value)
	case ast.BoolType:
		return "boolean " + n.GetToken().Value
	}
	return strings.ToLower(strings.TrimSuffix(n.Type().String(), "Type"))
}

// quote is s in Go syntax, cut after 40 bytes: control characters and
// invalid UTF-8 are escaped, so an error never carries them to a terminal.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// entry is one key of a mapping, after merge keys are expanded.
type entry struct {
	key   string
	at    Position
	value ast.Node
}

// entries lists a mapping's keys. Keys merged with "<<" come first and are
// overridden by the mapping's own keys; a key given twice is an error.
func (d *decoder) entries(m *ast.MappingNode, path string, depth int) []entry {
	var own, merged []entry
	seen := map[string]Position{}
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if mv.Key.Type() == ast.MergeKeyType {
			merged = append(merged, d.mergeEntries(mv.Value, path, depth)...)
			continue
		}
		key := ast.Node(mv.Key)
		if mk, ok := key.(*ast.MappingKeyNode); ok {
			key = mk.Value
		}
		at := nodePos(key)
		var name string
		switch k := key.(type) {
		case *ast.StringNode:
			name = k.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
			name = k.GetToken().Value
		default:
			d.errs.addAt(at, path, "", "a mapping key must be a plain string, got "+describe(key), "")
			continue
		}
		if first, dup := seen[name]; dup {
			d.errs.addAt(at, join(path, name), "", fmt.Sprintf("duplicate key %q (first at line %d, column %d)", name, first.Line, first.Column), "")
			continue
		}
		seen[name] = at
		own = append(own, entry{name, at, mv.Value})
	}
	if len(merged) == 0 {
		return own
	}
	out := own
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.at
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries expands the value of a "<<" key: a mapping or a list of them.
func (d *decoder) mergeEntries(n ast.Node, path string, depth int) []entry {
	at := nodePos(n)
	if depth > maxDepth {
		d.errs.addAt(at, path, "", fmt.Sprintf("nesting deeper than %d levels", maxDepth), "")
		return nil
	}
	if !d.spend(n, path) {
		return nil
	}
	n, ok := d.resolve(n, path)
	if !ok || n == nil {
		return nil
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		if d.merging[x] {
			d.errs.addAt(at, path, "", "<< merges a mapping into itself", "")
			return nil
		}
		if d.merging == nil {
			d.merging = map[ast.Node]bool{}
		}
		d.merging[x] = true
		defer delete(d.merging, x)
		return d.entries(x, path, depth+1)
	case *ast.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, e := range x.Values {
			for _, en := range d.mergeEntries(e, path, depth+1) {
				if !seen[en.key] { // earlier mappings win
					seen[en.key] = true
					out = append(out, en)
				}
			}
		}
		return out
	}
	d.errs.addAt(at, path, "", "<< merges a mapping or a list of mappings, got "+describe(n), "")
	return nil
}

// decodeStruct fills a struct from a mapping: unknown keys are reported with
// the closest known one, missing required keys with the mapping's position.
func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string, depth int) {
	at := d.pos[path]
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errs.addAt(at, path, "", "want a mapping, got "+describe(n), "")
		return
	}
	fillDefaults(v)
	if path == "" {
		d.root = true
	}
	sf := fieldsOf(v.Type())
	for _, e := range d.entries(m, path, depth) {
		f := sf.byName[e.key]
		if f == nil {
			msg := fmt.Sprintf("unknown field %q", e.key)
			allowed := strings.Join(sf.names, ", ")
			if sg := suggest(e.key, sf.names); sg != "" {
				msg += fmt.Sprintf(", did you mean %q?", sg)
			}
			d.errs.addAt(e.at, path, "", msg, allowed)
			continue
		}
		d.decode(e.value, v.Field(f.index), join(path, f.name), f, depth+1)
	}
	for i := range sf.list {
		f := &sf.list[i]
		if p := join(path, f.name); f.required && d.pos[p] == (Position{}) {
			d.errs.addAt(at, p, "", "required field is missing", f.allowed())
		}
	}
}

// isWordAll reports whether n is the string "all", in any case.
func isWordAll(n ast.Node) bool {
	s, ok := n.(*ast.StringNode)
	return ok && strings.EqualFold(s.Value, "all")
}

// decodeMap fills a map of strings (imports[].vars) from a mapping. Keys are
// names; values are scalars taken as their text (count: 2 is "2", enabled:
// true is "true"), since the importer parses them in its own language. Each
// key's value keeps its position (path.key).
func (d *decoder) decodeMap(n ast.Node, at Position, v reflect.Value, path string, depth int) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errs.addAt(at, path, "", "want a mapping of names to values, got "+describe(n), "")
		return
	}
	out := reflect.MakeMap(v.Type())
	for _, e := range d.entries(m, path, depth) {
		p := join(path, e.key)
		if msg := nameChars.check(e.key); msg != "" || e.key == "" {
			if msg == "" {
				msg = "nothing"
			}
			d.errs.addAt(e.at, p, "", fmt.Sprintf("key %s contains %s", quote(e.key), msg), nameChars.allowed())
			continue
		}
		if depth+1 > maxDepth || !d.spend(e.value, p) {
			continue
		}
		val, ok := d.resolve(e.value, p)
		if !ok {
			continue
		}
		vat := nodePos(e.value)
		d.pos[p] = vat
		var s string
		switch x := val.(type) {
		case nil:
		case *ast.NullNode:
		case *ast.BoolNode:
			s = x.GetToken().Value
		default:
			if s, ok = d.scalar(val, vat, p, `a string (quote a list or map as text: '["a", "b"]')`, true); !ok {
				continue
			}
		}
		if msg := textChars.check(s); msg != "" {
			d.errs.addAt(vat, p, "", fmt.Sprintf("%s contains %s", quote(s), msg), textChars.allowed())
			continue
		}
		out.SetMapIndex(reflect.ValueOf(e.key), reflect.ValueOf(s))
	}
	v.Set(out)
}

// isDigits reports whether s is an integer too large for the parser.
func isDigits(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decodeDuration sets a duration given as whole seconds (910) or as a Go
// duration ("15m10s", "1h"). Durations are whole seconds: the connection
// tracker counts in seconds.
func (d *decoder) decodeDuration(n ast.Node, at Position, v reflect.Value, path string, f *field) {
	s, ok := d.scalar(n, at, path, "a duration", true)
	if !ok {
		return
	}
	if strings.HasPrefix(s, "-") {
		d.errs.addAt(at, path, "", fmt.Sprintf("%s is out of range", quote(s)), allowedOf(f))
		return
	}
	var dur time.Duration
	if isDigits(s) && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "+") {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil || secs > 1<<31 {
			d.errs.addAt(at, path, "", fmt.Sprintf("%s is out of range", quote(s)), allowedOf(f))
			return
		}
		dur = time.Duration(secs) * time.Second
	} else {
		var err error
		if dur, err = time.ParseDuration(s); err != nil {
			d.errs.addAt(at, path, "", fmt.Sprintf("%s is not a duration", quote(s)), allowedOf(f))
			return
		}
	}
	if dur%time.Second != 0 {
		d.errs.addAt(at, path, "", fmt.Sprintf("%s is not a whole number of seconds", quote(s)), allowedOf(f))
		return
	}
	secs := int64(dur / time.Second)
	if f != nil && ((f.min != nil && secs < int64(*f.min)) || (f.max != nil && secs > int64(*f.max))) {
		d.errs.addAt(at, path, "", fmt.Sprintf("%s is out of range", quote(s)), allowedOf(f))
		return
	}
	v.SetInt(int64(dur))
}
