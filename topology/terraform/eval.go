package terraform

import (
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/vpclab/vpclab/topology"
)

// maxInstances bounds the instances one resource's count or for_each
// expands to; maxDepth bounds how deep references nest.
const (
	maxInstances = 10000
	maxDepth     = 500
)

// Resource is one instance of a managed resource after Evaluate (or read
// from `terraform show -json`).
type Resource struct {
	Type, Name string
	// Key is cty.NilVal without count and for_each, else the instance key:
	// a number (count.index) or a string (each.key).
	Key cty.Value
	// ID is what references to the resource give: its address after
	// Evaluate, the "id" attribute in show JSON.
	ID string
	// Address is the resource's address: alicloud_instance.web,
	// alicloud_instance.web[0], alicloud_instance.web["a"],
	// module.net.alicloud_vswitch.a (show JSON).
	Address string
	// Attrs are the relevant arguments the configuration sets, evaluated.
	// An unknown value carries Why marks (see WhyOf).
	Attrs map[string]cty.Value
	// Blocks are the nested blocks whose schema Evaluate reads.
	Blocks map[string][]*Block
	// Range is the resource's definition: its block header, or its JSON
	// object in show JSON.
	Range hcl.Range
	// AttrRanges are the ranges of the Attrs' expressions.
	AttrRanges map[string]hcl.Range
}

// Block is a nested block of a Resource.
type Block struct {
	Attrs      map[string]cty.Value
	AttrRanges map[string]hcl.Range
	Range      hcl.Range
}

// Config is an evaluated configuration: its resources of the schema's
// types, in file order, the instances of one resource by key.
type Config struct {
	Resources []*Resource
}

// Evaluate reads the Terraform configuration at paths (directories, or .tf
// and .tf.json files, taken together as one module) and evaluates every
// resource of a type in schema, with the variables of opts in Terraform's
// precedence: defaults, TF_VAR_* (opts.Env), terraform.tfvars,
// terraform.tfvars.json, *.auto.tfvars(.json), opts.VarFiles, opts.Vars.
//
// A resource's id is its address. A value that cannot be known offline is
// unknown with a Why mark and is an error only where a mapping needs it.
// The errors Evaluate returns are those that always are: syntax, an
// argument the provider does not know, a count or for_each that cannot be
// known, a reference cycle, a module that holds resources of schema's types.
func Evaluate(paths []string, opts topology.ImportOptions, schema Schema) (*Config, topology.Errors) {
	e := &evaluator{schema: schema, opts: opts, parser: hclparse.NewParser(),
		resources: map[string]*resNode{}, locals: map[string]*localNode{},
		data: map[string]map[string]bool{}, modules: map[string]bool{}, vars: map[string]*variable{}}
	in, err := collect(paths)
	if err != nil {
		e.errs.add(hcl.Range{Filename: strings.Join(paths, ","), Start: hcl.InitialPos}, "", strings.TrimPrefix(err.Error(), strings.Join(paths, ",")+": "))
		return nil, e.errs.sorted()
	}
	e.in = in
	for _, name := range in.configs {
		if isOverride(name) {
			e.errs.add(hcl.Range{Filename: name, Start: hcl.InitialPos}, "", "override files merge into other files' blocks, which vpclab does not do: import the JSON of `terraform show -json` instead")
			continue
		}
		e.loadFile(name)
	}
	e.assignVars()
	cfg := &Config{}
	for _, n := range e.order {
		if n.schema == nil {
			continue
		}
		e.evalResource(n)
		cfg.Resources = append(cfg.Resources, n.instances...)
	}
	return cfg, e.errs.sorted()
}

type evaluator struct {
	schema Schema
	opts   topology.ImportOptions
	parser *hclparse.Parser
	in     input
	errs   errorList

	vars      map[string]*variable
	varOrder  []*variable
	varsObj   cty.Value
	locals    map[string]*localNode
	resources map[string]*resNode // "type.name"
	order     []*resNode
	data      map[string]map[string]bool // type → name
	modules   map[string]bool
	stack     []string
	funcs     map[string]function.Function
}

type localNode struct {
	name  string
	attr  *hcl.Attribute
	state int // 0 new, 1 evaluating, 2 done
	value cty.Value
}

type resNode struct {
	typ, name string
	block     *hcl.Block
	schema    *ResourceSchema
	content   *hcl.BodyContent
	nested    map[*hcl.Block]*hcl.BodyContent
	dynamic   bool // it has dynamic blocks of a type the schema reads
	state     int
	value     cty.Value
	instances []*Resource
}

func (n *resNode) key() string { return n.typ + "." + n.name }

var fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "ephemeral", LabelNames: []string{"type", "name"}},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "locals"}, {Type: "terraform"}, {Type: "moved"}, {Type: "import"},
	{Type: "removed"}, {Type: "check", LabelNames: []string{"name"}},
}}

// loadFile reads the top-level blocks of one configuration file.
func (e *evaluator) loadFile(name string) {
	f, diags := parseFile(e.parser, name)
	e.errs.diags(diags)
	if f == nil || diags.HasErrors() {
		return
	}
	if diags := checkNesting(f); diags.HasErrors() {
		e.errs.diags(diags)
		return
	}
	content, diags := f.Body.Content(fileSchema)
	e.errs.diags(diags)
	for _, b := range content.Blocks {
		switch b.Type {
		case "resource":
			e.addResource(b)
		case "data":
			if e.data[b.Labels[0]] == nil {
				e.data[b.Labels[0]] = map[string]bool{}
			}
			e.data[b.Labels[0]][b.Labels[1]] = true
		case "module":
			e.modules[b.Labels[0]] = true
			e.checkModule(b, filepath.Dir(name))
		case "variable":
			e.addVariable(b)
		case "locals":
			attrs, diags := b.Body.JustAttributes()
			e.errs.diags(diags)
			for _, a := range sortedAttrs(attrs) {
				if old, dup := e.locals[a.Name]; dup {
					e.errs.add(a.NameRange, "local."+a.Name, fmt.Sprintf("local value %q is defined twice (also at %s)", a.Name, rangeText(old.attr.NameRange)))
					continue
				}
				e.locals[a.Name] = &localNode{name: a.Name, attr: a}
			}
		}
	}
}

func (e *evaluator) addResource(b *hcl.Block) {
	n := &resNode{typ: b.Labels[0], name: b.Labels[1], block: b, schema: e.schema[b.Labels[0]]}
	if old, dup := e.resources[n.key()]; dup {
		e.errs.add(b.DefRange, "resource."+n.key(), fmt.Sprintf("resource %s is defined twice (also at %s)", n.key(), rangeText(old.block.DefRange)))
		return
	}
	e.resources[n.key()] = n
	e.order = append(e.order, n)
	if n.schema == nil {
		return
	}
	content, diags := b.Body.Content(bodySchema(n.schema))
	e.errs.diagsAt("resource."+n.key(), diags)
	n.content = content
	n.nested = map[*hcl.Block]*hcl.BodyContent{}
	for _, nb := range content.Blocks {
		if nb.Type == "dynamic" {
			if s := n.schema.Blocks[nb.Labels[0]]; s != nil {
				n.dynamic = true
			}
			continue
		}
		if s := n.schema.Blocks[nb.Type]; s != nil {
			c, diags := nb.Body.Content(bodySchema(s))
			e.errs.diagsAt("resource."+n.key()+"."+nb.Type, diags)
			n.nested[nb] = c
		}
	}
}

// bodySchema is the HCL schema of a resource type: its arguments, the
// meta-arguments and its nested blocks.
func bodySchema(s *ResourceSchema) *hcl.BodySchema {
	out := &hcl.BodySchema{}
	for _, a := range slices.Concat(s.Args, metaArgs) {
		out.Attributes = append(out.Attributes, hcl.AttributeSchema{Name: a})
	}
	for _, b := range metaBlocks {
		h := hcl.BlockHeaderSchema{Type: b}
		if b == "provisioner" { // provisioner "remote-exec" { ... }
			h.LabelNames = []string{"type"}
		}
		out.Blocks = append(out.Blocks, h)
	}
	out.Blocks = append(out.Blocks, hcl.BlockHeaderSchema{Type: "dynamic", LabelNames: []string{"type"}})
	for _, b := range sortedKeys(s.Blocks) {
		out.Blocks = append(out.Blocks, hcl.BlockHeaderSchema{Type: b})
	}
	return out
}

// evalResource evaluates a resource's count or for_each and its relevant
// arguments, once; references are followed depth first.
func (e *evaluator) evalResource(n *resNode) cty.Value {
	if n.schema == nil {
		return unknown(Why{Kind: "unmodeled", Name: n.key()})
	}
	switch n.state {
	case 2:
		return n.value
	case 1:
		e.cycle(n.key(), n.block.DefRange)
		return unknown(Why{Kind: "cycle", Name: n.key()})
	}
	if !e.push(n.key(), n.block.DefRange) {
		return cty.DynamicVal
	}
	n.state = 1
	defer func() { n.state = 2; e.pop() }()
	n.value = cty.DynamicVal
	if n.content == nil {
		return n.value
	}
	base := "resource." + n.key()
	type inst struct {
		key   cty.Value
		extra map[string]cty.Value
	}
	var insts []inst
	countAttr, hasCount := n.content.Attributes["count"]
	forAttr, hasFor := n.content.Attributes["for_each"]
	switch {
	case hasCount && hasFor:
		e.errs.add(forAttr.NameRange, base+".for_each", "count and for_each cannot both be set")
		return n.value
	case hasCount:
		v, diags := e.evalExpr(countAttr.Expr, nil)
		c, ok := e.count(v, diags, countAttr, base+".count")
		if !ok {
			return n.value
		}
		for i := range c {
			k := cty.NumberIntVal(int64(i))
			insts = append(insts, inst{k, map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": k})}})
		}
	case hasFor:
		v, diags := e.evalExpr(forAttr.Expr, nil)
		m, ok := e.forEach(v, diags, forAttr, base+".for_each")
		if !ok {
			return n.value
		}
		for _, k := range sortedKeys(m) {
			insts = append(insts, inst{cty.StringVal(k), map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{
				"key": cty.StringVal(k), "value": m[k]})}})
		}
	default:
		insts = []inst{{cty.NilVal, nil}}
	}
	objs := make([]cty.Value, 0, len(insts))
	objMap := map[string]cty.Value{}
	for _, in := range insts {
		addr := address(n.typ, n.name, in.key)
		r := &Resource{Type: n.typ, Name: n.name, Key: in.key, Address: addr, ID: addr,
			Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, Range: n.block.DefRange}
		for _, a := range n.schema.Relevant {
			if attr, ok := n.content.Attributes[a]; ok {
				r.Attrs[a] = e.evalArg(attr.Expr, in.extra)
				r.AttrRanges[a] = attr.Expr.Range()
			}
		}
		blocks, nested := n.content.Blocks, n.nested
		if n.dynamic {
			blocks, nested = e.expandDynamic(n, in.extra)
		}
		for _, nb := range blocks {
			c := nested[nb]
			if c == nil {
				continue
			}
			blk := &Block{Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, Range: nb.DefRange}
			for _, a := range n.schema.Blocks[nb.Type].Relevant {
				if attr, ok := c.Attributes[a]; ok {
					blk.Attrs[a] = e.evalArg(attr.Expr, in.extra)
					blk.AttrRanges[a] = attr.Expr.Range()
				}
			}
			if r.Blocks == nil {
				r.Blocks = map[string][]*Block{}
			}
			r.Blocks[nb.Type] = append(r.Blocks[nb.Type], blk)
		}
		n.instances = append(n.instances, r)
		obj := objectOf(r, n.schema, n.content.Attributes)
		objs = append(objs, obj)
		if in.key.Type() == cty.String {
			objMap[in.key.AsString()] = obj
		}
	}
	switch {
	case hasCount:
		n.value = cty.TupleVal(objs)
	case hasFor:
		n.value = cty.ObjectVal(objMap)
	default:
		n.value = objs[0]
	}
	return n.value
}

// expandDynamic expands the dynamic blocks of a resource instance
// (dynamic "entry" { for_each = ...; content { ... } }) and returns its
// nested blocks with their contents.
func (e *evaluator) expandDynamic(n *resNode, extra map[string]cty.Value) (hcl.Blocks, map[*hcl.Block]*hcl.BodyContent) {
	schema := bodySchema(n.schema)
	vars, _ := dynblock.WalkExpandVariables(n.block.Body).Visit(schema)
	body := dynblock.Expand(n.block.Body, e.context(vars, extra))
	content, diags := body.Content(schema)
	e.errs.diagsAt("resource."+n.key()+".dynamic", diags)
	nested := map[*hcl.Block]*hcl.BodyContent{}
	if content == nil {
		return nil, nested
	}
	for _, nb := range content.Blocks {
		if s := n.schema.Blocks[nb.Type]; s != nil {
			c, diags := nb.Body.Content(bodySchema(s))
			e.errs.diagsAt("resource."+n.key()+"."+nb.Type, diags)
			nested[nb] = c
		}
	}
	return content.Blocks, nested
}

// evalArg evaluates an argument; an error becomes an unknown value that
// says it, reported only if a mapping needs the argument.
func (e *evaluator) evalArg(expr hcl.Expression, extra map[string]cty.Value) cty.Value {
	v, diags := e.evalExpr(expr, extra)
	if diags.HasErrors() {
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				return unknown(Why{Kind: "error", Msg: diagText(d)})
			}
		}
	}
	return v
}

// objectOf is the value a reference to r gives: id (its address), its
// relevant arguments and computed attributes (unknown when not set, naming
// them), and the other arguments the configuration sets, unknown as
// unread. Arguments neither set nor relevant are absent, which keeps a
// resource with count = 10000 cheap.
func objectOf(r *Resource, s *ResourceSchema, set hcl.Attributes) cty.Value {
	m := make(map[string]cty.Value, len(s.Relevant)+len(s.Computed)+len(set)+1)
	m["id"] = cty.StringVal(r.Address)
	for a := range set {
		if !slices.Contains(metaArgs, a) {
			m[a] = unknown(Why{Kind: "unread", Name: r.Address, Attr: a})
		}
	}
	for _, a := range slices.Concat(s.Relevant, s.Computed) {
		if v, ok := r.Attrs[a]; ok {
			m[a] = v
		} else {
			m[a] = unknown(Why{Kind: "computed", Name: r.Address, Attr: a})
		}
	}
	return cty.ObjectVal(m)
}

// address is a resource instance's address.
func address(typ, name string, key cty.Value) string {
	a := typ + "." + name
	switch {
	case key == cty.NilVal:
		return a
	case key.Type() == cty.String:
		return fmt.Sprintf("%s[%q]", a, key.AsString())
	default:
		bf := key.AsBigFloat()
		return a + "[" + bf.Text('f', -1) + "]"
	}
}

// count checks a count value: a known whole number in 0..maxInstances.
func (e *evaluator) count(v cty.Value, diags hcl.Diagnostics, a *hcl.Attribute, path string) (int, bool) {
	if diags.HasErrors() {
		e.errs.diagsAt(path, diags)
		return 0, false
	}
	if !v.IsWhollyKnown() {
		e.errs.add(a.Expr.Range(), path, "count must be known offline: "+whyText(v))
		return 0, false
	}
	v, _ = v.UnmarkDeep()
	if nv, err := convert.Convert(v, cty.Number); err == nil {
		v = nv
	}
	if v.IsNull() || v.Type() != cty.Number {
		e.errs.add(a.Expr.Range(), path, "count must be a whole number")
		return 0, false
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || i < 0 || i > maxInstances {
		e.errs.add(a.Expr.Range(), path, fmt.Sprintf("count must be a whole number in 0..%d", maxInstances))
		return 0, false
	}
	return int(i), true
}

// forEach checks a for_each value: a known map or object, or a set of
// strings, of at most maxInstances elements.
func (e *evaluator) forEach(v cty.Value, diags hcl.Diagnostics, a *hcl.Attribute, path string) (map[string]cty.Value, bool) {
	if diags.HasErrors() {
		e.errs.diagsAt(path, diags)
		return nil, false
	}
	if !v.IsWhollyKnown() {
		e.errs.add(a.Expr.Range(), path, "for_each must be known offline: "+whyText(v))
		return nil, false
	}
	v, _ = v.UnmarkDeep()
	ty := v.Type()
	if v.IsNull() || !(ty.IsMapType() || ty.IsObjectType() || ty.IsSetType()) {
		e.errs.add(a.Expr.Range(), path, "for_each must be a map, an object or a set of strings", "")
		return nil, false
	}
	if v.LengthInt() > maxInstances {
		e.errs.add(a.Expr.Range(), path, fmt.Sprintf("for_each has %d elements; vpclab reads at most %d", v.LengthInt(), maxInstances))
		return nil, false
	}
	m := map[string]cty.Value{}
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if ty.IsSetType() {
			if k.Type() != cty.String || k.IsNull() {
				e.errs.add(a.Expr.Range(), path, "for_each over a set needs a set of strings")
				return nil, false
			}
			val = k
		}
		m[k.AsString()] = val
	}
	return m, true
}

// push enters a node of the reference walk; false when the walk is too deep.
func (e *evaluator) push(key string, rng hcl.Range) bool {
	if len(e.stack) >= maxDepth {
		e.errs.add(rng, key, fmt.Sprintf("references nest deeper than %d", maxDepth))
		return false
	}
	e.stack = append(e.stack, key)
	return true
}

func (e *evaluator) pop() { e.stack = e.stack[:len(e.stack)-1] }

// cycle reports a reference cycle through key.
func (e *evaluator) cycle(key string, rng hcl.Range) {
	i := slices.Index(e.stack, key)
	path := append(slices.Clone(e.stack[i:]), key)
	e.errs.add(rng, key, "reference cycle: "+strings.Join(path, " → "))
}

// evalLocal evaluates a local value once.
func (e *evaluator) evalLocal(l *localNode) cty.Value {
	switch l.state {
	case 2:
		return l.value
	case 1:
		e.cycle("local."+l.name, l.attr.NameRange)
		return unknown(Why{Kind: "cycle", Name: "local." + l.name})
	}
	if !e.push("local."+l.name, l.attr.NameRange) {
		return cty.DynamicVal
	}
	l.state = 1
	l.value = e.evalArg(l.attr.Expr, nil)
	l.state = 2
	e.pop()
	return l.value
}

// evalExpr evaluates expr in a context holding what it references.
func (e *evaluator) evalExpr(expr hcl.Expression, extra map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	return safeValue(expr, e.context(expr.Variables(), extra))
}

// context is an evaluation context holding what traversals reference,
// evaluating the locals and resources they name first.
func (e *evaluator) context(traversals []hcl.Traversal, extra map[string]cty.Value) *hcl.EvalContext {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: e.functions()}
	nested := map[string]map[string]cty.Value{}
	put := func(root, name string, v cty.Value) {
		if nested[root] == nil {
			nested[root] = map[string]cty.Value{}
		}
		nested[root][name] = v
	}
	dataObjs := map[string]map[string]cty.Value{}
	for _, t := range traversals {
		root := t.RootName()
		switch root {
		case "var":
			ctx.Variables["var"] = e.varsObj
		case "count", "each":
			if v, ok := extra[root]; ok {
				ctx.Variables[root] = v
			}
		case "path":
			dir := "."
			if len(e.in.dirs) > 0 {
				dir = e.in.dirs[0]
			}
			d := cty.StringVal(dir)
			ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"module": d, "root": d, "cwd": cty.StringVal(".")})
		case "terraform":
			ctx.Variables["terraform"] = cty.ObjectVal(map[string]cty.Value{"workspace": cty.StringVal("default")})
		case "local":
			if name, ok := attrName(t, 1); ok {
				if l := e.locals[name]; l != nil {
					put("local", name, e.evalLocal(l))
				}
			}
		case "module":
			if name, ok := attrName(t, 1); ok && e.modules[name] {
				put("module", name, unknown(Why{Kind: "module", Name: "module." + name}))
			}
		case "data":
			typ, ok1 := attrName(t, 1)
			name, ok2 := attrName(t, 2)
			if ok1 && ok2 && e.data[typ][name] {
				if dataObjs[typ] == nil {
					dataObjs[typ] = map[string]cty.Value{}
				}
				dataObjs[typ][name] = unknown(Why{Kind: "data", Name: "data." + typ + "." + name})
			}
		default:
			if name, ok := attrName(t, 1); ok {
				if n := e.resources[root+"."+name]; n != nil {
					put(root, name, e.evalResource(n))
				}
			}
		}
	}
	for root, m := range nested {
		ctx.Variables[root] = cty.ObjectVal(m)
	}
	if len(dataObjs) > 0 {
		d := map[string]cty.Value{}
		for typ, m := range dataObjs {
			d[typ] = cty.ObjectVal(m)
		}
		ctx.Variables["data"] = cty.ObjectVal(d)
	}
	return ctx
}

// safeValue evaluates expr, turning a panic inside a function into an error.
func safeValue(expr hcl.Expression, ctx *hcl.EvalContext) (v cty.Value, diags hcl.Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			rng := expr.Range()
			v, diags = cty.DynamicVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Evaluation failed",
				Detail: fmt.Sprint(r), Subject: &rng}}
		}
	}()
	return expr.Value(ctx)
}

// attrName is the name of the i-th step of t when it is an attribute step.
func attrName(t hcl.Traversal, i int) (string, bool) {
	if len(t) <= i {
		return "", false
	}
	a, ok := t[i].(hcl.TraverseAttr)
	return a.Name, ok
}

func sortedAttrs(m hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
