package firewall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// classbenchSets are the ClassBench rule files under shared/data/classbench.
var classbenchSets = []struct{ name, file string }{
	{"acl1", "jiachang_acl1_1k"},
	{"fw1", "neurocuts_fw1_1k"},
	{"ipc1", "neurocuts_ipc1_1k"},
}

const acl1Trace = "jiachang_acl1_1k_trace"

// classbenchDir returns the directory of the ClassBench data: $VPCLAB_CLASSBENCH,
// else the first shared/data/classbench found walking up from the working
// directory (firewall.FindClassBenchDir). It skips the test when there is
// none, and fails it when VPCLAB_CLASSBENCH names no directory.
func classbenchDir(t testing.TB) string {
	t.Helper()
	d, err := FindClassBenchDir()
	if err != nil {
		if os.Getenv("VPCLAB_CLASSBENCH") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return d
}

func loadClassBenchRules(t testing.TB, dir, file string) []MatchRule {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := ParseClassBenchRules(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return rules
}

func loadClassBenchTrace(t testing.TB, dir, file string) []Tuple {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hs, err := ParseClassBenchTrace(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return hs
}

var _ = strings.Fields
