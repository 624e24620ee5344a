package topology

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const docsFile = "../docs/topology.md"

// docTable is one field table of docs/topology.md: the schema object it
// documents (a $defs name, or "root") and its rows by field name.
type docTable struct {
	line int
	rows map[string]docRow
}

// docRow is one table row: | field | type | required | default | meaning |.
type docRow struct {
	line                      int
	typ, required, def, cells string
}

var (
	schemaMarker = regexp.MustCompile(`^<!-- schema: ([A-Za-z]+) -->$`)
	fieldCell    = regexp.MustCompile("^`([a-z_]+)`$")
)

// parseDocTables reads the tables of docs/topology.md that follow a
// "<!-- schema: NAME -->" marker. Each table's rows name a field in
// backquotes in the first cell.
func parseDocTables(data []byte) (map[string]*docTable, error) {
	tables := map[string]*docTable{}
	var cur *docTable
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := schemaMarker.FindStringSubmatch(line); m != nil {
			if _, dup := tables[m[1]]; dup {
				return nil, fmt.Errorf("%s:%d: a second table for %s", docsFile, n, m[1])
			}
			cur = &docTable{line: n, rows: map[string]docRow{}}
			tables[m[1]] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(cur.rows) > 0 || line != "" {
				cur = nil // the table ended (or the marker had none)
			}
			continue
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 cells (field, type, required, default, meaning), have %d", docsFile, n, len(cells))
		}
		if cells[0] == "field" || strings.Trim(cells[0], "-") == "" {
			continue // header and separator
		}
		m := fieldCell.FindStringSubmatch(cells[0])
		if m == nil {
			return nil, fmt.Errorf("%s:%d: first cell %q is not a `field_name`", docsFile, n, cells[0])
		}
		if _, dup := cur.rows[m[1]]; dup {
			return nil, fmt.Errorf("%s:%d: field %s documented twice", docsFile, n, m[1])
		}
		cur.rows[m[1]] = docRow{line: n, typ: cells[1], required: cells[2], def: cells[3], cells: line}
	}
	return tables, sc.Err()
}

// splitRow splits a Markdown table row into its cells; "\|" is a literal bar.
func splitRow(line string) []string {
	line = strings.ReplaceAll(line, `\|`, "\x00")
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(parts[i], "\x00", "|"))
	}
	return parts
}

// schemaObject is the part of a JSON Schema object the docs must match.
type schemaObject struct {
	Properties map[string]schemaProperty `json:"properties"`
	Required   []string                  `json:"required"`
}

type schemaProperty struct {
	Default any `json:"default"`
	AnyOf   []struct {
		Enum []string `json:"enum"`
	} `json:"anyOf"`
}

// schemaObjects returns every object of the schema by name: "root" and
// each $defs entry.
func schemaObjects(t *testing.T, schema []byte) map[string]schemaObject {
	t.Helper()
	var s struct {
		schemaObject
		Defs map[string]schemaObject `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	objs := map[string]schemaObject{"root": s.schemaObject}
	for name, d := range s.Defs {
		objs[name] = d
	}
	return objs
}

// checkDocs returns every disagreement between the docs and the schema:
// an object or field of the schema the docs lack, a documented object or
// field the schema lacks, and per field a required flag, a default or an
// allowed value the row does not state.
func checkDocs(schema, docs []byte, t *testing.T) []string {
	tables, err := parseDocTables(docs)
	if err != nil {
		return []string{err.Error()}
	}
	objs := schemaObjects(t, schema)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range sortedKeys(objs) {
		obj := objs[name]
		tab, ok := tables[name]
		if !ok {
			bad("%s: no table for schema object %s (add a section with <!-- schema: %s --> and a row per field)", docsFile, name, name)
			continue
		}
		for _, field := range sortedKeys(obj.Properties) {
			row, ok := tab.rows[field]
			if !ok {
				bad("%s:%d: %s.%s is in the schema but not documented", docsFile, tab.line, name, field)
				continue
			}
			p := obj.Properties[field]
			if req := slices.Contains(obj.Required, field); req != (row.required == "yes") {
				bad("%s:%d: %s.%s: required column %q, the schema says required=%v", docsFile, row.line, name, field, row.required, req)
			}
			def := fmt.Sprint(p.Default)
			if f, ok := p.Default.(float64); ok {
				def = strconv.FormatFloat(f, 'f', -1, 64) // 1000000, not 1e+06
			}
			if p.Default != nil && !strings.Contains(row.def, def) {
				bad("%s:%d: %s.%s: default column %q lacks the schema's default %v", docsFile, row.line, name, field, row.def, p.Default)
			}
			for _, alt := range p.AnyOf {
				for _, v := range alt.Enum {
					if !strings.Contains(row.typ, "`"+v+"`") {
						bad("%s:%d: %s.%s: type column %q lacks the allowed value `%s`", docsFile, row.line, name, field, row.typ, v)
					}
				}
			}
		}
		for _, field := range sortedKeys(tab.rows) {
			if _, ok := obj.Properties[field]; !ok {
				bad("%s:%d: %s.%s is documented but not in the schema", docsFile, tab.rows[field].line, name, field)
			}
		}
	}
	for _, name := range sortedKeys(tables) {
		if _, ok := objs[name]; !ok {
			bad("%s:%d: table for %s, which the schema does not have", docsFile, tables[name].line, name)
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestDocsMatchSchema keeps docs/topology.md in step with the JSON Schema
// the Go types generate.
func TestDocsMatchSchema(t *testing.T) {
	docs, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDocs(Schema(), docs, t) {
		t.Error(p)
	}
}

// TestDocsCheckFindsDrift checks that checkDocs notices each kind of drift,
// on the real docs and a schema changed the way a new field changes it.
func TestDocsCheckFindsDrift(t *testing.T) {
	docs, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	props := func(def string) map[string]any {
		return defs[def].(map[string]any)["properties"].(map[string]any)
	}
	tests := []struct {
		name   string
		schema func()              // changes the schema
		docs   func(string) string // changes the docs
		want   string              // in some problem
	}{
		{"new rule field", func() { props("Rule")["ttl"] = map[string]any{"type": "integer"} }, nil,
			"Rule.ttl is in the schema but not documented"},
		{"new top-level field", func() { schema["properties"].(map[string]any)["routes"] = map[string]any{"type": "array"} }, nil,
			"root.routes is in the schema but not documented"},
		{"new object", func() { defs["Route"] = map[string]any{"properties": map[string]any{}} }, nil,
			"no table for schema object Route"},
		{"removed field", func() { delete(props("Instance"), "eip") }, nil,
			"Instance.eip is documented but not in the schema"},
		{"new default", func() { props("Quotas")["groups_per_nic"].(map[string]any)["default"] = 7 }, nil,
			"lacks the schema's default 7"},
		{"new enum value", func() {
			props("Service")["kind"].(map[string]any)["anyOf"] = []any{map[string]any{"enum": []any{"http", "echo", "banner", "dns"}}}
		}, nil, "lacks the allowed value `dns`"},
		{"now required", func() {
			d := defs["Instance"].(map[string]any)
			d["required"] = append(d["required"].([]any), "ip")
		}, nil, "Instance.ip: required column"},
		{"undocumented row removed", nil, func(s string) string {
			return strings.Replace(s, "| `managed_by` |", "| `managed` |", 1)
		}, "Rule.managed_by is in the schema but not documented"},
		{"unknown marker", nil, func(s string) string {
			return s + "\n<!-- schema: Nowhere -->\n| field | type | required | default | meaning |\n|---|---|---|---|---|\n| `x` | string | | | x |\n"
		}, "table for Nowhere, which the schema does not have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema = nil // a fresh schema: Unmarshal would merge into the old map
			if err := json.Unmarshal(Schema(), &schema); err != nil {
				t.Fatal(err)
			}
			defs = schema["$defs"].(map[string]any)
			d := string(docs)
			if tt.schema != nil {
				tt.schema()
			}
			if tt.docs != nil {
				d = tt.docs(d)
			}
			changed, err := json.Marshal(schema)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkDocs(changed, []byte(d), t)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentions %q; got %q", tt.want, problems)
			}
		})
	}
}
