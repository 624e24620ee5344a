package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGraphCmd(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"graph", "../../examples/three-tier.yaml"},
			[]string{"flowchart LR", `subgraph vs_web["vswitch web 10.0.1.0/24"]`, `sg_sg_app -->|"tcp 5432"| sg_sg_db`, "linkStyle"}},
		{[]string{"graph", "../../examples/three-tier.yaml", "--format", "dot"},
			[]string{"digraph", "subgraph cluster_vs_db", `sg_sg_app -> sg_sg_db [label="tcp 5432"`, "style=dashed, color=red"}},
	} {
		stdout, stderr, code, _ := runVPCLab(t, tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, stdout)
			}
		}
	}

	stdout, _, code, _ := runVPCLab(t, "graph", "../../examples/three-tier.yaml", "-o", "json")
	var rep graphReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Format != "mermaid" || !strings.HasPrefix(rep.Graph, "---") {
		t.Errorf("-o json: exit %d, %s", code, stdout)
	}
}

func TestGraphCmdErrors(t *testing.T) {
	for _, args := range [][]string{
		{"graph"},
		{"graph", "no/such.yaml"},
		{"graph", writeTopology(t, "version: 2\n")},
		{"graph", "../../examples/three-tier.yaml", "--format", "svg"},
		{"graph", "../../examples/three-tier.yaml", "-o", "xml"},
	} {
		if _, _, code, err := runVPCLab(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}
