package ros

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/vpclab/vpclab/topology"
)

// TestFragments imports each template of testdata/fragments (valid ones)
// and testdata/errors (each a golden list of errors with file:line:col).
func TestFragments(t *testing.T) {
	params := map[string]map[string]string{
		"params-given.yaml":   {"Env": "dev", "AdminCidr": "192.0.2.0/24"},
		"allowed-values.yaml": {"Env": "staging"},
		"unknown-param.yaml":  {"Evn": "prod"},
	}
	for _, dir := range []string{"fragments", "errors"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".golden") {
				continue
			}
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				frag, err := Import([]string{f}, topology.ImportOptions{Vars: params[filepath.Base(f)],
					SkipUnsupported: strings.Contains(f, "skip")})
				if dir == "errors" && err == nil {
					t.Errorf("imported without error")
				}
				if dir == "fragments" && err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				golden(t, strings.TrimSuffix(f, filepath.Ext(f))+".golden", render(t, frag, err))
			})
		}
	}
}

// TestShortTagsKept is the case the issue names: a plain unmarshal into any
// reads "!Ref Vpc" as the string "Vpc"; the import must see the reference.
func TestShortTagsKept(t *testing.T) {
	src := "VpcId: !Ref Vpc\nCidr: !GetAtt Vpc.CidrBlock\n"
	var plain map[string]any
	if err := yaml.Unmarshal([]byte(src), &plain); err != nil {
		t.Fatal(err)
	}
	if plain["VpcId"] != "Vpc" {
		t.Fatalf("plain unmarshal gave %#v; the test assumes it drops the tag", plain["VpcId"])
	}
	errs := &errList{file: "x"}
	root := parseTemplate("x", []byte(src), errs)
	if len(errs.errs) > 0 {
		t.Fatal(errs.errs)
	}
	if ref := root.get("VpcId").get("Ref"); ref == nil || ref.s != "Vpc" {
		t.Errorf("!Ref Vpc read as %#v, want {Ref: Vpc}", root.get("VpcId"))
	}
	ga := root.get("Cidr").get("Fn::GetAtt")
	if ga == nil || ga.kind != kList || len(ga.list) != 2 || ga.list[0].s != "Vpc" || ga.list[1].s != "CidrBlock" {
		t.Errorf("!GetAtt Vpc.CidrBlock read as %#v, want {Fn::GetAtt: [Vpc, CidrBlock]}", root.get("Cidr"))
	}

	// The whole template: short tags in YAML and the long forms in JSON
	// import to the same fragment.
	short := filepath.Join("testdata", "fragments", "shorttags.yaml")
	a, err := Import([]string{short}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(short)
	errs = &errList{file: short}
	var long strings.Builder
	writeJSON(&long, parseTemplate(short, data, errs), "")
	jf := filepath.Join(t.TempDir(), "long.json")
	if err := os.WriteFile(jf, []byte(long.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Import([]string{jf}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if x, y := stripOrigins(a), stripOrigins(b); !reflect.DeepEqual(x, y) {
		t.Errorf("short tags and long forms differ:\n%s\n%s", render(t, x, nil), render(t, y, nil))
	}
}

// writeJSON writes a node tree back as JSON (the long forms), keys in
// file order.
func writeJSON(b *strings.Builder, n *node, indent string) {
	switch n.kind {
	case kString:
		q, _ := json.Marshal(n.s)
		b.Write(q)
	case kList:
		b.WriteString("[")
		for i, e := range n.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSON(b, e, indent)
		}
		b.WriteString("]")
	case kMap:
		b.WriteString("{\n")
		for i, k := range n.keys {
			q, _ := json.Marshal(k)
			b.WriteString(indent + "  ")
			b.Write(q)
			b.WriteString(": ")
			writeJSON(b, n.vals[i], indent+"  ")
			if i < len(n.keys)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	default:
		b.WriteString("null")
	}
}

// stripOrigins clears every origin (positions differ between two files).
func stripOrigins(f *topology.Fragment) *topology.Fragment {
	c := *f
	c.VPC.Origin = topology.Origin{}
	c.VSwitches = slices.Clone(f.VSwitches)
	for i := range c.VSwitches {
		c.VSwitches[i].Origin = topology.Origin{}
	}
	c.SecurityGroups = slices.Clone(f.SecurityGroups)
	for i := range c.SecurityGroups {
		g := &c.SecurityGroups[i]
		g.Origin = topology.Origin{}
		g.Rules = slices.Clone(g.Rules)
		for j := range g.Rules {
			g.Rules[j].Origin = topology.Origin{}
		}
	}
	c.Instances = slices.Clone(f.Instances)
	for i := range c.Instances {
		c.Instances[i].Origin = topology.Origin{}
	}
	c.NATGateways = slices.Clone(f.NATGateways)
	for i := range c.NATGateways {
		g := &c.NATGateways[i]
		g.Origin = topology.Origin{}
		g.DNAT = slices.Clone(g.DNAT)
		for j := range g.DNAT {
			g.DNAT[j].Origin = topology.Origin{}
		}
	}
	return &c
}
