package topology

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// SchemaID is the $id of the JSON Schema of schema v1.
const SchemaID = "https://github.com/vpclab/vpclab/schemas/topology.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the topology format,
// generated from the Go types and their tags, so that it cannot drift from
// what Load accepts field by field. Cross-field rules (references,
// uniqueness, addresses, quotas) are Load's alone. The repository keeps the
// output in schemas/topology.schema.json; `go test ./topology -run Schema
// -update` rewrites it.
func Schema() []byte {
	defs := map[string]any{}
	root := structSchema(reflect.TypeFor[Topology](), defs)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "vpclab topology, schema v1"
	root["$defs"] = defs
	// vpc and vswitches are required unless an import may give them.
	root["anyOf"] = []any{
		map[string]any{"required": []string{"vpc", "vswitches"}},
		map[string]any{"required": []string{"imports"}},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		panic("topology: schema: " + err.Error())
	}
	return b.Bytes()
}

// structSchema describes a struct type as a closed object.
func structSchema(t reflect.Type, defs map[string]any) map[string]any {
	sf := fieldsOf(t)
	props := map[string]any{}
	required := []string{}
	for i := range sf.list {
		f := &sf.list[i]
		s := typeSchema(t.Field(f.index).Type, f, defs)
		if f.doc != "" {
			s["description"] = f.doc
		}
		if f.hasDef {
			s["default"] = jsonDefault(t.Field(f.index).Type, f.def)
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	out := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func typeSchema(t reflect.Type, f *field, defs map[string]any) map[string]any {
	switch {
	case t == addrType:
		return map[string]any{"type": "string", "format": "ipv4"}
	case t == durationType:
		s := map[string]any{"type": []string{"integer", "string"},
			"pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
		if f != nil && f.min != nil && f.max != nil {
			s["minimum"], s["maximum"] = *f.min, *f.max
		}
		return s
	case t == prefixType:
		return map[string]any{"type": "string",
			"pattern": `^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}/(3[0-2]|[12]?[0-9])$`}
	case t.Kind() == reflect.Pointer: // optional: absent means unset
		return typeSchema(t.Elem(), f, defs)
	case t.Kind() == reflect.Struct:
		if _, ok := defs[t.Name()]; !ok {
			defs[t.Name()] = nil // placeholder against recursion
			defs[t.Name()] = structSchema(t, defs)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case t.Kind() == reflect.Slice:
		var ef *field
		if f != nil && t.Elem().Kind() == reflect.String {
			ef = &field{chars: f.chars}
		}
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), ef, defs)}
	case t.Kind() == reflect.String && f != nil && f.enum != nil:
		// Values are case-insensitive: the enum lets editors complete, the
		// pattern accepts any case.
		alts := make([]string, len(f.enum))
		for i, e := range f.enum {
			alts[i] = anyCase(e)
		}
		return map[string]any{"anyOf": []any{
			map[string]any{"enum": f.enum},
			map[string]any{"type": "string", "pattern": "^(" + strings.Join(alts, "|") + ")$"},
		}}
	case t.Kind() == reflect.String && f != nil && f.scalar:
		return map[string]any{"type": []string{"string", "integer"}, "pattern": charPattern(f.chars)}
	case t.Kind() == reflect.String:
		chars := textChars
		if f != nil {
			chars = f.chars
		}
		return map[string]any{"type": "string", "pattern": charPattern(chars)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": charPattern(nameChars)},
			"additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}}
	case t.Kind() == reflect.Int && f != nil && f.all:
		num := typeSchema(t, &field{min: f.min, max: f.max}, defs)
		return map[string]any{"oneOf": []any{num, map[string]any{"type": "string", "pattern": "^" + anyCase("all") + "$"}}}
	case t.Kind() == reflect.Int:
		s := map[string]any{"type": "integer"}
		if f != nil && f.min != nil && f.max != nil && *f.min == *f.max {
			s["const"] = *f.min
			return s
		}
		if f != nil && f.min != nil {
			s["minimum"] = *f.min
		}
		if f != nil && f.max != nil {
			s["maximum"] = *f.max
		}
		return s
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	panic("topology: no schema for " + t.String())
}

// charPattern is a character class as an ECMA-262 pattern: no control
// characters (C0, DEL, C1), and for names no white space. Load's check is
// stricter (invisible formatting characters, invalid UTF-8).
func charPattern(c charClass) string {
	switch c {
	case nameChars:
		return `^[^\s\x00-\x1f\x7f-\x9f]*$`
	case multilineChars:
		return `^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$`
	}
	return `^[^\x00-\x1f\x7f-\x9f]*$`
}

// anyCase turns "tcp" into "[tT][cC][pP]".
func anyCase(s string) string {
	var b strings.Builder
	for _, c := range s {
		lo, up := strings.ToLower(string(c)), strings.ToUpper(string(c))
		if lo == up {
			b.WriteString(string(c))
			continue
		}
		b.WriteString("[" + lo + up + "]")
	}
	return b.String()
}

func jsonDefault(t reflect.Type, def string) any {
	switch t.Kind() {
	case reflect.Int:
		n, _ := strconv.Atoi(def)
		return n
	case reflect.Bool:
		return def == "true"
	}
	return def
}
