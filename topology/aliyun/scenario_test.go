package aliyun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/vpclab/vpclab/topology"
)

// TestScenariosValidate checks the scenario files beside the test inputs
// as far as this package can before the loader reads imports: itself: each
// scenario's imports are done here and merged into it the simple way (the
// fragment's VPC when the file has none; its vswitches, groups, instances
// and NAT gateways added), and the result must load without an error. It
// catches a scenario naming a group or instance the import does not
// produce, and a fragment the loader would refuse. The expectations
// run here through the data plane, imported instances answering on the
// ports the scenario uses (standInListeners) as the catch-all listener of
// the imports: merge will.
func TestScenariosValidate(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.scenario.yaml")
	if len(files) == 0 {
		t.Fatal("no scenario")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			imports, _ := doc["imports"].([]any)
			delete(doc, "imports")
			if len(imports) == 0 {
				t.Fatal("the scenario imports nothing")
			}
			importedInstances := 0
			for _, imp := range imports {
				m := imp.(map[string]any)
				if m["format"] != "aliyun" {
					t.Fatalf("format %v", m["format"])
				}
				fr, err := Import([]string{filepath.Join(filepath.Dir(f), m["path"].(string))}, topology.ImportOptions{})
				if err != nil {
					t.Fatal(err)
				}
				merge(t, doc, fr)
				importedInstances += len(fr.Instances)
			}
			merged, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			topo, err := topology.Load(f, merged)
			if err != nil {
				t.Fatalf("the merged scenario does not load:\n%v\n%s", err, merged)
			}
			if importedInstances > 0 {
				standInListeners(topo)
			}
			// The expectations run through the data plane as vpclab test runs
			// them.
			lab, err := topology.Build(topo)
			if err != nil {
				t.Fatal(err)
			}
			defer lab.Close()
			for _, r := range lab.Run(context.Background(), topology.RunOptions{}) {
				if !r.Pass {
					t.Errorf("%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
				}
			}
		})
	}
}

// standInListeners gives every instance without services an echo service
// on each port the expectations and DNAT entries use, standing in for the
// catch-all listener the imports: merge gives imported instances, so that
// allow and block are decided by the imported groups here too.
func standInListeners(topo *topology.Topology) {
	type key struct {
		proto string
		port  int
	}
	var ports []key
	seen := map[key]bool{}
	want := func(proto string, port int) {
		if k := (key{proto, port}); proto != "icmp" && port > 0 && !seen[k] {
			seen[k] = true
			ports = append(ports, k)
		}
	}
	for _, e := range topo.Expect {
		want(e.Protocol, e.Port)
	}
	for _, n := range topo.NATGateways {
		for _, d := range n.DNAT {
			want(d.Protocol, d.Port)
		}
	}
	for i := range topo.Instances {
		in := &topo.Instances[i]
		if len(in.Services) > 0 {
			continue
		}
		for _, k := range ports {
			in.Services = append(in.Services, topology.Service{Kind: "echo", Port: k.port, Protocol: k.proto})
		}
	}
}

// merge adds a fragment to a topology document, each entity as its YAML.
func merge(t *testing.T, doc map[string]any, fr *topology.Fragment) {
	t.Helper()
	asYAML := func(v any) any {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		if err := yaml.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return pruneYAML(out)
	}
	if _, ok := doc["vpc"]; !ok && fr.VPC.CIDR.IsValid() {
		doc["vpc"] = asYAML(fr.VPC)
	}
	add := func(key string, items any) {
		list, _ := doc[key].([]any)
		if l, ok := asYAML(items).([]any); ok {
			list = append(list, l...)
		}
		if len(list) > 0 {
			doc[key] = list
		}
	}
	add("vswitches", fr.VSwitches)
	add("security_groups", fr.SecurityGroups)
	add("instances", fr.Instances)
	add("nat_gateways", fr.NATGateways)
}

// pruneYAML drops empty values, as an import leaves the zero value for
// "not set" (ip: "" would be an invalid address).
func pruneYAML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e = pruneYAML(e); e == nil {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		if len(v) == 0 {
			return nil
		}
	case []any:
		if len(v) == 0 {
			return nil
		}
		for i := range v {
			v[i] = pruneYAML(v[i])
		}
	case string:
		if strings.TrimSpace(v) == "" {
			return nil
		}
	case uint64, int64, int:
		if v == 0 {
			return nil
		}
	}
	return v
}
