package terraform

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// variable is a declared input variable and the value it takes.
type variable struct {
	name     string
	rng      hcl.Range
	typ      cty.Type // cty.DynamicPseudoType when not declared
	defaults *typeexpr.Defaults
	value    cty.Value // cty.NilVal until a value is given
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"},
		{Name: "sensitive"}, {Name: "nullable"}, {Name: "ephemeral"}},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

func (e *evaluator) addVariable(b *hcl.Block) {
	name := b.Labels[0]
	if old, dup := e.vars[name]; dup {
		e.errs.add(b.DefRange, "variable."+name, fmt.Sprintf("variable %q is declared twice (also at %s)", name, rangeText(old.rng)))
		return
	}
	v := &variable{name: name, rng: b.DefRange, typ: cty.DynamicPseudoType}
	e.vars[name] = v
	e.varOrder = append(e.varOrder, v)
	content, diags := b.Body.Content(variableSchema)
	e.errs.diagsAt("variable."+name, diags)
	if content == nil {
		return
	}
	if a, ok := content.Attributes["type"]; ok {
		ty, defs, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		e.errs.diagsAt("variable."+name+".type", diags)
		if !diags.HasErrors() {
			v.typ, v.defaults = ty, defs
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		d, diags := safeValue(a.Expr, nil)
		e.errs.diagsAt("variable."+name+".default", diags)
		if !diags.HasErrors() {
			v.set(d, a.Expr.Range(), &e.errs, "default")
		}
	}
}

// set gives v the value val, converted to its type.
func (v *variable) set(val cty.Value, rng hcl.Range, errs *errorList, from string) {
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	c, err := convert.Convert(val, v.typ)
	if err != nil {
		errs.add(rng, "variable."+v.name, fmt.Sprintf("value of variable %q from %s: %s", v.name, from, err))
		return
	}
	v.value = c
}

// parseRaw is a value given as text (--var, TF_VAR_): the text itself for
// a string or untyped variable, else an HCL expression, as Terraform does.
func (v *variable) parseRaw(raw, from string, errs *errorList) {
	rng := hcl.Range{Filename: from, Start: hcl.InitialPos, End: hcl.InitialPos}
	if v.typ == cty.String || v.typ == cty.DynamicPseudoType {
		v.set(cty.StringVal(raw), rng, errs, from)
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), from, hcl.InitialPos)
	if diags.HasErrors() {
		errs.add(v.rng, "variable."+v.name, fmt.Sprintf("%s: value of variable %q is not a valid expression: %s", from, v.name, diagText(diags[0])))
		return
	}
	val, diags := safeValue(expr, nil)
	if diags.HasErrors() {
		errs.add(v.rng, "variable."+v.name, fmt.Sprintf("%s: value of variable %q: %s", from, v.name, diagText(diags[0])))
		return
	}
	v.set(val, v.rng, errs, from)
}

// assignVars gives every variable its value in Terraform's precedence and
// builds the var object; a variable left without one is unknown, naming it.
func (e *evaluator) assignVars() {
	if e.opts.Env != nil {
		for _, v := range e.varOrder {
			if raw, ok := e.opts.Env("TF_VAR_" + v.name); ok {
				v.parseRaw(raw, "TF_VAR_"+v.name, &e.errs)
			}
		}
	}
	for _, f := range e.in.tfvars {
		e.varFile(f, false)
	}
	for _, f := range e.opts.VarFiles {
		e.varFile(f, true)
	}
	for _, k := range sortedKeys(e.opts.Vars) {
		v := e.vars[k]
		if v == nil {
			e.errs.add(hcl.Range{Filename: "--var", Start: hcl.InitialPos}, "var."+k,
				fmt.Sprintf("no variable %q is declared%s", k, didYouMean(k, sortedKeys(e.vars))))
			continue
		}
		v.parseRaw(e.opts.Vars[k], "--var "+k, &e.errs)
	}
	m := map[string]cty.Value{}
	for _, v := range e.varOrder {
		if v.value == cty.NilVal {
			m[v.name] = unknown(Why{Kind: "var", Name: v.name})
		} else {
			m[v.name] = v.value
		}
	}
	e.varsObj = cty.ObjectVal(m)
}

// varFile reads a .tfvars or .tfvars.json file. A variable it sets that is
// not declared is an error only in a file given explicitly (Terraform
// warns about the automatic ones).
func (e *evaluator) varFile(name string, explicit bool) {
	f, diags := parseFile(e.parser, name)
	e.errs.diags(diags)
	if f == nil || diags.HasErrors() {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	e.errs.diags(diags)
	for _, a := range sortedAttrs(attrs) {
		v := e.vars[a.Name]
		if v == nil {
			if explicit {
				e.errs.add(a.NameRange, "var."+a.Name, fmt.Sprintf("no variable %q is declared%s", a.Name, didYouMean(a.Name, sortedKeys(e.vars))))
			}
			continue
		}
		val, diags := safeValue(a.Expr, nil)
		if diags.HasErrors() {
			e.errs.diags(diags)
			continue
		}
		v.set(val, a.Expr.Range(), &e.errs, name)
	}
}

// didYouMean is ` (did you mean "x"?)` for the candidate closest to s.
func didYouMean(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD && d <= max(2, len(s)/3) {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	a, b = strings.ToLower(a), strings.ToLower(b)
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
