package ros

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Input bounds: a template over 2 MiB (four times ROS's own limit of 512
// KiB), nested deeper than maxDepth or with more than maxNodes values is
// refused before it is evaluated.
const (
	maxFileSize = 2 << 20
	maxDepth    = 64
	maxNodes    = 2_000_000
)

// kind is what a template value is.
type kind uint8

const (
	kNull kind = iota
	kString
	kList
	kMap
	kRef // a resource, or an attribute of one, that the cloud creates
)

// node is one value of a template, with the position of its first character
// (1-based). Scalars keep their text: ROS treats "80", 80 and '80' alike.
// A YAML short-form tag (!Ref x) is read as the long form ({Ref: x}), so the
// evaluator sees one shape for both.
type node struct {
	kind kind
	s    string  // kString: the text
	list []*node // kList
	keys []string
	vals []*node // kMap, in file order
	kpos []*node // kMap: where each key is
	ref  ref     // kRef
	// computed: a string built (Fn::Join, Fn::Sub) from ref, which only
	// the cloud knows; s holds the text with ${Res.Attr} in it.
	computed bool
	line     int
	col      int
}

// ref is a value only the cloud knows: a resource's id (Ref), one of its
// attributes (Fn::GetAtt), or member index of an instance group.
type ref struct {
	res   string
	attr  string // "" for Ref
	index int    // instance of an InstanceGroup, -1 for all or none
}

func (r ref) String() string {
	s := r.res
	if r.attr != "" {
		s += "." + r.attr
	}
	if r.index >= 0 {
		s += fmt.Sprintf("[%d]", r.index)
	}
	return s
}

// get returns the value of key k of a mapping, or nil.
func (n *node) get(k string) *node {
	if n == nil || n.kind != kMap {
		return nil
	}
	for i, key := range n.keys {
		if key == k {
			return n.vals[i]
		}
	}
	return nil
}

// describe names the kind of a value for messages.
func (n *node) describe() string {
	switch {
	case n == nil || n.kind == kNull:
		return "null"
	case n.kind == kString:
		return fmt.Sprintf("%q", truncate(n.s))
	case n.kind == kList:
		return "a list"
	case n.kind == kMap:
		return "a mapping"
	}
	return n.ref.String()
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// shortTags maps the YAML short forms to the functions they write.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!GetAtt": "Fn::GetAtt", "!Join": "Fn::Join", "!Select": "Fn::Select", "!Sub": "Fn::Sub",
	"!If": "Fn::If", "!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Not": "Fn::Not",
	"!Split": "Fn::Split", "!Replace": "Fn::Replace", "!FindInMap": "Fn::FindInMap",
	"!Base64": "Fn::Base64", "!Base64Encode": "Fn::Base64Encode", "!Str": "Fn::Str",
	"!GetAZs": "Fn::GetAZs", "!Length": "Fn::Length", "!Index": "Fn::Index",
	"!ListMerge": "Fn::ListMerge", "!GetJsonValue": "Fn::GetJsonValue", "!MergeMapToList": "Fn::MergeMapToList",
	"!Indent": "Fn::Indent", "!Calculate": "Fn::Calculate", "!Max": "Fn::Max", "!Min": "Fn::Min",
	"!Add": "Fn::Add", "!Avg": "Fn::Avg", "!Jq": "Fn::Jq", "!SelectMapList": "Fn::SelectMapList",
	"!Contains": "Fn::Contains", "!Any": "Fn::Any", "!EachMemberIn": "Fn::EachMemberIn",
	"!MatchPattern": "Fn::MatchPattern", "!ValueOfAll": "Fn::ValueOfAll", "!ValueOf": "Fn::ValueOf",
}

// converter turns the YAML syntax tree into nodes, collecting problems.
type converter struct {
	file    string
	errs    *errList
	anchors map[string]ast.Node
	budget  int
}

// parseTemplate parses a template in YAML or JSON (JSON is YAML) into a node
// tree. It never panics: the parser is guarded, and the tree is bounded.
func parseTemplate(file string, data []byte, errs *errList) (root *node) {
	if p, msg := prescan(data); msg != "" {
		errs.at(p.Line, p.Column, "", "", msg, "")
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			errs.at(1, 1, "", "", fmt.Sprintf("YAML parser failed: %v", r), "")
			root = nil
		}
	}()
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		line, col, msg := 1, 1, err.Error()
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			msg = se.Message
			if se.Token != nil && se.Token.Position != nil {
				line, col = se.Token.Position.Line, se.Token.Position.Column
			}
		}
		msg, _, _ = strings.Cut(msg, "\n")
		errs.at(line, col, "", "", "invalid YAML or JSON: "+truncate(msg), "")
		return nil
	}
	c := &converter{file: file, errs: errs, anchors: map[string]ast.Node{}, budget: maxNodes}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if root != nil {
			l, col := pos(doc.Body)
			errs.at(l, col, "", "", "a template is one YAML document; found a second", "")
			return nil
		}
		root = c.convert(doc.Body, "", 0)
	}
	if root == nil {
		errs.at(1, 1, "", "", "the file is empty; a ROS template is a mapping with ROSTemplateFormatVersion and Resources", "")
	}
	return root
}

func pos(n ast.Node) (int, int) {
	if n == nil {
		return 1, 1
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return tk.Position.Line, tk.Position.Column
}

func (c *converter) convert(n ast.Node, path string, depth int) *node {
	l, col := pos(n)
	if depth > maxDepth {
		c.errs.at(l, col, path, "", fmt.Sprintf("nesting deeper than %d levels", maxDepth), "")
		return nil
	}
	c.budget--
	if c.budget < 0 {
		if c.budget == -1 {
			c.errs.at(l, col, path, "", fmt.Sprintf("template too large: more than %d values", maxNodes), "")
		}
		return nil
	}
	out := &node{line: l, col: col}
	switch x := n.(type) {
	case nil:
		return out
	case *ast.NullNode:
		return out
	case *ast.AnchorNode:
		if x.Name != nil {
			c.anchors[x.Name.GetToken().Value] = x.Value
		}
		return c.convert(x.Value, path, depth+1)
	case *ast.AliasNode:
		name := ""
		if x.Value != nil {
			name = x.Value.GetToken().Value
		}
		target, ok := c.anchors[name]
		if !ok {
			c.errs.at(l, col, path, "", fmt.Sprintf("alias *%s names no anchor defined before it", name), "")
			return nil
		}
		return c.convert(target, path, depth+1)
	case *ast.TagNode:
		tag := x.Start.Value
		if strings.HasPrefix(tag, "!!") { // a YAML core tag: the value as it is
			return c.convert(x.Value, path, depth+1)
		}
		fn, ok := shortTags[tag]
		if !ok {
			c.errs.at(l, col, path, "", fmt.Sprintf("unknown function tag %s", tag), "!Ref, !GetAtt, !Join, !Select, !Sub, !If, !Equals, !And, !Or, !Not, !Split, !Replace, !FindInMap, !Condition")
			return nil
		}
		v := c.convert(x.Value, path+"."+fn, depth+1)
		if fn == "Fn::GetAtt" && v != nil && v.kind == kString { // !GetAtt Res.Attr
			res, attr, _ := strings.Cut(v.s, ".")
			v = &node{kind: kList, line: v.line, col: v.col, list: []*node{
				{kind: kString, s: res, line: v.line, col: v.col},
				{kind: kString, s: attr, line: v.line, col: v.col + len(res) + 1},
			}}
		}
		if v == nil {
			v = &node{line: l, col: col}
		}
		out.kind, out.keys, out.vals = kMap, []string{fn}, []*node{v}
		out.kpos = []*node{{kind: kString, s: fn, line: l, col: col}}
		return out
	case *ast.MappingNode:
		out.kind = kMap
		seen := make(map[string]bool, len(x.Values))
		for _, mv := range x.Values {
			c.pair(out, mv, path, depth, seen)
		}
		return out
	case *ast.MappingValueNode:
		out.kind = kMap
		c.pair(out, x, path, depth, map[string]bool{})
		return out
	case *ast.SequenceNode:
		out.kind = kList
		for i, v := range x.Values {
			e := c.convert(v, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if e == nil {
				e = &node{line: l, col: col}
			}
			out.list = append(out.list, e)
		}
		return out
	case *ast.StringNode:
		out.kind, out.s = kString, x.Value
		return out
	case *ast.LiteralNode:
		out.kind = kString
		if x.Value != nil {
			out.s = x.Value.Value
		}
		return out
	case ast.ScalarNode:
		out.kind = kString
		if tk := x.GetToken(); tk != nil {
			out.s = tk.Value
		}
		return out
	}
	c.errs.at(l, col, path, "", fmt.Sprintf("unexpected YAML %s", n.Type()), "")
	return nil
}

// pair adds one key: value to a mapping; a key given twice is an error, as
// ROS says.
func (c *converter) pair(m *node, mv *ast.MappingValueNode, path string, depth int, seen map[string]bool) {
	if mv == nil || mv.Key == nil {
		return
	}
	var k string
	switch key := mv.Key.(type) {
	case *ast.StringNode:
		k = key.Value
	case *ast.MappingKeyNode:
		if key.Value != nil {
			k = key.Value.GetToken().Value
		}
	default:
		if tk := mv.Key.GetToken(); tk != nil {
			k = tk.Value
		}
	}
	kl, kc := pos(mv.Key)
	if k == "<<" {
		c.errs.at(kl, kc, path, "", "YAML merge keys (<<) are not part of ROS templates", "")
		return
	}
	sub := k
	if path != "" {
		sub = path + "." + k
	}
	if seen[k] {
		c.errs.at(kl, kc, sub, "", fmt.Sprintf("key %q is given twice", k), "")
		return
	}
	seen[k] = true
	v := c.convert(mv.Value, sub, depth+1)
	if v == nil {
		v = &node{line: kl, col: kc}
	}
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
	m.kpos = append(m.kpos, &node{kind: kString, s: k, line: kl, col: kc})
}
