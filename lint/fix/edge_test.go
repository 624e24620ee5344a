package fix

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
	_ "github.com/vpclab/vpclab/topology/aliyun" // registers imports: format aliyun
)

func TestFixImported(t *testing.T) {
	path := "../../topology/aliyun/testdata/real/ecs-docs-describe-security-group-attribute.scenario.yaml"
	data, topo := loadFile(t, path)
	out, rep, err := Fix(data, topo, []Removal{{"SecurityGroupName-Sample", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("an imported rule was edited in the user's file:\n%s", out)
	}
	if len(rep.Elsewhere) != 1 {
		t.Fatalf("Elsewhere = %+v, want the rule to fix in the JSON", rep.Elsewhere)
	}
	e := rep.Elsewhere[0]
	if !strings.HasSuffix(e.Origin.File, ".json") || e.Origin.Line < 1 || e.Origin.Column < 1 {
		t.Errorf("origin %+v, want file:line:col of the JSON", e.Origin)
	}
	var b strings.Builder
	WriteReport(&b, rep)
	if !strings.Contains(b.String(), e.Origin.File+":") || !strings.Contains(b.String(), "1 more rules saved once the imported files are fixed") {
		t.Errorf("report does not point at the origin:\n%s", b.String())
	}
}

const edgeBase = "\ufeff" + `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.0.0/24}]
security_groups:
  - name: sg-a
    rules:
      - &ssh {direction: ingress, protocol: tcp, port_range: 22/22, source: 10.0.0.0/8}
      - direction: ingress
        protocol: tcp
        port_range: 80/80 # web
        source: 0.0.0.0/0

      # the last rule of sg-a
      - {direction: ingress, protocol: udp, port_range: 53/53, source: 0.0.0.0/0}
  # sg-b reuses sg-a's first rule
  - name: sg-b
    rules: [*ssh, {direction: ingress, protocol: tcp, port_range: 443/443, source: 0.0.0.0/0}]
instances:
  - {name: a, vswitch: vsw, security_groups: [sg-a, sg-b]}
`

func TestFixEdges(t *testing.T) {
	data := []byte(edgeBase)
	topo, err := topology.Load("edge.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		removals []Removal
		wantErr  string // substring of the error
		skipped  string // substring of a Skipped reason
		gone     []string
		kept     []string
	}{
		{name: "unknown group", removals: []Removal{{"sg-x", 0}}, wantErr: `group "sg-x": edge.yaml has no such group`},
		{name: "index out of range", removals: []Removal{{"sg-a", 3}}, wantErr: "the group has 3 rules (0..2)"},
		{name: "negative index", removals: []Removal{{"sg-a", -1}}, wantErr: "the group has 3 rules"},
		{name: "anchored rule an alias uses", removals: []Removal{{"sg-a", 0}}, skipped: "defines anchor &ssh that an alias uses", kept: []string{"&ssh"}},
		{name: "alias in a flow list", removals: []Removal{{"sg-b", 0}}, gone: []string{"[*ssh, "}, kept: []string{"rules: [{direction: ingress, protocol: tcp, port_range: 443/443"}},
		{name: "last of a flow list", removals: []Removal{{"sg-b", 1}}, gone: []string{"443/443"}, kept: []string{"rules: [*ssh]"}},
		{name: "whole flow list", removals: []Removal{{"sg-b", 0}, {"sg-b", 1}}, kept: []string{"rules: []"}},
		{name: "block rule keeps comments around it", removals: []Removal{{"sg-a", 1}}, gone: []string{"80/80", "# web"},
			kept: []string{"\n\n      # the last rule of sg-a\n      - {direction: ingress, protocol: udp"}},
		{name: "last block rule", removals: []Removal{{"sg-a", 2}}, gone: []string{"53/53"},
			kept: []string{"      # the last rule of sg-a\n  # sg-b reuses sg-a's first rule\n  - name: sg-b"}},
		{name: "duplicates in the set", removals: []Removal{{"sg-a", 2}, {"sg-a", 2}}, gone: []string{"53/53"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, rep, err := Fix(data, topo, tc.removals)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte("\ufeff")) {
				t.Error("byte order mark lost")
			}
			s := string(out)
			for _, g := range tc.gone {
				if strings.Contains(s, g) {
					t.Errorf("%q still in\n%s", g, s)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(s, k) {
					t.Errorf("%q not in\n%s", k, s)
				}
			}
			if tc.skipped != "" {
				found := false
				for _, sk := range rep.Skipped {
					found = found || strings.Contains(sk.Reason, tc.skipped)
				}
				if !found {
					t.Errorf("Skipped = %+v, want %q", rep.Skipped, tc.skipped)
				}
			}
			if _, err := topology.Load("edge.yaml", out); err != nil {
				t.Errorf("output does not load: %v\n%s", err, s)
			}
		})
	}
}

func TestFixFlowMappingOverLines(t *testing.T) {
	data := []byte(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.0.0/24}]
security_groups:
  - name: sg-a
    rules:
      - {direction: ingress, protocol: tcp,
  port_range: 22/22, source: 10.0.0.0/8}
      - {direction: ingress, protocol: udp, port_range: 53/53, source: 0.0.0.0/0}
instances:
  - {name: a, vswitch: vsw, security_groups: [sg-a]}
`)
	topo, err := topology.Load("lines.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := Fix(data, topo, []Removal{{"sg-a", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "22/22") || !strings.Contains(string(out), "53/53") {
		t.Errorf("wrong rule removed:\n%s", out)
	}
}
