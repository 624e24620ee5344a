package aliyun

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// FuzzImportAliyun feeds arbitrary bytes to the importer, seeded with the
// real and test files: it must return a fragment or topology.Errors, never
// panic or hang, and every error must carry a position.
func FuzzImportAliyun(f *testing.F) {
	for _, glob := range []string{"testdata/real/*.json", "testdata/fragments/*.json", "testdata/fragments/dir/*.json", "testdata/errors/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, skip bool) {
		fr, err := importData("fuzz.json", data, topology.ImportOptions{SkipUnsupported: skip})
		if err != nil {
			errs, ok := err.(topology.Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error %T %v, want topology.Errors", err, err)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Column < 1 || e.File != "fuzz.json" {
					t.Fatalf("error without a position: %+v", e)
				}
			}
			return
		}
		if fr == nil {
			t.Fatal("nil fragment without an error")
		}
	})
}
