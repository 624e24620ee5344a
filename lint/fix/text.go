package fix

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// text is the file as Fix edits it: its bytes, where each line starts, the
// first token of each line, the anchors some alias uses, and the groups of
// security_groups by name.
type text struct {
	body      []byte
	lineStart []int                // byte offset of line i+1
	firstTok  map[int]*token.Token // line → its first token
	used      map[string]bool      // anchor names some alias refers to
	anchorAt  []anchorDef          // every anchor the file defines
	groups    map[string]*fileGroup
}

// anchorDef is an anchor's name and the byte offset of its "&".
type anchorDef struct {
	off  int
	name string
}

// fileGroup is one group of the file's security_groups.
type fileGroup struct {
	name  string
	seq   *ast.SequenceNode // its rules, or nil
	rules []ast.Node        // the elements of seq
	err   string            // why its rules cannot be edited, or ""
}

// parseText parses body and finds the file's groups. body loaded once, so
// a parse error here is a bug or a file changed under us.
func parseText(body []byte) (tx *text, err error) {
	defer func() {
		if r := recover(); r != nil {
			tx, err = nil, fmt.Errorf("fix: YAML parser failed: %v", r)
		}
	}()
	f, err := parser.ParseBytes(body, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, fmt.Errorf("fix: the file does not parse: %w", err)
	}
	tx = &text{body: body, firstTok: map[int]*token.Token{}, used: map[string]bool{}, groups: map[string]*fileGroup{}}
	tx.lineStart = append(tx.lineStart, 0)
	for i, c := range body {
		if c == '\n' {
			tx.lineStart = append(tx.lineStart, i+1)
		}
	}
	for _, tk := range lexer.Tokenize(string(body)) {
		if tk.Position == nil {
			continue
		}
		l := tk.Position.Line
		if cur, ok := tx.firstTok[l]; !ok || tk.Position.Column < cur.Position.Column {
			tx.firstTok[l] = tk
		}
		if tk.Type == token.AnchorType && tk.Next != nil {
			if off, ok := tx.offset(tk.Position); ok {
				tx.anchorAt = append(tx.anchorAt, anchorDef{off, tk.Next.Value})
			}
		}
		if tk.Type == token.AliasType {
			// The alias token is "*"; its name is the next token.
			if tk.Next != nil {
				tx.used[tk.Next.Value] = true
			}
		}
	}
	var root ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			root = d.Body
			break
		}
	}
	m, _ := plain(root).(*ast.MappingNode)
	if m == nil {
		return tx, nil
	}
	sgs, _ := plain(own(m, "security_groups")).(*ast.SequenceNode)
	if sgs == nil {
		return tx, nil
	}
	for _, e := range sgs.Values {
		gm, _ := plain(e).(*ast.MappingNode)
		if gm == nil {
			continue
		}
		name, ok := scalarText(own(gm, "name"))
		if !ok {
			continue
		}
		fg := &fileGroup{name: name}
		tx.groups[name] = fg
		rv := own(gm, "rules")
		if tx.shared(e) || tx.shared(rv) {
			fg.err = fmt.Sprintf("group %s or its rules carry an anchor an alias uses; removing a rule would change the alias too: edit by hand", name)
		}
		switch r := plain(rv).(type) {
		case nil, *ast.NullNode:
			if hasMergeKey(gm) {
				fg.err = fmt.Sprintf("group %s may take its rules from a << merge key: edit by hand", name)
			}
		case *ast.SequenceNode:
			fg.seq, fg.rules = r, r.Values
		default:
			fg.err = fmt.Sprintf("group %s's rules are not a list written in place (an alias?): edit by hand", name)
		}
	}
	return tx, nil
}

// shared reports whether n is an anchor some alias uses.
func (tx *text) shared(n ast.Node) bool {
	a, ok := n.(*ast.AnchorNode)
	return ok && a.Name != nil && tx.used[a.Name.GetToken().Value]
}

// plain strips an unused-by-us anchor from n; aliases and tags are kept, so
// callers see them and refuse.
func plain(n ast.Node) ast.Node {
	if a, ok := n.(*ast.AnchorNode); ok {
		return a.Value
	}
	return n
}

// own returns the value of a mapping's own key (not one merged by <<).
func own(m *ast.MappingNode, key string) ast.Node {
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if k, ok := scalarText(mv.Key); ok && k == key {
			return mv.Value
		}
	}
	return nil
}

func hasMergeKey(m *ast.MappingNode) bool {
	for _, mv := range m.Values {
		if mv != nil && mv.Key != nil && mv.Key.Type() == ast.MergeKeyType {
			return true
		}
	}
	return false
}

func scalarText(n ast.Node) (string, bool) {
	if mk, ok := n.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode:
		return x.GetToken().Value, true
	}
	return "", false
}

// offset is the byte offset of a token position (1-based line and column,
// the column counted in characters).
func (tx *text) offset(p *token.Position) (int, bool) {
	if p == nil || p.Line < 1 || p.Line > len(tx.lineStart) {
		return 0, false
	}
	off := tx.lineStart[p.Line-1]
	for c := 1; c < p.Column; c++ {
		if off >= len(tx.body) || tx.body[off] == '\n' {
			return 0, false
		}
		_, n := utf8.DecodeRune(tx.body[off:])
		off += n
	}
	return off, true
}

// removable says why rule j of g cannot be removed from the text, or "".
func (g *fileGroup) removable(tx *text, j int) string {
	if g.seq == nil || j >= len(g.rules) {
		return fmt.Sprintf("rule %d of group %s is not in the file's rules list", j, g.name)
	}
	start, end, ok := g.span(tx, j)
	if !ok {
		return fmt.Sprintf("rule %d of group %s is written in a way Fix does not edit (not a mapping or alias on lines of its own): edit by hand", j, g.name)
	}
	for name := range tx.anchorsIn(start, end) {
		if tx.used[name] {
			return fmt.Sprintf("rule %d of group %s defines anchor &%s that an alias uses: edit by hand", j, g.name, name)
		}
	}
	return ""
}

// anchorsIn lists the anchor names defined in body[start:end].
func (tx *text) anchorsIn(start, end int) map[string]bool {
	out := map[string]bool{}
	for _, a := range tx.anchorAt {
		if a.off >= start && a.off < end {
			out[a.name] = true
		}
	}
	return out
}

// span is the bytes of rule j's element: for a block list, its whole lines
// from the "-" to its last line (comments after it and blank lines stay);
// for a flow list, the element itself.
func (g *fileGroup) span(tx *text, j int) (start, end int, ok bool) {
	if g.seq.IsFlowStyle {
		return g.flowElem(tx, j)
	}
	if len(g.seq.Entries) != len(g.rules) || g.seq.Entries[j].Start == nil {
		return 0, 0, false
	}
	dash := g.seq.Entries[j].Start.Position
	if dash == nil || tx.firstTok[dash.Line] == nil || tx.firstTok[dash.Line].Position.Column != dash.Column {
		return 0, 0, false // the "-" shares its line with something before it
	}
	last := dash.Line
	// A flow mapping may go on at any indentation up to its "}".
	minLast := dash.Line
	if m, ok := g.rules[j].(*ast.MappingNode); ok && m.IsFlowStyle && m.End != nil && m.End.Position != nil {
		minLast = m.End.Position.Line
	}
	for l := dash.Line + 1; l <= len(tx.lineStart); l++ {
		if l <= minLast {
			last = l
			continue
		}
		tk := tx.firstTok[l]
		if tk != nil && tk.Type != token.CommentType && tk.Position.Column <= dash.Column {
			break
		}
		last = l
	}
	for last > minLast {
		tk := tx.firstTok[last]
		blank := tk == nil && len(strings.TrimSpace(string(tx.lineBytes(last)))) == 0
		if !blank && (tk == nil || tk.Type != token.CommentType) {
			break
		}
		last--
	}
	start = tx.lineStart[dash.Line-1]
	end = len(tx.body)
	if last < len(tx.lineStart) {
		end = tx.lineStart[last]
	}
	return start, end, true
}

func (tx *text) lineBytes(l int) []byte {
	s := tx.lineStart[l-1]
	e := len(tx.body)
	if l < len(tx.lineStart) {
		e = tx.lineStart[l] - 1
	}
	return tx.body[s:e]
}

// flowElem is the bytes of element j of a flow list: a flow mapping { ... }
// or an alias.
func (g *fileGroup) flowElem(tx *text, j int) (start, end int, ok bool) {
	switch x := g.rules[j].(type) {
	case *ast.MappingNode:
		if !x.IsFlowStyle || x.Start == nil || x.End == nil {
			return 0, 0, false
		}
		s, ok1 := tx.offset(x.Start.Position)
		e, ok2 := tx.offset(x.End.Position)
		if !ok1 || !ok2 || s >= len(tx.body) || e >= len(tx.body) || tx.body[s] != '{' || tx.body[e] != '}' {
			return 0, 0, false
		}
		return s, e + 1, true
	case *ast.AliasNode:
		s, ok1 := tx.offset(x.GetToken().Position)
		if !ok1 || s >= len(tx.body) || tx.body[s] != '*' {
			return 0, 0, false
		}
		e := s + 1
		for e < len(tx.body) && !strings.ContainsRune(",]} \t\r\n", rune(tx.body[e])) {
			e++
		}
		return s, e, true
	}
	return 0, 0, false
}

// edit replaces body[start:end] with repl.
type edit struct {
	start, end int
	repl       string
}

// removeEdits removes the rules in gone from g's list.
func (g *fileGroup) removeEdits(tx *text, gone map[int]bool) ([]edit, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	n := len(g.rules)
	spans := make([][2]int, n)
	for j := range n {
		if !gone[j] {
			continue
		}
		s, e, ok := g.span(tx, j)
		if !ok {
			return nil, fmt.Errorf("fix: rule %d of group %s cannot be located in the text", j, g.name)
		}
		spans[j] = [2]int{s, e}
	}
	if !g.seq.IsFlowStyle {
		var out []edit
		for j := range n {
			if gone[j] {
				out = append(out, edit{spans[j][0], spans[j][1], ""})
			}
		}
		return out, nil
	}
	// Flow list: an element takes the separator after it, except in the
	// trailing run of removed elements, which takes the one before it.
	elem := func(j int) (int, int) {
		s, e, _ := g.flowElem(tx, j)
		return s, e
	}
	for j := range n {
		if _, _, ok := g.flowElem(tx, j); !ok {
			return nil, fmt.Errorf("fix: element %d of group %s's rules cannot be located in the text", j, g.name)
		}
	}
	k := n
	for k > 0 && gone[k-1] {
		k--
	}
	var out []edit
	for j := 0; j < k; j++ {
		if gone[j] {
			s, _ := elem(j)
			ns, _ := elem(j + 1)
			out = append(out, edit{s, ns, ""})
		}
	}
	if k < n {
		var s int
		if k == 0 {
			s, _ = elem(0)
		} else {
			_, s = elem(k - 1)
		}
		_, e := elem(n - 1)
		out = append(out, edit{s, e, ""})
	}
	return out, nil
}

// valueEdit sets field of rule j to value, in the quoting the file used.
func (g *fileGroup) valueEdit(tx *text, j int, field, value string) (edit, error) {
	fail := func(why string) (edit, error) {
		return edit{}, fmt.Errorf("fix: cannot set %s of rule %d of group %s: %s", field, j, g.name, why)
	}
	m, _ := g.rules[j].(*ast.MappingNode)
	if m == nil {
		return fail("the rule is not a mapping written in place")
	}
	v := own(m, field)
	if v == nil {
		return fail("the rule does not write the field")
	}
	tk := v.GetToken()
	if tk == nil {
		return fail("no token")
	}
	s, ok := tx.offset(tk.Position)
	if !ok {
		return fail("position out of the file")
	}
	var raw string
	switch tk.Type {
	case token.DoubleQuoteType, token.SingleQuoteType:
		if s >= len(tx.body) {
			return fail("position out of the file")
		}
		q := tx.body[s]
		e := s + 1
		for e < len(tx.body) && tx.body[e] != q && tx.body[e] != '\n' {
			e++
		}
		if e >= len(tx.body) || tx.body[e] != q {
			return fail("unterminated quote")
		}
		raw = string(tx.body[s : e+1])
		value = string(q) + value + string(q)
	default:
		raw = tk.Value
	}
	if !strings.HasPrefix(string(tx.body[s:]), raw) {
		return fail("the text at its position is not its value")
	}
	return edit{s, s + len(raw), value}, nil
}

// mergeEditable reports whether rule j's field can be rewritten in place.
func (g *fileGroup) mergeEditable(tx *text, j int, field string) bool {
	m, _ := g.rules[j].(*ast.MappingNode)
	if m == nil {
		return false
	}
	switch own(m, field).(type) {
	case *ast.StringNode, *ast.IntegerNode:
		_, err := g.valueEdit(tx, j, field, "x")
		return err == nil
	}
	return false
}

// apply makes non-overlapping edits.
func apply(body []byte, edits []edit) ([]byte, error) {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	for i := 1; i < len(edits); i++ {
		if edits[i].start < edits[i-1].end {
			return nil, fmt.Errorf("fix: overlapping edits at bytes %d and %d (please report it)", edits[i-1].start, edits[i].start)
		}
	}
	var b strings.Builder
	b.Grow(len(body))
	at := 0
	for _, e := range edits {
		b.Write(body[at:e.start])
		b.WriteString(e.repl)
		at = e.end
	}
	b.Write(body[at:])
	return []byte(b.String()), nil
}
