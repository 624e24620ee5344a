package topology

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphGolden renders every topology of testdata/graph/*.yaml and
// examples/three-tier.yaml in both formats and compares the output with
// testdata/graph/NAME.FORMAT.golden (rewrite them with -update).
func TestGraphGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/graph/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/graph: %v", err)
	}
	files = append(files, "../examples/three-tier.yaml")
	for _, f := range files {
		top, err := LoadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		for _, format := range []string{GraphMermaid, GraphDot} {
			t.Run(name+"/"+format, func(t *testing.T) {
				got, err := Graph(top, format)
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata/graph", name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./topology -run TestGraphGolden -update)", err)
				}
				if !bytes.Equal([]byte(got), want) {
					t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", f, golden, got, want)
				}
			})
		}
	}
}

func TestGraphUnknownFormat(t *testing.T) {
	top, err := LoadFile("../examples/three-tier.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Graph(top, "svg"); err == nil || !strings.Contains(err.Error(), "mermaid") {
		t.Errorf("Graph(svg) = %v, want an error naming the formats", err)
	}
}
