package fix

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func loadFile(t testing.TB, path string) ([]byte, *topology.Topology) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Load(path, data)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return data, topo
}

func TestFixCommented(t *testing.T) {
	data, topo := loadFile(t, "testdata/commented.yaml")
	out, rep, err := Fix(data, topo, []Removal{{"sg-web", 4}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "commented.fixed.yaml", out)
	var b strings.Builder
	WriteReport(&b, rep)
	golden(t, "commented.report.txt", []byte(b.String()))
	nt, err := topology.Load("testdata/commented.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	sameVerdicts(t, topo, nt, 1000)
}
