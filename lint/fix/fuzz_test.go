package fix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// FuzzFix: any file that loads and any set of its rules to remove gives a
// file that loads, or a clear refusal; never a panic.
func FuzzFix(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	files = append(files, "testdata/commented.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte{0, 0, 1, 1, 2, 0})
	}
	f.Add([]byte(edgeBase), []byte{0, 0, 1, 0, 0, 2})
	f.Add(generate(1, classBench(f)), []byte{0, 1, 0, 2, 1, 0, 1, 3})
	f.Fuzz(func(t *testing.T, data, sel []byte) {
		topo, err := topology.Load("fuzz.yaml", data)
		if err != nil || len(topo.Imports) > 0 {
			return
		}
		var rm []Removal
		for i := 0; i+1 < len(sel) && len(topo.SecurityGroups) > 0; i += 2 {
			g := &topo.SecurityGroups[int(sel[i])%len(topo.SecurityGroups)]
			if len(g.Rules) == 0 {
				continue
			}
			rm = append(rm, Removal{g.Name, int(sel[i+1]) % len(g.Rules)})
		}
		out, rep, err := Fix(data, topo, rm)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fix: ") {
				t.Fatalf("unclear error: %v", err)
			}
			return
		}
		nt, err := topology.Load("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("Fix returned a file that does not load: %v\n%s", err, out)
		}
		for _, g := range rep.Groups {
			for i := range nt.SecurityGroups {
				if ng := &nt.SecurityGroups[i]; ng.Name == g.Group && len(ng.Rules) != g.After {
					t.Fatalf("group %s: report says %d rules, file has %d", g.Group, g.After, len(ng.Rules))
				}
			}
		}
	})
}
