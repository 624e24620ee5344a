package aliyun

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// The API's JSON is read by a small parser of its own rather than
// encoding/json, because every object must keep where it starts in the file
// (errors and origins name file:line:col) and the shapes vary: the same list
// is an array in one response and, converted from XML, a single object in
// another. The parser keeps each value's byte offset and turns offsets into
// line:column only when a position is printed.

// kind is the type of a JSON value.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// node is one JSON value. For numbers str holds the literal as written; for
// booleans, "true" or "false".
type node struct {
	kind    kind
	off     int
	str     string
	members []member // kObject, in file order
	elems   []*node  // kArray
}

type member struct {
	key string
	val *node
}

// get returns the value of key in an object, or nil. Keys are matched
// exactly first, then without regard to case (SDKs and hand-edited files
// sometimes write "securityGroupId").
func (n *node) get(key string) *node {
	if n == nil || n.kind != kObject {
		return nil
	}
	for i := range n.members {
		if n.members[i].key == key {
			return n.members[i].val
		}
	}
	for i := range n.members {
		if equalFold(n.members[i].key, key) {
			return n.members[i].val
		}
	}
	return nil
}

// equalFold is strings.EqualFold for ASCII keys, without allocating.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// maxValues bounds the values of one file: a 16 MiB API dump holds well
// under a million, while 16 MiB of "0," would be eight million nodes.
const maxValues = 2_000_000

// maxDepth bounds nesting: API responses are a few levels deep; a hostile
// file of a million '[' must not exhaust the stack.
const maxDepth = 64

// source is one input file: its name as given, its bytes and where its lines
// start.
type source struct {
	name  string
	data  []byte
	lines []int // byte offset of each line's start
	ascii bool  // no multi-byte character: a column is a byte count

	// The last position computed: columns are asked for in file order
	// mostly, so counting characters from there keeps a minified file
	// (one long line) linear rather than quadratic.
	lastOff, lastLine, lastCol int
}

func newSource(name string, data []byte) *source {
	s := &source{name: name, data: data, lines: []int{0}, ascii: true, lastLine: 1, lastCol: 1}
	for i, c := range data {
		if c == '\n' {
			s.lines = append(s.lines, i+1)
		} else if c >= utf8.RuneSelf {
			s.ascii = false
		}
	}
	return s
}

// pos returns the 1-based line and column (in characters) of a byte offset.
func (s *source) pos(off int) (line, col int) {
	off = min(max(off, 0), len(s.data))
	i := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) - 1
	switch {
	case s.ascii:
		return i + 1, off - s.lines[i] + 1
	case s.lastLine == i+1 && s.lastOff <= off:
		col = s.lastCol + utf8.RuneCount(s.data[s.lastOff:off])
	default:
		col = utf8.RuneCount(s.data[s.lines[i]:off]) + 1
	}
	s.lastOff, s.lastLine, s.lastCol = off, i+1, col
	return i + 1, col
}

// syntaxError is a malformed document, at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	data   []byte
	i      int
	depth  int
	values int
}

// parseDocuments reads a file of one or more JSON values separated by white
// space (the output of a shell loop running the CLI once per group).
func parseDocuments(data []byte) ([]*node, error) {
	p := &parser{data: data}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		p.i = 3 // a byte-order mark, as some Windows tools write
	}
	var docs []*node
	for {
		p.space()
		if p.i >= len(p.data) {
			break
		}
		n, err := p.value()
		if err != nil {
			return nil, err
		}
		docs = append(docs, n)
	}
	if len(docs) == 0 {
		return nil, &syntaxError{p.i, "the file holds no JSON value"}
	}
	return docs, nil
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) fail(format string, args ...any) error {
	return &syntaxError{p.i, fmt.Sprintf(format, args...)}
}

// describe names the byte at the parser's position for an error.
func (p *parser) describe() string {
	if p.i >= len(p.data) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.data[p.i:])
	if r == utf8.RuneError || r < ' ' || r == 0x7f {
		return fmt.Sprintf("byte 0x%02x", p.data[p.i])
	}
	return strconv.QuoteRune(r)
}

func (p *parser) value() (*node, error) {
	if p.values++; p.values > maxValues {
		return nil, p.fail("more than %d values in one file", maxValues)
	}
	p.space()
	if p.i >= len(p.data) {
		return nil, p.fail("unexpected end of file, want a value")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		off := p.i
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &node{kind: kString, off: off, str: s}, nil
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	default:
		for _, lit := range [...]struct {
			text string
			kind kind
		}{{"true", kBool}, {"false", kBool}, {"null", kNull}} {
			if len(p.data)-p.i >= len(lit.text) && string(p.data[p.i:p.i+len(lit.text)]) == lit.text {
				n := &node{kind: lit.kind, off: p.i, str: lit.text}
				p.i += len(lit.text)
				return n, nil
			}
		}
		return nil, p.fail("unexpected %s, want a value", p.describe())
	}
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail("nested deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) object() (*node, error) {
	n := &node{kind: kObject, off: p.i}
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // {
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		p.depth--
		return n, nil
	}
	for {
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, p.fail("unexpected %s, want a quoted key", p.describe())
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, p.fail("unexpected %s after key %q, want ':'", p.describe(), key)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, member{key, v})
		p.space()
		if p.i >= len(p.data) {
			return nil, p.fail("unexpected end of file in an object, want ',' or '}'")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return n, nil
		default:
			return nil, p.fail("unexpected %s after the value of %q, want ',' or '}'", p.describe(), key)
		}
	}
}

func (p *parser) array() (*node, error) {
	n := &node{kind: kArray, off: p.i}
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // [
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		p.depth--
		return n, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		p.space()
		if p.i >= len(p.data) {
			return nil, p.fail("unexpected end of file in an array, want ',' or ']'")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return n, nil
		default:
			return nil, p.fail("unexpected %s in an array, want ',' or ']'", p.describe())
		}
	}
}

// string reads a quoted string at p.i. Strings without escapes are sliced
// directly; the rare ones with escapes are decoded by encoding/json.
func (p *parser) string() (string, error) {
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			raw := p.data[start:p.i]
			if !escaped {
				if !utf8.Valid(raw) {
					p.i = start
					return "", p.fail("invalid UTF-8 in a string")
				}
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				p.i = start
				return "", p.fail("malformed string: %v", err)
			}
			if !utf8.Valid(raw) {
				p.i = start
				return "", p.fail("invalid UTF-8 in a string")
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.i += 2
		case c < ' ':
			return "", p.fail("a control character (byte 0x%02x) in a string", c)
		default:
			p.i++
		}
	}
	p.i = start
	return "", p.fail("unterminated string")
}

func (p *parser) number() (*node, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.data[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.data) && p.data[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, p.fail("malformed number")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.fail("malformed number")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.fail("malformed number")
		}
	}
	return &node{kind: kNumber, off: start, str: string(p.data[start:p.i])}, nil
}
