package aws

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// A small JSON parser that keeps the line and column of every value, which
// encoding/json does not give: errors and origins point into the user's own
// file. It accepts exactly RFC 8259 JSON, bounds nesting, and never panics.

// maxDepth bounds nesting; AWS output is at most ~8 levels deep.
const maxDepth = 64

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

// node is one JSON value and where it starts.
type node struct {
	kind      kind
	line, col int
	text      string   // string value, number text, "true"/"false"
	keys      []string // object keys, in order
	keyPos    [][2]int // line, col of each key
	vals      []*node  // object values (parallel to keys) or array elements
}

// get returns the value of key in an object, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// syntaxError is a JSON syntax error at a position.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

type parser struct {
	data      []byte
	off       int
	line      int
	lineStart int
}

// parseJSON parses data (one JSON value, optionally after a UTF-8 BOM).
func parseJSON(data []byte) (*node, error) {
	p := &parser{data: data, line: 1}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		p.off, p.lineStart = 3, 3
	}
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				p.advanceTo(i)
				return nil, p.errf("invalid UTF-8")
			}
			i += n
		}
	}
	p.space()
	if p.off >= len(p.data) {
		return nil, p.errf("empty input: expected a JSON object")
	}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.off < len(p.data) {
		return nil, p.errf("unexpected %s after the JSON value", p.what())
	}
	return n, nil
}

// advanceTo moves to offset i, counting lines.
func (p *parser) advanceTo(i int) {
	for ; p.off < i; p.off++ {
		if p.data[p.off] == '\n' {
			p.line++
			p.lineStart = p.off + 1
		}
	}
}

func (p *parser) col() int { return p.off - p.lineStart + 1 }

func (p *parser) errf(format string, args ...any) error {
	return &syntaxError{line: p.line, col: p.col(), msg: "invalid JSON: " + fmt.Sprintf(format, args...)}
}

// what names the byte at the current offset for an error.
func (p *parser) what() string {
	if p.off >= len(p.data) {
		return "end of input"
	}
	c := p.data[p.off]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) space() {
	for p.off < len(p.data) {
		switch p.data[p.off] {
		case ' ', '\t', '\r':
			p.off++
		case '\n':
			p.off++
			p.line++
			p.lineStart = p.off
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errf("nested deeper than %d levels", maxDepth)
	}
	n := &node{line: p.line, col: p.col()}
	if p.off >= len(p.data) {
		return nil, p.errf("unexpected end of input: expected a value")
	}
	switch c := p.data[p.off]; {
	case c == '{':
		n.kind = kObject
		return n, p.object(n, depth)
	case c == '[':
		n.kind = kArray
		return n, p.array(n, depth)
	case c == '"':
		n.kind = kString
		s, err := p.str()
		n.text = s
		return n, err
	case c == '-' || c >= '0' && c <= '9':
		n.kind = kNumber
		s, err := p.number()
		n.text = s
		return n, err
	case c == 't':
		n.kind, n.text = kBool, "true"
		return n, p.literal("true")
	case c == 'f':
		n.kind, n.text = kBool, "false"
		return n, p.literal("false")
	case c == 'n':
		n.kind = kNull
		return n, p.literal("null")
	}
	return nil, p.errf("unexpected %s: expected a value", p.what())
}

func (p *parser) literal(s string) error {
	if len(p.data)-p.off < len(s) || string(p.data[p.off:p.off+len(s)]) != s {
		return p.errf("unexpected %s: expected a value", p.what())
	}
	p.off += len(s)
	return nil
}

func (p *parser) object(n *node, depth int) error {
	p.off++ // {
	p.space()
	if p.off < len(p.data) && p.data[p.off] == '}' {
		p.off++
		return nil
	}
	for {
		p.space()
		if p.off >= len(p.data) || p.data[p.off] != '"' {
			return p.errf("unexpected %s: expected a quoted key", p.what())
		}
		kl, kc := p.line, p.col()
		k, err := p.str()
		if err != nil {
			return err
		}
		for _, prev := range n.keys {
			if prev == k {
				return &syntaxError{line: kl, col: kc, msg: fmt.Sprintf("duplicate key %q", k)}
			}
		}
		p.space()
		if p.off >= len(p.data) || p.data[p.off] != ':' {
			return p.errf("unexpected %s: expected ':' after key %q", p.what(), k)
		}
		p.off++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.keys = append(n.keys, k)
		n.keyPos = append(n.keyPos, [2]int{kl, kc})
		n.vals = append(n.vals, v)
		p.space()
		if p.off < len(p.data) && p.data[p.off] == ',' {
			p.off++
			p.space()
			if p.off < len(p.data) && p.data[p.off] == '}' {
				return p.errf("trailing comma before '}'")
			}
			continue
		}
		if p.off < len(p.data) && p.data[p.off] == '}' {
			p.off++
			return nil
		}
		return p.errf("unexpected %s: expected ',' or '}' after the value of %q", p.what(), k)
	}
}

func (p *parser) array(n *node, depth int) error {
	p.off++ // [
	p.space()
	if p.off < len(p.data) && p.data[p.off] == ']' {
		p.off++
		return nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.vals = append(n.vals, v)
		p.space()
		if p.off < len(p.data) && p.data[p.off] == ',' {
			p.off++
			p.space()
			if p.off < len(p.data) && p.data[p.off] == ']' {
				return p.errf("trailing comma before ']'")
			}
			continue
		}
		if p.off < len(p.data) && p.data[p.off] == ']' {
			p.off++
			return nil
		}
		return p.errf("unexpected %s: expected ',' or ']' after an array element", p.what())
	}
}

// str reads a quoted string at the current offset.
func (p *parser) str() (string, error) {
	start := p.off
	p.off++ // "
	escaped := false
	for p.off < len(p.data) {
		switch c := p.data[p.off]; {
		case c == '"':
			p.off++
			if !escaped {
				return string(p.data[start+1 : p.off-1]), nil
			}
			var s string
			if err := json.Unmarshal(p.data[start:p.off], &s); err != nil {
				p.off = start
				return "", p.errf("bad escape in string")
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.off += 2
		case c == '\n':
			return "", p.errf("line break in a string: is its closing quote missing?")
		case c < 0x20:
			return "", p.errf("control character %s in a string (write it escaped)", p.what())
		default:
			p.off++
		}
	}
	if p.off > len(p.data) {
		p.off = len(p.data)
	}
	return "", p.errf("unterminated string")
}

// number reads a JSON number and returns its text.
func (p *parser) number() (string, error) {
	start := p.off
	digits := func() int {
		n := 0
		for p.off < len(p.data) && p.data[p.off] >= '0' && p.data[p.off] <= '9' {
			p.off++
			n++
		}
		return n
	}
	if p.data[p.off] == '-' {
		p.off++
	}
	if p.off < len(p.data) && p.data[p.off] == '0' {
		p.off++
	} else if digits() == 0 {
		return "", p.errf("malformed number")
	}
	if p.off < len(p.data) && p.data[p.off] == '.' {
		p.off++
		if digits() == 0 {
			return "", p.errf("malformed number")
		}
	}
	if p.off < len(p.data) && (p.data[p.off] == 'e' || p.data[p.off] == 'E') {
		p.off++
		if p.off < len(p.data) && (p.data[p.off] == '+' || p.data[p.off] == '-') {
			p.off++
		}
		if digits() == 0 {
			return "", p.errf("malformed number")
		}
	}
	return string(p.data[start:p.off]), nil
}
