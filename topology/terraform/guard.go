package terraform

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// maxForNesting bounds how deep for expressions nest: range() gives at
// most 1024 elements, so two levels make a million, and each further level
// multiplies that by 1024 — a hang, not a configuration.
const maxForNesting = 2

// forDepth walks a native-syntax body and reports for expressions nested
// deeper than maxForNesting.
type forDepth struct {
	depth int
	diags hcl.Diagnostics
}

func (w *forDepth) Enter(n hclsyntax.Node) hcl.Diagnostics {
	if f, ok := n.(*hclsyntax.ForExpr); ok {
		w.depth++
		if w.depth > maxForNesting {
			rng := f.SrcRange
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "For expressions nest too deep",
				Detail: fmt.Sprintf("vpclab evaluates for expressions nested at most %d deep.", maxForNesting), Subject: &rng}}
		}
	}
	return nil
}

func (w *forDepth) Exit(n hclsyntax.Node) hcl.Diagnostics {
	if _, ok := n.(*hclsyntax.ForExpr); ok {
		w.depth--
	}
	return nil
}

// checkNesting reports the too deeply nested for expressions of a file.
func checkNesting(f *hcl.File) hcl.Diagnostics {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	return hclsyntax.Walk(body, &forDepth{})
}
