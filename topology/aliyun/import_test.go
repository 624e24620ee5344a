package aliyun

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// render is what a golden file holds: the fragment as indented JSON, or the
// errors one per line.
func render(t *testing.T, fr *topology.Fragment, err error) string {
	t.Helper()
	if err != nil {
		if _, ok := err.(topology.Errors); !ok {
			t.Fatalf("error of type %T, want topology.Errors: %v", err, err)
		}
		return "errors:\n" + err.Error() + "\n"
	}
	b, jerr := json.Marshal(fr)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var v any
	if jerr := json.Unmarshal(b, &v); jerr != nil {
		t.Fatal(jerr)
	}
	b, jerr = json.MarshalIndent(prune(v), "", "  ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	return string(b) + "\n"
}

// prune drops empty strings, nulls, empty lists and empty objects, so a
// golden file shows what the import set.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = prune(e)
			if e == nil {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		if len(v) == 0 {
			return nil
		}
	case []any:
		for i := range v {
			v[i] = prune(v[i])
		}
		if len(v) == 0 {
			return nil
		}
	case string:
		if v == "" {
			return nil
		}
	case bool:
		if !v {
			return nil
		}
	}
	return v
}

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
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenDir imports each .json file of dir on its own and compares the
// result with <name>.golden beside it.
func goldenDir(t *testing.T, dir string, opts topology.ImportOptions, wantErr func(name string) bool) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no input in %s: %v", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fr, err := Import([]string{f}, opts)
			if wantErr != nil && wantErr(filepath.Base(f)) != (err != nil) {
				t.Errorf("error = %v, want an error: %v", err, wantErr(filepath.Base(f)))
			}
			golden(t, strings.TrimSuffix(f, ".json")+".golden", render(t, fr, err))
		})
	}
}

// TestRealFiles imports the public samples of testdata/real (see the
// README there): the API documentation's response examples and a CLI
// output. The documentation masks most addresses (172.17.**.**), which
// must be refused with the place and the reason.
func TestRealFiles(t *testing.T) {
	masked := map[string]bool{
		"ecs-docs-describe-instances.json":             true,
		"nat-docs-describe-nat-gateways.json":          true,
		"nat-docs-describe-snat-table-entries.json":    true,
		"nat-docs-describe-forward-table-entries.json": true,
		// Two VPCs and nothing to say which one is meant.
		"vpc-docs-describe-vpcs.json": true,
		// Not JSON: a comma is missing in the published example.
		"ecs-docs-describe-security-group-attribute-2019.json": true,
	}
	goldenDir(t, "testdata/real", topology.ImportOptions{}, func(name string) bool { return masked[name] })
}

// TestFragments covers the shapes and mappings one at a time.
func TestFragments(t *testing.T) {
	goldenDir(t, "testdata/fragments", topology.ImportOptions{}, func(string) bool { return false })
}

// TestErrors: every error path, with file:line:col, path and entity.
func TestErrors(t *testing.T) {
	goldenDir(t, "testdata/errors", topology.ImportOptions{}, func(string) bool { return true })
}

// TestSkipUnsupported: with SkipUnsupported the unsupported items of
// testdata/unsupported.json are listed in Skipped and the rest imported.
func TestSkipUnsupported(t *testing.T) {
	in := "testdata/errors/unsupported.json"
	fr, err := Import([]string{in}, topology.ImportOptions{SkipUnsupported: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range fr.Skipped {
		b.WriteString(s.String() + "\n")
	}
	fr.Skipped = nil
	golden(t, "testdata/unsupported-skipped.golden", b.String()+render(t, fr, nil))
}

// TestDirectory reads every .json of a directory, in name order, and
// resolves references across files.
func TestDirectory(t *testing.T) {
	fr, err := Import([]string{"testdata/fragments/dir"}, topology.ImportOptions{})
	golden(t, "testdata/fragments/dir.golden", render(t, fr, err))
}

func TestNoInput(t *testing.T) {
	for _, paths := range [][]string{nil, {"testdata/does-not-exist.json"}, {t.TempDir()}} {
		if _, err := Import(paths, topology.ImportOptions{}); err == nil {
			t.Errorf("Import(%q) = nil error", paths)
		}
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := topology.LookupImporter("aliyun"); !ok {
		t.Fatal("aliyun is not registered")
	}
}

// TestSameInputTwice: a file given twice (or a page exported twice) imports
// each resource and rule once.
func TestSameInputTwice(t *testing.T) {
	once, err := Import([]string{"testdata/fragments/dir"}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := Import([]string{"testdata/fragments/dir", "testdata/fragments/dir"}, topology.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(twice.Instances) != len(once.Instances) || len(twice.NATGateways) != len(once.NATGateways) ||
		len(twice.SecurityGroups) != len(once.SecurityGroups) || len(twice.VSwitches) != len(once.VSwitches) {
		t.Fatalf("twice: %d instances, %d NAT gateways, %d groups, %d vswitches; once: %d, %d, %d, %d",
			len(twice.Instances), len(twice.NATGateways), len(twice.SecurityGroups), len(twice.VSwitches),
			len(once.Instances), len(once.NATGateways), len(once.SecurityGroups), len(once.VSwitches))
	}
	for i := range once.SecurityGroups {
		if a, b := len(once.SecurityGroups[i].Rules), len(twice.SecurityGroups[i].Rules); a != b {
			t.Errorf("group %s: %d rules once, %d twice", once.SecurityGroups[i].Name, a, b)
		}
	}
	if len(twice.NATGateways[0].DNAT) != len(once.NATGateways[0].DNAT) {
		t.Errorf("DNAT entries: %d once, %d twice", len(once.NATGateways[0].DNAT), len(twice.NATGateways[0].DNAT))
	}
}
