package aws

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// FuzzImportAWS feeds arbitrary bytes to the parser, decoder and
// translation: no panic, no hang, and an error is always a topology.Errors
// with positions.
func FuzzImportAWS(f *testing.F) {
	for _, dir := range []string{"testdata/real", "testdata/errors"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, skip := range []bool{false, true} {
			rep := &report{skip: skip}
			in := &inputs{}
			decode("fuzz.json", data, rep, in)
			frag := newTranslator(rep).translate(in.groups, in.instances, in.subnets, in.vpcs)
			err := rep.err()
			if err == nil {
				if frag == nil {
					t.Fatal("no error and no fragment")
				}
				continue
			}
			list, ok := err.(topology.Errors)
			if !ok || len(list) == 0 {
				t.Fatalf("error is %T, want topology.Errors", err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Column < 1 || e.File != "fuzz.json" {
					t.Fatalf("error without a position: %v", e)
				}
			}
		}
	})
}
