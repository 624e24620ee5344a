package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzMarshal: any file that loads is written by Marshal to a file that
// loads back to an equal topology, and writing that gives the same bytes.
// Seeded with every file of testdata/ and examples/ and with the writer's
// tricky strings as names and text.
func FuzzMarshal(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/write/*.yaml", "../examples/*.yaml", "../cmd/vpclab/default.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range tricky {
		top := skeleton()
		top.Name = s
		top.SecurityGroups[0].Rules[0].Description = s
		if nameChars.check(s) == "" && s != "default" {
			rename(top, s)
		}
		if out, err := Marshal(top); err == nil {
			f.Add(out)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := Load("fuzz.yaml", data)
		if err != nil {
			return
		}
		roundTrip(t, top)
	})
}
