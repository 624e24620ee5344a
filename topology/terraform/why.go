package terraform

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Why says why a value is unknown. Evaluate marks every unknown value it
// makes with one (cty marks survive functions, operators and references),
// so that a mapping can say what to pass when such a value reaches an
// argument that decides reachability.
type Why struct {
	// Kind is "var" (a variable without a value), "data" (a data source),
	// "module" (a module output), "computed" (an attribute the cloud
	// computes, or an argument the configuration leaves unset), "unread"
	// (an argument that decides nothing, left unevaluated),
	// "unmodeled" (a resource type the schema does not hold), "cycle" (a
	// reference cycle, reported where it closes) or "error" (the
	// expression failed to evaluate).
	Kind string
	// Name is the variable, data source, module or resource address.
	Name string
	// Attr is the attribute of a computed value.
	Attr string
	// Msg is the evaluation error.
	Msg string
}

func (w Why) String() string {
	switch w.Kind {
	case "var":
		return fmt.Sprintf("variable %q has no value: pass --var %s=VALUE (or vars: in imports:, a .tfvars file, TF_VAR_%s)", w.Name, w.Name, w.Name)
	case "data":
		return fmt.Sprintf("it comes from %s, a data source vpclab cannot read offline: import the JSON of `terraform show -json` instead", w.Name)
	case "module":
		return fmt.Sprintf("it comes from %s, a module vpclab does not evaluate: import the JSON of `terraform show -json` instead", w.Name)
	case "computed":
		return fmt.Sprintf("it is %s.%s, which the configuration does not set and the cloud computes: set it, or import the JSON of `terraform show -json` of the applied state", w.Name, w.Attr)
	case "unread":
		return fmt.Sprintf("it is %s.%s, an argument vpclab does not read", w.Name, w.Attr)
	case "unmodeled":
		return fmt.Sprintf("it comes from %s, a resource vpclab does not model", w.Name)
	case "cycle":
		return fmt.Sprintf("it is part of a reference cycle through %s", w.Name)
	case "error":
		return w.Msg
	}
	return "it cannot be known offline"
}

// unknown returns an unknown value marked with why.
func unknown(w Why) cty.Value { return cty.DynamicVal.Mark(w) }

// WhyOf returns the reasons marked anywhere in v, deduplicated and sorted.
func WhyOf(v cty.Value) []Why {
	var out []Why
	_, pvm := v.UnmarkDeepWithPaths()
	for _, pm := range pvm {
		for m := range pm.Marks {
			if w, ok := m.(Why); ok && !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	slices.SortFunc(out, func(a, b Why) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// whyText is the reasons of an unknown v as one sentence.
func whyText(v cty.Value) string {
	ws := WhyOf(v)
	if len(ws) == 0 {
		return "it cannot be known offline: import the JSON of `terraform show -json` instead"
	}
	s := make([]string, 0, len(ws))
	for _, w := range ws {
		s = append(s, w.String())
	}
	if len(s) > 3 {
		s = append(s[:3], fmt.Sprintf("and %d more", len(s)-3))
	}
	return strings.Join(s, "; ")
}
