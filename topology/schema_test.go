package topology

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

const schemaFile = "../schemas/topology.schema.json"

// TestSchema checks that the committed JSON Schema is the one the Go types
// generate; -update rewrites it.
func TestSchema(t *testing.T) {
	got := Schema()
	if !json.Valid(got) {
		t.Fatal("Schema() is not valid JSON")
	}
	if *update {
		if err := os.MkdirAll("../schemas", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -run Schema -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the Go types; run go test ./topology -run Schema -update", schemaFile)
	}
}

// TestSchemaCoversFields checks that every field name of the contract is in
// the schema, with additionalProperties false on every object.
func TestSchemaCoversFields(t *testing.T) {
	var s struct {
		Properties map[string]any            `json:"properties"`
		Defs       map[string]map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"version", "name", "quotas", "platform", "conntrack", "vpc", "vswitches", "security_groups", "instances", "nat_gateways", "internet", "expect"} {
		if _, ok := s.Properties[name]; !ok {
			t.Errorf("schema lacks top-level %q", name)
		}
	}
	rule := s.Defs["Rule"]["properties"].(map[string]any)
	for _, name := range []string{"direction", "policy", "priority", "protocol", "port_range", "source", "source_group", "destination", "destination_group", "source_port_range", "local_cidr", "nic_type", "description", "managed_by"} {
		if _, ok := rule[name]; !ok {
			t.Errorf("schema Rule lacks %q", name)
		}
	}
	for name, d := range s.Defs {
		if d["additionalProperties"] != false {
			t.Errorf("$defs/%s allows unknown fields", name)
		}
	}
}
