package terraform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// addSeeds adds every file under testdata with one of exts as a seed.
func addSeeds(f *testing.F, exts ...string) {
	filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) && !strings.HasSuffix(p, ".opts.json") {
				b, err := os.ReadFile(p)
				if err == nil {
					f.Add(b)
				}
			}
		}
		return nil
	})
}

// FuzzImportTerraform imports arbitrary HCL text: no panic, no hang, and
// an error is always topology.Errors with positions.
func FuzzImportTerraform(f *testing.F) {
	addSeeds(f, ".tf", ".tfvars")
	f.Fuzz(func(t *testing.T, src []byte) {
		p := filepath.Join(t.TempDir(), "main.tf")
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		checkImport(t, p)
	})
}

// FuzzImportTerraformJSON imports arbitrary .tf.json and show JSON text.
func FuzzImportTerraformJSON(f *testing.F) {
	addSeeds(f, ".json")
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		for _, name := range []string{"main.tf.json", "show.json"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, src, 0o644); err != nil {
				t.Fatal(err)
			}
			checkImport(t, p)
		}
	})
}

func checkImport(t *testing.T, p string) {
	frag, err := Import([]string{p}, topology.ImportOptions{Vars: map[string]string{}})
	if err != nil {
		errs, ok := err.(topology.Errors)
		if !ok || len(errs) == 0 {
			t.Fatalf("error %T %v is not topology.Errors", err, err)
		}
		for _, e := range errs {
			if e.Line < 1 || e.Column < 1 {
				t.Fatalf("error without a position: %v", e)
			}
		}
		return
	}
	if frag == nil {
		t.Fatal("no fragment and no error")
	}
}
