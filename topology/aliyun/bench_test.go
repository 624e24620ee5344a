package aliyun

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// BenchmarkImportRules5000 imports one DescribeSecurityGroupAttribute dump
// of 5,000 ClassBench rules (the target: ≤ 2 s), from the file, as
// the CLI would.
func BenchmarkImportRules5000(b *testing.B) {
	rng := rand.New(rand.NewPCG(5000, 1))
	groups := randomGroups(rng, classBenchRules(b), 1, 5000)
	name := filepath.Join(b.TempDir(), "dump.json")
	data := writeAPI(rng, groups, false)
	if err := os.WriteFile(name, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		fr, err := Import([]string{name}, topology.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(fr.SecurityGroups[0].Rules); n < 4900 { // a few random duplicates merge
			b.Fatalf("%d rules imported", n)
		}
	}
}
