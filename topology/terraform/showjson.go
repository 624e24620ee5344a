package terraform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/zclconf/go-cty/cty"

	"github.com/vpclab/vpclab/topology"
)

// ReadShowJSON reads the JSON of `terraform show -json` held in src (read
// from file): a state (its values) or a plan (its planned values), root and
// child modules alike, and returns the managed resources of the schema's
// types with all their values. A resource's ID is its "id" value (its
// address when the plan does not know it yet); an argument a plan knows
// only after apply is unknown and, when the configuration shows it refers
// to one resource, marked as that resource's attribute. Ranges are the
// JSON line:col of each resource's object.
func ReadShowJSON(file string, src []byte, schema Schema) ([]*Resource, topology.Errors) {
	var errs errorList
	at := hcl.Range{Filename: file, Start: hcl.InitialPos}
	var top struct {
		FormatVersion string          `json:"format_version"`
		Values        json.RawMessage `json:"values"`
		PlannedValues json.RawMessage `json:"planned_values"`
	}
	if err := json.Unmarshal(src, &top); err != nil {
		errs.add(jsonErrRange(file, src, err), "", "not JSON: "+err.Error())
		return nil, errs.sorted()
	}
	if top.FormatVersion == "" || (top.Values == nil && top.PlannedValues == nil) {
		errs.add(at, "", `not the JSON of "terraform show -json": it needs format_version and values (a state) or planned_values (a plan); a configuration is read from .tf or .tf.json files`)
		return nil, errs.sorted()
	}
	var values *tfjson.StateValues
	var plan *tfjson.Plan
	section := "values"
	if top.PlannedValues != nil {
		plan = &tfjson.Plan{}
		if err := json.Unmarshal(src, plan); err != nil {
			errs.add(at, "", "terraform plan JSON: "+err.Error())
			return nil, errs.sorted()
		}
		values, section = plan.PlannedValues, "planned_values"
	} else {
		st := &tfjson.State{}
		if err := json.Unmarshal(src, st); err != nil {
			errs.add(at, "", "terraform state JSON: "+err.Error())
			return nil, errs.sorted()
		}
		values = st.Values
	}
	if values == nil || values.RootModule == nil {
		return nil, nil
	}
	offsets := resourceOffsets(src, section)
	unknowns := map[string]map[string]any{}
	if plan != nil {
		for _, rc := range plan.ResourceChanges {
			if rc.Change != nil {
				if m, ok := rc.Change.AfterUnknown.(map[string]any); ok {
					unknowns[rc.Address] = m
				}
			}
		}
	}
	var out []*Resource
	var walk func(mod *tfjson.StateModule, depth int)
	walk = func(mod *tfjson.StateModule, depth int) {
		if mod == nil || depth > 64 {
			return
		}
		for _, sr := range mod.Resources {
			if sr.Mode != tfjson.ManagedResourceMode || schema[sr.Type] == nil {
				continue
			}
			r := &Resource{Type: sr.Type, Name: sr.Name, Address: sr.Address, ID: sr.Address,
				Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, Key: indexValue(sr.Index)}
			r.Range = offsetRange(file, src, offsets[sr.Address])
			for k, v := range sr.AttributeValues {
				r.Attrs[k] = jsonValue(v, 0)
			}
			if id, ok := sr.AttributeValues["id"].(string); ok && id != "" {
				r.ID = id
			}
			if s := schema[sr.Type]; s != nil {
				for b := range s.Blocks {
					if bs, ok := sr.AttributeValues[b].([]any); ok && s.Blocks[b] != nil {
						for _, e := range bs {
							em, _ := e.(map[string]any)
							blk := &Block{Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}, Range: r.Range}
							for k, v := range em {
								blk.Attrs[k] = jsonValue(v, 0)
								blk.AttrRanges[k] = r.Range
							}
							if r.Blocks == nil {
								r.Blocks = map[string][]*Block{}
							}
							r.Blocks[b] = append(r.Blocks[b], blk)
						}
					}
				}
			}
			for k, u := range unknowns[sr.Address] {
				if _, known := sr.AttributeValues[k]; known || !containsTrue(u) {
					continue
				}
				if v, ok := plannedUnknown(plan, sr.Address, k, u); ok {
					r.Attrs[k] = v
				}
			}
			for k := range r.Attrs {
				r.AttrRanges[k] = r.Range
			}
			out = append(out, r)
		}
		for _, c := range mod.ChildModules {
			walk(c, depth+1)
		}
	}
	walk(values.RootModule, 0)
	return out, errs.sorted()
}

// containsTrue reports whether an after_unknown value marks anything.
func containsTrue(u any) bool {
	switch u := u.(type) {
	case bool:
		return u
	case []any:
		for _, e := range u {
			if containsTrue(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range u {
			if containsTrue(e) {
				return true
			}
		}
	}
	return false
}

// indexRef strips a reference to its resource instance:
// "alicloud_security_group.web[0].id" → "alicloud_security_group.web[0]".
var indexRef = regexp.MustCompile(`^((?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*[a-z0-9_]+\.[A-Za-z0-9_-]+(?:\[[^\]]*\])?)(?:\.([a-z0-9_]+))?`)

// plannedUnknown is an argument a plan knows only after apply. When the
// configuration shows it refers to resources, it is marked as their
// attributes (a list one element per referenced resource), which is how
// the mapping resolves it; else it is unknown, saying so. It is absent
// (false) when the configuration does not set it: the provider computes it.
func plannedUnknown(plan *tfjson.Plan, addr, attr string, u any) (cty.Value, bool) {
	unresolved := unknown(Why{Kind: "error", Msg: fmt.Sprintf("%s.%s is known only after apply: import the JSON of `terraform show -json` of the applied state", addr, attr)})
	refs, found := configRefs(plan, addr, attr)
	if !found {
		return cty.NilVal, plan.Config == nil
	}
	var targets []Why
	seen := map[string]bool{}
	for _, ref := range refs {
		m := indexRef.FindStringSubmatch(ref)
		if m == nil || m[2] == "" || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		targets = append(targets, Why{Kind: "computed", Name: m[1], Attr: m[2]})
	}
	if len(targets) == 0 {
		return unresolved, true
	}
	if _, isList := u.([]any); isList {
		elems := make([]cty.Value, len(targets))
		for i, w := range targets {
			elems[i] = unknown(w)
		}
		return cty.TupleVal(elems), true
	}
	if len(targets) != 1 {
		return unresolved, true
	}
	return unknown(targets[0]), true
}

// configRefs returns the references of a resource argument in the plan's
// configuration, made absolute (module.x. prefixed); found is false when
// the configuration does not set the argument.
func configRefs(plan *tfjson.Plan, addr, attr string) (refs []string, found bool) {
	if plan.Config == nil || plan.Config.RootModule == nil {
		return nil, false
	}
	mod := plan.Config.RootModule
	prefix := ""
	rest := addr
	for strings.HasPrefix(rest, "module.") {
		i := strings.Index(rest[len("module."):], ".")
		if i < 0 {
			return nil, false
		}
		call := rest[len("module.") : len("module.")+i]
		key := call
		if j := strings.IndexByte(call, '['); j >= 0 {
			key = call[:j]
		}
		prefix += "module." + call + "."
		rest = rest[len("module.")+i+1:]
		mc := mod.ModuleCalls[key]
		if mc == nil || mc.Module == nil {
			return nil, false
		}
		mod = mc.Module
	}
	if j := strings.IndexByte(rest, '['); j >= 0 {
		rest = rest[:j]
	}
	for _, cr := range mod.Resources {
		if cr.Address != rest || cr.Expressions[attr] == nil || cr.Expressions[attr].ExpressionData == nil {
			continue
		}
		for _, r := range cr.Expressions[attr].References {
			refs = append(refs, prefix+r)
		}
		return refs, true
	}
	return nil, false
}

// indexValue is a show JSON instance index as a Resource key.
func indexValue(i any) cty.Value {
	switch i := i.(type) {
	case float64:
		return cty.NumberFloatVal(i)
	case json.Number:
		if f, ok := new(big.Float).SetString(string(i)); ok {
			return cty.NumberVal(f)
		}
	case string:
		return cty.StringVal(i)
	}
	return cty.NilVal
}

// jsonValue converts a decoded JSON value to cty.
func jsonValue(v any, depth int) cty.Value {
	if depth > 64 {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	switch v := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType)
	case bool:
		return cty.BoolVal(v)
	case float64:
		return cty.NumberFloatVal(v)
	case string:
		return cty.StringVal(v)
	case []any:
		if len(v) == 0 {
			return cty.EmptyTupleVal
		}
		out := make([]cty.Value, len(v))
		for i, e := range v {
			out[i] = jsonValue(e, depth+1)
		}
		return cty.TupleVal(out)
	case map[string]any:
		out := make(map[string]cty.Value, len(v))
		for k, e := range v {
			out[k] = jsonValue(e, depth+1)
		}
		return cty.ObjectVal(out)
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// resourceOffsets walks the JSON tokens of src and returns the byte offset
// of each resource object (an element of a "resources" array) under the
// top-level key section, by its address.
func resourceOffsets(src []byte, section string) map[string]int64 {
	out := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(src))
	type frame struct {
		object    bool
		key       string // object: the key whose value comes next
		expectKey bool
		resource  bool // an element of a "resources" array
		start     int64
		inSection bool
	}
	var stack []frame
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		var parent *frame
		if len(stack) > 0 {
			parent = &stack[len(stack)-1]
		}
		// Is this token a key?
		if parent != nil && parent.object && parent.expectKey {
			if k, ok := tok.(string); ok {
				parent.key, parent.expectKey = k, false
				continue
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				f := frame{object: t == '{', expectKey: t == '{', start: skipSpace(src, off)}
				switch {
				case parent == nil:
				case len(stack) == 1:
					f.inSection = parent.key == section
				default:
					f.inSection = parent.inSection
				}
				if t == '{' && parent != nil && !parent.object && len(stack) >= 2 && stack[len(stack)-2].key == "resources" {
					f.resource = true
				}
				stack = append(stack, f)
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if parent != nil && parent.object && parent.resource && parent.inSection && parent.key == "address" {
				if _, dup := out[t]; !dup {
					out[t] = parent.start
				}
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expectKey = true
		}
	}
}

// skipSpace moves off past whitespace, commas and colons to a token.
func skipSpace(src []byte, off int64) int64 {
	for off < int64(len(src)) && strings.IndexByte(" \t\r\n,:", src[off]) >= 0 {
		off++
	}
	return off
}

// offsetRange is the 1-based line:col of byte offset off in src.
func offsetRange(file string, src []byte, off int64) hcl.Range {
	if off > int64(len(src)) {
		off = int64(len(src))
	}
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(src[:off], '\n')
	p := hcl.Pos{Line: line, Column: col, Byte: int(off)}
	return hcl.Range{Filename: file, Start: p, End: p}
}

// jsonErrRange is the position of a JSON syntax error.
func jsonErrRange(file string, src []byte, err error) hcl.Range {
	if se, ok := err.(*json.SyntaxError); ok {
		return offsetRange(file, src, se.Offset)
	}
	return hcl.Range{Filename: file, Start: hcl.InitialPos}
}
