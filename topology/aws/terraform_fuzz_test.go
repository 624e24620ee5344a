package aws

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// FuzzImportAWSTerraform feeds arbitrary text to the Terraform half of the
// import as a .tf file, a .tf.json file or `terraform show -json` output
// (the first byte picks which): no panic, no hang, and an error is always a
// topology.Errors with positions in the file.
func FuzzImportAWSTerraform(f *testing.F) {
	for _, pat := range []string{"testdata/terraform/*/*.tf", "testdata/terraform/*/*/*.tf",
		"testdata/terraform/*/*.tf.json", "testdata/terraform/*/*.json"} {
		files, _ := filepath.Glob(pat)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			kind := byte(0)
			switch {
			case strings.HasSuffix(file, ".tf.json"):
				kind = 1
			case strings.HasSuffix(file, ".json"):
				kind = 2
			}
			f.Add(append([]byte{kind}, data...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		dir := t.TempDir()
		name := []string{"main.tf", "main.tf.json", "show.json"}[int(data[0])%3]
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, data[1:], 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			frag, err := Import([]string{file}, topology.ImportOptions{SkipUnsupported: skip})
			if err == nil {
				if frag == nil {
					t.Fatal("no error and no fragment")
				}
				continue
			}
			list, ok := err.(topology.Errors)
			if !ok || len(list) == 0 {
				t.Fatalf("error is %T, want topology.Errors: %v", err, err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Column < 1 || e.File == "" {
					t.Fatalf("error without a position: %v", e)
				}
			}
		}
	})
}
