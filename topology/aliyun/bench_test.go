package aliyun

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// BenchmarkImportRules5000 imports one DescribeSecurityGroupAttribute dump
// of 5,000 ClassBench rules (the target: ≤ 2 s), from the file, as
// the CLI would.
func BenchmarkImportRules5000(b *testing.B) { benchImport(b, false) }

// BenchmarkImportRules5000Compact is the same dump on one line (the CLI's
// output through jq -c): positions must stay linear in the file size.
func BenchmarkImportRules5000Compact(b *testing.B) { benchImport(b, true) }

func benchImport(b *testing.B, compact bool) {
	rng := rand.New(rand.NewPCG(5000, 1))
	groups := randomGroups(rng, classBenchRules(b), 1, 5000)
	for i := range groups[0].Rules {
		groups[0].Rules[i].Description = "règle " + groups[0].Rules[i].Description // not ASCII: columns count characters
	}
	name := filepath.Join(b.TempDir(), "dump.json")
	data := writeAPI(rng, groups, false)
	if compact {
		var buf bytes.Buffer
		dec := json.NewDecoder(bytes.NewReader(data))
		for dec.More() {
			var doc json.RawMessage
			if err := dec.Decode(&doc); err != nil {
				b.Fatal(err)
			}
			if err := json.Compact(&buf, doc); err != nil {
				b.Fatal(err)
			}
		}
		data = buf.Bytes()
	}
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
