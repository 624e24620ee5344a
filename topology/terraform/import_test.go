package terraform

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

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenOpts are the options of a golden case, from <case>.opts.json.
type goldenOpts struct {
	Vars            map[string]string
	VarFiles        []string
	Env             map[string]string
	SkipUnsupported bool
}

// importGolden imports path with the options beside it and returns the
// fragment as indented JSON, or the errors one per line.
func importGolden(t *testing.T, path string) string {
	t.Helper()
	var o goldenOpts
	if b, err := os.ReadFile(strings.TrimSuffix(path, ".tf") + ".opts.json"); err == nil {
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
	}
	opts := topology.ImportOptions{Vars: o.Vars, VarFiles: o.VarFiles, SkipUnsupported: o.SkipUnsupported}
	if o.Env != nil {
		opts.Env = func(k string) (string, bool) { v, ok := o.Env[k]; return v, ok }
	}
	frag, err := Import([]string{path}, opts)
	if err != nil {
		var errs topology.Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error is %T, not topology.Errors: %v", err, err)
		}
		return err.Error() + "\n"
	}
	b, err := json.MarshalIndent(frag, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestGolden imports every case under testdata/real (public
// configurations), testdata/fragments (one feature each) and
// testdata/errors (one error path each) and compares the fragment, or the
// errors with their file:line:col, with <case>.golden.
func TestGolden(t *testing.T) {
	for _, dir := range []string{"real", "fragments", "errors"} {
		ents, err := os.ReadDir(filepath.Join("testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() && !strings.HasSuffix(n, ".tf") && !strings.HasSuffix(n, ".tf.json") && !(strings.HasSuffix(n, ".json") && !strings.HasSuffix(n, ".opts.json")) {
				continue
			}
			path := filepath.Join("testdata", dir, n)
			t.Run(dir+"/"+n, func(t *testing.T) {
				got := importGolden(t, path)
				golden := strings.TrimSuffix(strings.TrimSuffix(path, ".tf"), ".json") + ".golden"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("import %s differs from %s:\n--- got\n%s--- want\n%s", path, golden, got, want)
				}
				if dir == "errors" && !strings.Contains(got, ":") {
					t.Errorf("error case %s imported without error", path)
				}
			})
		}
	}
}

// TestPathGivenTwice reads a directory given twice once, as a set of
// paths, instead of reporting every resource as defined twice.
func TestPathGivenTwice(t *testing.T) {
	dir := filepath.Join("testdata", "real", "doc-snat-entry")
	frag, err := Import([]string{dir, dir}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frag.NATGateways) != 1 {
		t.Errorf("%d NAT gateways, want 1", len(frag.NATGateways))
	}
}
