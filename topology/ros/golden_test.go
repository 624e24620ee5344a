package ros

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite golden files")

// render is the golden text of an import: the fragment as JSON, then the
// skipped items, or every error one per line.
func render(t *testing.T, frag *topology.Fragment, err error) string {
	t.Helper()
	if err != nil {
		var list topology.Errors
		if !errors.As(err, &list) {
			return "error: " + err.Error() + "\n"
		}
		return list.Error() + "\n"
	}
	skipped := frag.Skipped
	frag.Skipped = nil
	out, jerr := json.MarshalIndent(frag, "", "  ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	var b strings.Builder
	b.Write(out)
	b.WriteString("\n")
	for _, s := range skipped {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestRealTemplates imports public templates of aliyun/ros-templates
// (testdata/real/README.md) and compares the fragment, or the errors, with
// golden files.
func TestRealTemplates(t *testing.T) {
	cases := []struct {
		name, file string
		params     map[string]string
		skip       bool
	}{
		{name: "ecs-vpc-instance", file: "ecs-vpc-instance.yml"},
		{name: "forward-entry", file: "forward-entry.yml"},
		{name: "vpc-natgateway-eip", file: "vpc-natgateway-eip.yml"},
		{name: "security-group-case3", file: "security-group-case3.yml"},
		// Needs ECSMaxAmount, and uses internet NIC rules and an Any
		// forward entry: errors without --param and --skip-unsupported.
		{name: "vpc-nat-gateway.errors", file: "vpc-nat-gateway.yml"},
		{name: "vpc-nat-gateway", file: "vpc-nat-gateway.yml", params: map[string]string{"ECSMaxAmount": "2"}, skip: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "real", tc.file)
			frag, err := Import([]string{path}, topology.ImportOptions{Vars: tc.params, SkipUnsupported: tc.skip})
			golden(t, filepath.Join("testdata", "real", tc.name+".golden"), render(t, frag, err))
		})
	}
}
