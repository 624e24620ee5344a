package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestMatrixThreeTier(t *testing.T) {
	stdout, stderr, code, _ := runVPCLab(t, "matrix", "../../examples/three-tier.yaml", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep matrixReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !slices.Equal(rep.Ports, []int{22, 80, 443, 5432, 8080}) {
		t.Errorf("default ports = %v, want the service ports 22,80,443,5432,8080", rep.Ports)
	}
	// 6 sources × 3 instances, less the 3 self pairs, × 5 ports.
	if len(rep.Cells) != (6*3-3)*5 {
		t.Fatalf("%d cells, want %d", len(rep.Cells), (6*3-3)*5)
	}
	want := map[string]string{ // from>to/port → result
		"web-1>app-1/8080":    "allow",
		"app-1>db-1/5432":     "allow",
		"web-1>db-1/5432":     "block",
		"customer>web-1/80":   "allow",
		"customer>app-1/8080": "block", // no EIP: no route
		"app-1>web-1/22":      "block",
	}
	for _, c := range rep.Cells {
		if w, ok := want[fmt.Sprintf("%s>%s/%d", c.From, c.To, c.Port)]; ok && c.Result != w {
			t.Errorf("%s → %s:%d = %s (%s), want %s", c.From, c.To, c.Port, c.Result, c.Detail, w)
		}
		if c.Result == "error" {
			t.Errorf("%s → %s:%d could not run: %s", c.From, c.To, c.Port, c.Detail)
		}
	}
}

func TestMatrixTable(t *testing.T) {
	file := writeTopology(t, `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: a, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg
    inner_access: drop
    rules: [{direction: ingress, protocol: tcp, port_range: 1/1000, source: 10.0.0.0/16}]
instances:
  - {name: x, vswitch: a, security_groups: [sg], services: [{kind: echo, port: 7}]}
  - {name: y, vswitch: a, security_groups: [sg]}
`)
	stdout, stderr, code, _ := runVPCLab(t, "matrix", file, "--ports", "7,2000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// x has echo on 7, y nothing: y → x:7 allow, x → y:7 refuse; 2000 is
	// outside the rule: block both ways.
	for _, want := range []string{"tcp/7  x  y\nx      -  R\ny      A  -\n", "tcp/2000  x  y\nx         -  B\ny         B  -\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks\n%s\ngot:\n%s", want, stdout)
		}
	}
}

func TestMatrixErrors(t *testing.T) {
	for _, args := range [][]string{
		{"matrix"},
		{"matrix", "no/such.yaml"},
		{"matrix", writeTopology(t, "version: 1\nvpc: {cidr: 8.8.0.0/16}\n")},
		{"matrix", "../../examples/three-tier.yaml", "--ports", "80,x"},
		{"matrix", "../../examples/three-tier.yaml", "--ports", "70000"},
		{"matrix", "../../examples/three-tier.yaml", "--protocol", "sctp"},
		{"matrix", "../../examples/three-tier.yaml", "--protocol", "udp"}, // no udp services
		{"matrix", "../../examples/three-tier.yaml", "-o", "csv"},
	} {
		if _, _, code, err := runVPCLab(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}
