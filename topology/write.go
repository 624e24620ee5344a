package topology

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml/token"
)

// Marshal writes t as a schema v1 topology file that Load reads back to an
// equal Topology. The output depends only on t: fields in the schema's order,
// values equal to their defaults left out (an instance address Load assigned,
// an inner_access its group type implies, the -1/-1 ports of icmp, gre and
// all), groups, instances and NAT gateways as block mappings, everything else
// (rules, vswitches, services, origins, expectations) as flow mappings, one
// per line. A string YAML would read as something else (yes, 0755, 1e3, *,
// web[0] inside braces) is double-quoted, and control characters are written
// as escapes, never raw.
//
// It fails only on a string that is not valid UTF-8, which no loaded
// topology holds.
func Marshal(t *Topology) ([]byte, error) {
	w := &yamlWriter{}
	w.block(reflect.ValueOf(t).Elem(), 0)
	if w.err != nil {
		return nil, w.err
	}
	return w.buf.Bytes(), nil
}

// MarshalJSON writes t as JSON with the keys and values of the YAML file
// Marshal writes (not the Go field names json.Marshal would use), indented.
// JSON being YAML, Load reads it back to an equal Topology.
func MarshalJSON(t *Topology) ([]byte, error) {
	w := &yamlWriter{json: true}
	w.flow(reflect.ValueOf(t).Elem())
	if w.err != nil {
		return nil, w.err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, w.buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// blockTypes are written as block mappings; every other struct is written
// in flow style on one line.
var blockTypes = map[reflect.Type]bool{
	reflect.TypeFor[Topology]():      true,
	reflect.TypeFor[SecurityGroup](): true,
	reflect.TypeFor[Instance]():      true,
	reflect.TypeFor[NATGateway]():    true,
	reflect.TypeFor[Internet]():      true,
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// Fields the writer's defaults depend on, by index.
var (
	instanceType     = reflect.TypeFor[Instance]()
	groupType        = reflect.TypeFor[SecurityGroup]()
	ruleType         = reflect.TypeFor[Rule]()
	autoIPField      = fieldIndex(instanceType, "AutoIP")
	serviceType      = reflect.TypeFor[Service]()
	servicePortField = fieldIndex(serviceType, "Port")
	groupTypeField   = fieldIndex(groupType, "Type")
	protocolField    = fieldIndex(ruleType, "Protocol")
)

func fieldIndex(t reflect.Type, name string) int {
	f, ok := t.FieldByName(name)
	if !ok {
		panic("topology: no field " + name)
	}
	return f.Index[0]
}

type yamlWriter struct {
	buf   bytes.Buffer
	err   error
	json  bool            // every value in flow style, keys and strings quoted
	plain map[string]bool // plainSafe, by string: names and words repeat
	path  []pathElem      // where the writer is, for errors
}

// pathElem is one step of a field path: a key, or an index when key is "".
type pathElem struct {
	key   string
	index int
}

func (w *yamlWriter) push(key string, index int) { w.path = append(w.path, pathElem{key, index}) }
func (w *yamlWriter) pop()                       { w.path = w.path[:len(w.path)-1] }

// fail records the first error, at the current path.
func (w *yamlWriter) fail(format string, args ...any) {
	if w.err != nil {
		return
	}
	var b strings.Builder
	for _, e := range w.path {
		switch {
		case e.key == "":
			fmt.Fprintf(&b, "[%d]", e.index)
		case b.Len() > 0:
			b.WriteString("." + e.key)
		default:
			b.WriteString(e.key)
		}
	}
	w.err = fmt.Errorf("%s: %s", b.String(), fmt.Sprintf(format, args...))
}

func (w *yamlWriter) indent(n int) {
	for range n {
		w.buf.WriteByte(' ')
	}
}

// block writes the fields of struct v as a block mapping at indentation
// ind.
func (w *yamlWriter) block(v reflect.Value, ind int) {
	w.blockFields(v, ind, false)
}

// blockFields is block; after a "- " the first key is not indented.
func (w *yamlWriter) blockFields(v reflect.Value, ind int, afterDash bool) {
	sf := fieldsOf(v.Type())
	first := true
	for i := range sf.list {
		f := &sf.list[i]
		fv := v.Field(f.index)
		if omit(v, f, fv) {
			continue
		}
		if !(first && afterDash) {
			w.indent(ind)
		}
		first = false
		w.buf.WriteString(f.name)
		w.buf.WriteByte(':')
		w.push(f.name, 0)
		switch {
		case fv.Kind() == reflect.Struct && blockTypes[fv.Type()]:
			w.buf.WriteByte('\n')
			w.block(fv, ind+2)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			w.buf.WriteByte('\n')
			for j := range fv.Len() {
				w.push("", j)
				w.indent(ind + 2)
				w.buf.WriteString("- ")
				if blockTypes[fv.Type().Elem()] {
					w.blockFields(fv.Index(j), ind+4, true)
				} else {
					w.flow(fv.Index(j))
					w.buf.WriteByte('\n')
				}
				w.pop()
			}
		default:
			w.buf.WriteByte(' ')
			w.field(f, fv)
			w.buf.WriteByte('\n')
		}
		w.pop()
	}
}

// flow writes v in flow style: a struct as {k: v, ...}, a list as [a, b].
func (w *yamlWriter) flow(v reflect.Value) {
	t := v.Type()
	switch {
	case t == addrType:
		w.str(v.Interface().(netip.Addr).String())
	case t == prefixType:
		w.str(v.Interface().(netip.Prefix).String())
	case t == durationType:
		d := time.Duration(v.Int())
		if d%time.Second != 0 {
			w.fail("%v is not a whole number of seconds", d)
		}
		w.str(seconds(int(d / time.Second)))
	case t.Implements(textMarshalerType):
		// A scalar type of the model's own (written as its text).
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			w.fail("%v", err)
		}
		w.str(string(text))
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		w.buf.WriteByte('{')
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				w.buf.WriteString(", ")
			}
			w.push(k, 0)
			w.str(k)
			w.buf.WriteString(": ")
			w.flow(v.MapIndex(reflect.ValueOf(k).Convert(t.Key())))
			w.pop()
		}
		w.buf.WriteByte('}')
	case t.Kind() == reflect.Struct:
		w.buf.WriteByte('{')
		sf := fieldsOf(t)
		n := 0
		for i := range sf.list {
			f := &sf.list[i]
			fv := v.Field(f.index)
			if omit(v, f, fv) {
				continue
			}
			if n > 0 {
				w.buf.WriteString(", ")
			}
			n++
			if w.json {
				w.buf.WriteByte('"')
				w.buf.WriteString(f.name)
				w.buf.WriteString(`": `)
			} else {
				w.buf.WriteString(f.name)
				w.buf.WriteString(": ")
			}
			w.push(f.name, 0)
			w.field(f, fv)
			w.pop()
		}
		w.buf.WriteByte('}')
	case t.Kind() == reflect.Pointer: // an optional value; nil is omitted
		w.flow(v.Elem())
	case t.Kind() == reflect.Slice:
		w.buf.WriteByte('[')
		for j := range v.Len() {
			if j > 0 {
				w.buf.WriteString(", ")
			}
			w.push("", j)
			w.flow(v.Index(j))
			w.pop()
		}
		w.buf.WriteByte(']')
	case t.Kind() == reflect.String:
		w.str(v.String())
	case t.Kind() == reflect.Int:
		w.buf.Write(strconv.AppendInt(w.buf.AvailableBuffer(), v.Int(), 10))
	case t.Kind() == reflect.Bool:
		w.buf.Write(strconv.AppendBool(w.buf.AvailableBuffer(), v.Bool()))
	default:
		w.fail("cannot write a %s", t)
	}
}

// field writes the value fv of field f in flow style: an int that also
// takes the word "all" writes AllPorts as all.
func (w *yamlWriter) field(f *field, fv reflect.Value) {
	if f.all && fv.Kind() == reflect.Int && fv.Int() == AllPorts {
		w.str("all")
		return
	}
	w.flow(fv)
}

// omit reports whether field f (value fv) of struct v is left out: a zero
// value, a tagged default, or a default the loader derives.
func omit(v reflect.Value, f *field, fv reflect.Value) bool {
	switch {
	case f.all && fv.Kind() == reflect.Int && fv.Int() == AllPorts:
		return false // port: all
	case fv.Kind() == reflect.Bool && f.hasDef && f.def == "true":
		return fv.Bool() // false must be written
	case fv.Kind() == reflect.Int && f.required:
		return false // index: 0
	case fv.IsZero() || (fv.Kind() == reflect.Slice && fv.Len() == 0):
		return true
	case fv.Kind() == reflect.Struct && !fv.Type().Implements(textMarshalerType):
		// A struct all of whose fields are defaults is left out whole.
		sf := fieldsOf(fv.Type())
		for i := range sf.list {
			if !omit(fv, &sf.list[i], fv.Field(sf.list[i].index)) {
				return false
			}
		}
		return true
	}
	switch {
	case f.name == "ip" && v.Type() == instanceType:
		return v.Field(autoIPField).Bool() // Load assigned it
	case f.name == "inner_access" && v.Type() == groupType:
		implied := "accept"
		if strings.EqualFold(v.Field(groupTypeField).String(), "enterprise") {
			implied = "drop"
		}
		return strings.EqualFold(fv.String(), implied)
	case f.name == "protocol" && v.Type() == serviceType && v.Field(servicePortField).Int() == AllPorts:
		return false // a catch-all without protocol listens on every protocol
	case f.name == "port_range" && v.Type() == ruleType:
		p := v.Field(protocolField).String()
		return !strings.EqualFold(p, "tcp") && !strings.EqualFold(p, "udp") && fv.String() == "-1/-1"
	}
	if !f.hasDef {
		return false
	}
	switch {
	case fv.Type() == addrType:
		return fv.Interface().(netip.Addr).String() == f.def
	case fv.Type() == durationType:
		d, _ := time.ParseDuration(f.def)
		return time.Duration(fv.Int()) == d
	case fv.Kind() == reflect.String:
		return strings.EqualFold(fv.String(), f.def)
	case fv.Kind() == reflect.Int:
		n, err := strconv.Atoi(f.def)
		return err == nil && fv.Int() == int64(n)
	case fv.Kind() == reflect.Bool:
		return strconv.FormatBool(fv.Bool()) == f.def
	}
	return false
}

// str writes s as a plain scalar when YAML reads it back as the same string
// in both block and flow context, else double-quoted.
func (w *yamlWriter) str(s string) {
	if !utf8.ValidString(s) {
		w.fail("%s is not valid UTF-8", quote(s))
		return
	}
	if w.json {
		b, _ := json.Marshal(s) // valid UTF-8: cannot fail
		w.buf.Write(b)
		return
	}
	plain, known := w.plain[s]
	if !known {
		plain = plainSafe(s)
		if w.plain == nil {
			w.plain = map[string]bool{}
		}
		w.plain[s] = plain
	}
	if plain {
		w.buf.WriteString(s)
		return
	}
	w.buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			w.buf.WriteString(`\"`)
		case r == '\\':
			w.buf.WriteString(`\\`)
		case r == '\n':
			w.buf.WriteString(`\n`)
		case r == '\t':
			w.buf.WriteString(`\t`)
		case r == '\r':
			w.buf.WriteString(`\r`)
		case r < 0x80 && unicode.IsPrint(r):
			w.buf.WriteRune(r)
		case r < 0x80 || !unicode.IsGraphic(r):
			// Control and invisible characters, the line and paragraph
			// separators among them, are escaped: never raw in a file.
			if r <= 0xFFFF {
				fmt.Fprintf(&w.buf, `\u%04X`, r)
			} else {
				fmt.Fprintf(&w.buf, `\U%08X`, r)
			}
		default:
			w.buf.WriteRune(r)
		}
	}
	w.buf.WriteByte('"')
}

// plainSafe reports whether s can be written unquoted: it starts with a
// letter, digit, "_", "." or "/", holds only those and "-+=@", and YAML
// does not read it as a number, boolean, null or timestamp (0755, 1e3, yes,
// ~, 2026-01-02). Anything with a space, ":", "#", a quote, a comma or a
// bracket is quoted, which keeps it intact inside flow mappings too.
func plainSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '/':
		case i > 0 && (c == '-' || c == '+' || c == '=' || c == '@'):
		default:
			return false
		}
	}
	// No number, boolean, null or timestamp holds a "/" (ports 80/80,
	// CIDRs), and no address is one: the common values skip the parser's
	// checks, which try a dozen timestamp layouts.
	if strings.IndexByte(s, '/') >= 0 {
		return true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return true
	}
	if token.IsNeedQuoted(s) {
		return false
	}
	tk := token.New(s, s, &token.Position{})
	return tk != nil && tk.Type == token.StringType
}
