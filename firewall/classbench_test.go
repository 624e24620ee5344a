package firewall

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// classbenchSets are the full ClassBench rule files of shared/data/classbench,
// which the repository does not hold; testdata/classbench holds the first
// 500 rules of fw1 for the tests that must always run.
var classbenchSets = []struct{ name, file string }{
	{"acl1", "jiachang_acl1_1k"},
	{"fw1", "neurocuts_fw1_1k"},
	{"ipc1", "neurocuts_ipc1_1k"},
}

const acl1Trace = "jiachang_acl1_1k_trace"

// classbenchDir returns the directory of the full ClassBench sets:
// $VPCLAB_CLASSBENCH, else the first shared/data/classbench found walking up
// from the working directory (firewall.FindClassBenchDir). When there is
// none it skips the test and says so once where a plain `go test ./...`
// shows it (noteVisibly); it fails the test when VPCLAB_CLASSBENCH names no
// directory.
func classbenchDir(t testing.TB) string {
	t.Helper()
	d, err := FindClassBenchDir()
	if err != nil {
		if os.Getenv("VPCLAB_CLASSBENCH") != "" {
			t.Fatal(err)
		}
		skipNote.Do(func() {
			noteVisibly(fmt.Sprintf("firewall: the tests on the full ClassBench sets are skipped (%v); "+
				"the 500-rule fixture in testdata/classbench ran", err))
		})
		t.Skip(err)
	}
	return d
}

var skipNote sync.Once

// noteVisibly writes one line to stderr, and also to the terminal when go
// test would swallow stderr: in package-list mode (go test ./firewall/)
// without -v, the go command buffers a passing test binary's output and
// prints only "ok". Where there is no terminal (CI) the line is in the -v
// and failure output only.
func noteVisibly(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	if testing.Verbose() {
		return
	}
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return // stderr is the terminal already (go test in the package's directory)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	fmt.Fprintln(tty, msg)
	tty.Close()
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
