package topology

// The YAML library is github.com/goccy/go-yaml v1.19.2, the newest release
// on the module proxy: its parser keeps the line and column of every node,
// which every error here needs, and it is pure Go. Its strict decoder stops at
// the first problem, so Load decodes the syntax tree itself (decode.go) to
// report all of them, and it bounds the input first (prescan): the parser
// takes quadratic time on some shapes (thousands of keys in one mapping, deep
// nesting on one line).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Input limits, checked before parsing (see prescan).
const (
	maxFlowDepth     = 32  // [ and { nesting
	maxLineNesting   = 16  // block indicators (- ? : & ! *) on one line
	maxIndentLevels  = 64  // block indentation levels
	maxKeysPerLevel  = 256 // keys of one block mapping
	maxErrorSnippets = 200 // bytes of a parser message kept
)

// DefaultMaxFileSize is the default size limit of a topology file: 64 MiB
// holds 10,000 instances with 100,000 expectations (about 9 MiB) several
// times over. The prescan's limits, not the size, keep a hostile file's
// parse linear.
const DefaultMaxFileSize = 64 << 20

// maxFileSize is the size limit of a topology file (SetMaxFileSize).
var maxFileSize atomic.Int64

func init() { maxFileSize.Store(DefaultMaxFileSize) }

// SetMaxFileSize sets the size limit, in bytes, of the topology files
// LoadFile and Load accept; n ≤ 0 restores
// DefaultMaxFileSize. It is process-wide: `vpclab --max-file-size`.
func SetMaxFileSize(n int64) {
	if n <= 0 {
		n = DefaultMaxFileSize
	}
	maxFileSize.Store(n)
}

// MaxFileSize returns the size limit of a topology file in bytes.
func MaxFileSize() int64 { return maxFileSize.Load() }

// LoadFile reads and loads the topology file at path. It reads at most one
// byte past the size limit (MaxFileSize), so a huge file or an endless one
// (/dev/zero, a pipe) is refused at once, without being read.
func LoadFile(path string) (*Topology, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize()+1))
	if err != nil {
		return nil, err
	}
	return Load(path, data)
}

// Load decodes, validates and completes a topology: its imports read and
// merged (merge.go), defaults filled, instance addresses and EIPs assigned
// (AssignAddresses). filename is used in error positions and to find the
// imports, whose paths are relative to its directory. On any problem it
// returns nil and an Errors holding every problem of the file and of its
// imports, the file's first, each file's sorted by position.
func Load(filename string, data []byte) (*Topology, error) {
	// A byte order mark is legal YAML; the parser would take it as part of
	// the first key. Columns of line 1 count from after it, as editors do.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	t := &Topology{File: filename}
	errs := &errorList{file: filename, pos: t.Pos}
	if p, msg := prescan(data); msg != "" {
		errs.addAt(p, "", "", msg, "")
		return nil, errs.errs
	}
	root, ok := parse(data, errs)
	if !ok {
		return nil, errs.errs.sort()
	}
	d := newDecoder(errs)
	// A position per value: about one per 12 bytes of a large generated
	// file. Sized once, the map is not rehashed a dozen times as it grows.
	d.pos = make(map[string]Position, len(data)/12)
	// Without aliases a file has fewer nodes than bytes: the budget grows
	// with the file, so a 9 MiB file of 100,000 expectations decodes while
	// an alias bomb still expands to at most a constant factor of its size.
	d.budget += len(data)
	d.limit = d.budget
	fillDefaults(reflect.ValueOf(t).Elem())
	if root != nil {
		d.collectAnchors(root)
		d.decode(root, reflect.ValueOf(t).Elem(), "", nil, 0)
	}
	t.pos = d.pos
	if root == nil || d.pos[""] == (Position{}) {
		errs.addAt(Position{1, 1}, "", "", "the file is empty; a topology needs at least version, vpc and vswitches", "")
	}
	if d.over { // what follows the cut is noise
		for _, e := range errs.errs {
			if strings.HasPrefix(e.Msg, "document too large") {
				e.Entity = t.entity(e.Path)
				return nil, Errors{e}
			}
		}
	}
	errs.origin = t.originOf
	if mergeImports(t, errs) {
		if d.root {
			requireNetwork(t, errs)
		}
		validate(t, errs)
	}
	errs.nameEntities(t)
	if len(errs.errs) > 0 || len(errs.foreign) > 0 {
		return nil, errs.all()
	}
	t.Warnings = errs.sortedWarnings()
	return t, nil
}

// parse parses one YAML document. Duplicate keys are left to the decoder,
// which reports all of them rather than the first.
func parse(data []byte, errs *errorList) (root ast.Node, ok bool) {
	if len(data) >= splitMin {
		if root, ok := parseSplit(data, splitParts(), splitMin/4); ok {
			return root, true
		}
	}
	defer func() {
		if r := recover(); r != nil { // the parser must never take the CLI down
			errs.addAt(Position{1, 1}, "", "", fmt.Sprintf("YAML parser failed: %v", r), "")
			root, ok = nil, false
		}
	}()
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		p, msg := Position{1, 1}, err.Error()
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			msg = se.Message
			if se.Token != nil && se.Token.Position != nil {
				p = Position{se.Token.Position.Line, se.Token.Position.Column}
			}
		}
		msg, _, _ = strings.Cut(msg, "\n")
		if len(msg) > maxErrorSnippets {
			msg = msg[:maxErrorSnippets] + "..."
		}
		errs.addAt(p, "", "", "invalid YAML: "+msg+bracketHint(data, p.Line), "")
		return nil, false
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if root != nil {
			errs.addAt(nodePos(doc.Body), "", "", "a topology file holds one YAML document; found a second", "")
			return nil, false
		}
		root = doc.Body
	}
	return root, true
}

// bracketName is a plain name with brackets, as imported Terraform
// instances are named (web[0]): YAML reads [ inside { } or [ ] as the start
// of a list.
var bracketName = regexp.MustCompile(`[:,\[{]\s*[^\s"'\[\]{},:]+\[[^\]]*\]`)

// bracketHint explains the parser's complaint about a line that holds an
// unquoted name with brackets in flow style.
func bracketHint(data []byte, line int) string {
	for n := 1; len(data) > 0; n++ {
		l, rest, _ := bytes.Cut(data, []byte("\n"))
		if n == line {
			if m := bracketName.Find(l); m != nil && bytes.ContainsAny(l, "{[") {
				name := strings.TrimLeft(string(m[1:]), " \t")
				return fmt.Sprintf("; inside { } or [ ], quote a name with brackets: %q", name)
			}
			return ""
		}
		data = rest
	}
	return ""
}

// prescan rejects, in one linear pass, input the parser would take too long
// on: files over MaxFileSize, flow collections nested deeper than 32, more than 16
// block indicators on one line ("- - - ..." or "a: b: c: ..."), more than 64
// indentation levels and block mappings with more than 256 keys. A topology
// comes nowhere near these. It returns the position and the problem, or "".
func prescan(data []byte) (Position, string) {
	if limit := MaxFileSize(); int64(len(data)) > limit {
		return Position{1, 1}, fmt.Sprintf("file is larger than the limit of %d bytes (%s)", limit, FormatSize(limit))
	}
	return PrescanYAML(data, loaderBounds)
}

// YAMLBounds are the shapes PrescanYAML refuses: the YAML parser takes
// quadratic time on some (thousands of keys in one mapping, deep nesting
// on one line).
type YAMLBounds struct {
	FlowDepth    int // [ and { nesting
	LineNesting  int // block indicators (- ? : & ! *) on one line
	IndentLevels int // block indentation levels
	KeysPerLevel int // keys of one block mapping
}

// loaderBounds are a topology file's: nowhere near what a topology needs.
var loaderBounds = YAMLBounds{FlowDepth: maxFlowDepth, LineNesting: maxLineNesting, IndentLevels: maxIndentLevels, KeysPerLevel: maxKeysPerLevel}

// PrescanYAML checks, in one linear pass before parsing, that data keeps
// within b; it returns the position of the first excess and what it is,
// or "". Importers that parse YAML with the same parser (ROS templates)
// use it with their own bounds.
func PrescanYAML(data []byte, b YAMLBounds) (Position, string) {
	type level struct{ col, keys int }
	var (
		stack       []level
		flow        int
		q           yamlQuotes
		blockScalar = -1 // indentation of the key that opened a | or > scalar
		line        = 0
		rest        = data
	)
	for len(rest) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		indent := 0
		for indent < len(l) && l[indent] == ' ' {
			indent++
		}
		content := indent < len(l) && l[indent] != '#' && l[indent] != '\r'
		if blockScalar >= 0 {
			if !content || indent > blockScalar {
				continue // text of a literal or folded scalar
			}
			blockScalar = -1
		}
		if !content {
			continue
		}
		if flow == 0 && !q.quoted() {
			isEntry := l[indent] == '-' && (indent+1 == len(l) || l[indent+1] == ' ')
			for len(stack) > 0 && stack[len(stack)-1].col > indent {
				stack = stack[:len(stack)-1]
			}
			switch {
			case isEntry:
				stack = append(stack, level{indent + 2, 0})
			case len(stack) > 0 && stack[len(stack)-1].col == indent:
				stack[len(stack)-1].keys++
			default:
				stack = append(stack, level{indent, 1})
			}
			if top := stack[len(stack)-1]; top.keys > b.KeysPerLevel {
				return Position{line, indent + 1}, fmt.Sprintf("more than %d keys in one mapping", b.KeysPerLevel)
			}
			if len(stack) > b.IndentLevels {
				return Position{line, indent + 1}, fmt.Sprintf("more than %d levels of indentation", b.IndentLevels)
			}
		}
		indicators := 0
		var prev byte
		for i := indent; i < len(l); i++ {
			c := l[i]
			var quoted bool
			switch i, quoted = q.step(l, i, prev); {
			case quoted:
			case (c == '[' || c == '{') && (tokenStarter(prev) || flow > 0):
				flow++
				if flow > b.FlowDepth {
					return Position{line, i + 1}, fmt.Sprintf("more than %d nested [ ] or { }", b.FlowDepth)
				}
			case (c == ']' || c == '}') && flow > 0:
				flow--
			case flow == 0:
				next := byte(' ')
				if i+1 < len(l) {
					next = l[i+1]
				}
				switch {
				case (c == '-' || c == '?') && tokenStarter(prev) && (next == ' ' || next == '\r'),
					c == ':' && (next == ' ' || next == '\r' || i+1 == len(l)),
					(c == '&' || c == '!' || c == '*') && tokenStarter(prev):
					indicators++
					if indicators > b.LineNesting {
						return Position{line, i + 1}, fmt.Sprintf("more than %d nested nodes on one line", b.LineNesting)
					}
				case (c == '|' || c == '>') && tokenStarter(prev):
					blockScalar = indent
				}
			}
			prev = c
		}
	}
	return Position{}, ""
}

// tokenStarter reports whether a byte after prev starts a YAML token: at the
// start of a line, after blanks, or after a flow indicator.
func tokenStarter(prev byte) bool {
	return prev == ' ' || prev == '\t' || prev == '[' || prev == '{' || prev == ',' || prev == 0
}

// yamlQuotes follows quoted scalars, which may span lines, and comments
// through a line-by-line scan of YAML, for the scans that look for
// structure outside them (PrescanYAML, splitCuts).
type yamlQuotes struct{ inSingle, inDouble bool }

// quoted reports whether the scan is inside a quoted scalar.
func (q *yamlQuotes) quoted() bool { return q.inSingle || q.inDouble }

// step looks at l[i], prev being the byte before it on the line (0 at its
// start). When l[i] lies in a quoted scalar, opens one or opens a comment,
// it consumes it and returns true with the index of the last byte consumed
// (a comment consumes the line, an escape the byte after it); otherwise it
// returns i and false, and the byte is the caller's.
func (q *yamlQuotes) step(l []byte, i int, prev byte) (int, bool) {
	c := l[i]
	switch {
	case q.inDouble:
		if c == '\\' {
			i++
		} else if c == '"' {
			q.inDouble = false
		}
	case q.inSingle:
		if c == '\'' {
			q.inSingle = false
		}
	case c == '#' && (prev == ' ' || prev == '\t' || prev == 0):
		i = len(l)
	case c == '"' && tokenStarter(prev):
		q.inDouble = true
	case c == '\'' && tokenStarter(prev):
		q.inSingle = true
	default:
		return i, false
	}
	return i, true
}
