package topology

// A large topology is mostly two long block lists (instances, expect), and
// the YAML parser (about 1 s of CPU per MiB) runs on one core. parseSplit
// cuts such a file between list entries, parses the pieces on all cores
// and joins the trees. It only ever takes a fast path: any doubt about a
// cut, and any error in a piece, sends the whole file through the one
// parse that reports errors, so messages and positions are unchanged.

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// splitMin is the smallest file parse cuts (a quarter of it the smallest
// piece): below it the pieces' goroutines cost more than they save. Tests
// lower it to cut small files.
var splitMin = 512 << 10

// cut is where a piece starts: at the line of a list entry of the
// top-level key key.
type cut struct {
	offset int    // byte offset of the line
	line   int    // its line number, from 1
	key    string // the top-level key whose block list holds the entry
	indent int    // the entry's indentation
}

// splitCuts returns up to parts-1 cuts, each at the first list entry at or
// after the next parts-th of the file and at least minPiece bytes after the
// previous cut. An entry qualifies when it starts a line at the indentation
// of its list's first entry, outside quotes, flow collections and block
// scalars, and the list is the value of a plain top-level key written alone
// on its line. A file with anchors, aliases, tags, directives or document
// markers is not cut: nil.
func splitCuts(data []byte, parts, minPiece int) []cut {
	if parts < 2 {
		return nil
	}
	var (
		cuts        []cut
		next        = max(len(data)/parts, minPiece)
		key         string // the top-level key whose list we are in, or ""
		entryIndent = -1   // indentation of key's list entries; -1: not seen yet
		flow        int
		q           yamlQuotes
		blockScalar = -1
		rest        = data
		offset      = 0
		line        = 0
	)
	for len(rest) > 0 {
		line++
		start := offset
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
			offset += i + 1
		} else {
			l, rest = rest, nil
			offset = len(data)
		}
		indent := 0
		for indent < len(l) && l[indent] == ' ' {
			indent++
		}
		content := indent < len(l) && l[indent] != '#' && l[indent] != '\r'
		if indent < len(l) && l[indent] == '\t' {
			return nil // tabs where indentation is read: leave it to the parser
		}
		if blockScalar >= 0 {
			if !content || indent > blockScalar {
				continue
			}
			blockScalar = -1
		}
		if !content {
			continue
		}
		neutral := flow == 0 && !q.quoted()
		keyLine := false
		if neutral && indent == 0 {
			if l[0] == '%' || bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
				return nil
			}
			if k, ok := plainKeyAlone(l); ok {
				key, entryIndent, keyLine = k, -1, true
			}
		}
		if neutral && key != "" && !keyLine {
			isEntry := l[indent] == '-' && indent+1 < len(l) && l[indent+1] == ' '
			switch {
			case entryIndent < 0 && isEntry:
				entryIndent = indent // the list's first entry: never a cut
			case entryIndent >= 0 && isEntry && indent == entryIndent:
				if start >= next && (len(cuts) == 0 || start-cuts[len(cuts)-1].offset >= minPiece) {
					cuts = append(cuts, cut{offset: start, line: line, key: key, indent: indent})
					if len(cuts) == parts-1 {
						return cuts
					}
					next = max(start+minPiece, len(data)*(len(cuts)+1)/parts)
				}
			case indent <= entryIndent || entryIndent < 0:
				key = "" // the list ended (or the key holds no list)
			}
		}
		var prev byte
		for i := indent; i < len(l); i++ {
			c := l[i]
			starter := tokenStarter(prev)
			var quoted bool
			switch i, quoted = q.step(l, i, prev); {
			case quoted:
			case (c == '&' || c == '*' || c == '!') && starter:
				return nil // anchors, aliases and tags tie pieces together
			case (c == '[' || c == '{') && (starter || flow > 0):
				flow++
			case (c == ']' || c == '}') && flow > 0:
				flow--
			case flow == 0 && (c == '|' || c == '>') && starter:
				blockScalar = indent
			}
			prev = c
		}
	}
	return cuts
}

// plainKeyAlone reports whether a line is a plain key of letters, digits
// and underscores followed by a colon and nothing else, and returns it.
func plainKeyAlone(l []byte) (string, bool) {
	l = bytes.TrimRight(l, " \r")
	if len(l) < 2 || l[len(l)-1] != ':' {
		return "", false
	}
	k := l[:len(l)-1]
	for i, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return string(k), true
}

// parseSplit parses data in pieces on up to parts goroutines and joins
// them into the tree the whole file parses to. ok is false when the file
// was not cut or a piece did not parse or join cleanly: the caller then
// parses the whole file.
func parseSplit(data []byte, parts, minPiece int) (root ast.Node, ok bool) {
	cuts := splitCuts(data, parts, minPiece)
	if len(cuts) == 0 {
		return nil, false
	}
	bodies := make([]ast.Node, len(cuts)+1)
	fails := make([]bool, len(cuts)+1)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() {
			begin, end, shift := 0, len(data), 0
			var src []byte
			if i > 0 {
				// The key on a line of its own, then the entries from
				// their own line on: shifting every line by c.line-2
				// gives the whole file's positions.
				c := cuts[i-1]
				begin, shift = c.offset, c.line-2
				src = append(append(src, c.key...), ":\n"...)
			}
			if i < len(cuts) {
				end = cuts[i].offset
			}
			src = append(src, data[begin:end]...)
			if i < len(cuts) {
				// The parser places a token by the line after it: end the
				// piece with an entry as the file goes on with one, and
				// drop it from the tree.
				src = append(append(src, data[end:end+cuts[i].indent]...), splitEntry...)
			}
			bodies[i], fails[i] = parsePiece(src, shift)
			if i < len(cuts) && !fails[i] {
				fails[i] = !dropSplitEntry(bodies[i], cuts[i].key)
			}
		})
	}
	wg.Wait()
	for _, f := range fails {
		if f {
			return nil, false
		}
	}
	top, isMap := bodies[0].(*ast.MappingNode)
	if !isMap || top.IsFlowStyle {
		return nil, false
	}
	for i, c := range cuts {
		piece, isMap := bodies[i+1].(*ast.MappingNode)
		if !isMap || piece.IsFlowStyle || len(piece.Values) == 0 || len(top.Values) == 0 {
			return nil, false
		}
		tail := top.Values[len(top.Values)-1]
		into, ok1 := listOf(tail, c.key)
		from, ok2 := listOf(piece.Values[0], c.key)
		if !ok1 || !ok2 {
			return nil, false
		}
		into.Values = append(into.Values, from.Values...)
		into.Entries = append(into.Entries, from.Entries...)
		into.ValueHeadComments = append(into.ValueHeadComments, from.ValueHeadComments...)
		into.End = from.End
		top.Values = append(top.Values, piece.Values[1:]...)
	}
	return top, true
}

// splitEntry ends a piece (after its indentation): see parseSplit.
const splitEntry = "- x\n"

// dropSplitEntry removes the entry splitEntry added to the end of a piece,
// the last of key's list, the last key of body.
func dropSplitEntry(body ast.Node, key string) bool {
	m, ok := body.(*ast.MappingNode)
	if !ok || len(m.Values) == 0 {
		return false
	}
	seq, ok := listOf(m.Values[len(m.Values)-1], key)
	if !ok || len(seq.Values) < 2 {
		return false
	}
	n := len(seq.Values) - 1
	if s, ok := seq.Values[n].(*ast.StringNode); !ok || s.Value != "x" {
		return false
	}
	seq.Values = seq.Values[:n]
	if len(seq.Entries) == n+1 {
		seq.Entries = seq.Entries[:n]
	}
	if len(seq.ValueHeadComments) == n+1 {
		seq.ValueHeadComments = seq.ValueHeadComments[:n]
	}
	return true
}

// listOf returns mv's value when mv is key: followed by a block list.
func listOf(mv *ast.MappingValueNode, key string) (*ast.SequenceNode, bool) {
	if mv == nil || mv.Key == nil || mv.Key.GetToken() == nil || mv.Key.GetToken().Value != key {
		return nil, false
	}
	if _, plain := mv.Key.(*ast.StringNode); !plain {
		return nil, false
	}
	seq, ok := mv.Value.(*ast.SequenceNode)
	if !ok || seq.IsFlowStyle {
		return nil, false
	}
	return seq, true
}

// parsePiece parses one piece, its line numbers moved by shift; failed is
// set on any error, a second document, or a panic.
func parsePiece(src []byte, shift int) (body ast.Node, failed bool) {
	defer func() {
		if r := recover(); r != nil {
			body, failed = nil, true
		}
	}()
	tokens := lexer.Tokenize(string(src))
	for _, tk := range tokens {
		if tk.Position != nil {
			tk.Position.Line += shift
		}
	}
	f, err := parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
	if err != nil || len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return nil, true
	}
	return f.Docs[0].Body, false
}

// splitParts is how many pieces parse cuts a large file into.
func splitParts() int { return min(runtime.GOMAXPROCS(0), 8) }
