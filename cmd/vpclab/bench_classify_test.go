package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// classbenchFiles returns the ClassBench rule files and trace to run the
// command on: the full sets when firewall.FindClassBenchDir finds them
// ($VPCLAB_CLASSBENCH, else shared/data/classbench in a parent directory),
// else the 500-rule fixture every clone holds (firewall/testdata/classbench).
// It fails the test when VPCLAB_CLASSBENCH names no directory.
func classbenchFiles(t *testing.T) (rules []string, trace string) {
	t.Helper()
	d, err := firewall.FindClassBenchDir()
	if err != nil {
		if os.Getenv("VPCLAB_CLASSBENCH") != "" {
			t.Fatal(err)
		}
		t.Logf("%v: using the fixture in firewall/testdata/classbench", err)
		fix := filepath.Join("..", "..", "firewall", "testdata", "classbench")
		return []string{filepath.Join(fix, "fw1_500.rules")}, filepath.Join(fix, "fw1_500.trace")
	}
	for _, f := range []string{"jiachang_acl1_1k", "neurocuts_fw1_1k", "neurocuts_ipc1_1k"} {
		rules = append(rules, filepath.Join(d, f))
	}
	return rules, filepath.Join(d, "jiachang_acl1_1k_trace")
}

// runVPCLab executes the root command in-process and returns its stdout,
// stderr and the exit status main would use.
func runVPCLab(t *testing.T, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	old := benchMinTime
	benchMinTime = time.Millisecond
	defer func() { benchMinTime = old }()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.Execute()
	code = 0
	if err != nil {
		code = 2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), errb.String(), code, err
}

func decodeReport(t *testing.T, stdout string) classifyReport {
	t.Helper()
	var rep classifyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, stdout)
	}
	return rep
}

func TestBenchClassifyClassBench(t *testing.T) {
	files, trace := classbenchFiles(t)
	for _, rules := range files {
		t.Run(filepath.Base(rules), func(t *testing.T) {
			for _, tc := range []struct {
				name           string
				args           []string
				rules, headers int // want; 0 rules: the whole file
				source         string
			}{
				{"random", []string{"--limit", "250", "--count", "3000"}, 250, 3000, "random"},
				{"trace", []string{"--trace", trace}, 0, 0, trace},
				{"trace count", []string{"--trace", trace, "--count", "500", "--limit", "100"}, 100, 500, trace},
			} {
				t.Run(tc.name, func(t *testing.T) {
					args := append([]string{"bench", "classify", "--rules", rules, "-o", "json"}, tc.args...)
					stdout, stderr, code, err := runVPCLab(t, args...)
					if code != 0 {
						t.Fatalf("exit %d: %v\n%s", code, err, stderr)
					}
					rep := decodeReport(t, stdout)
					if rep.Mismatches != 0 {
						t.Errorf("mismatches = %d, want 0", rep.Mismatches)
					}
					if tc.rules != 0 && rep.Rules != tc.rules {
						t.Errorf("rules = %d, want %d", rep.Rules, tc.rules)
					}
					if tc.rules == 0 && rep.Rules < 500 {
						t.Errorf("rules = %d, want the whole file", rep.Rules)
					}
					if tc.headers != 0 && rep.Headers != tc.headers {
						t.Errorf("headers = %d, want %d", rep.Headers, tc.headers)
					}
					if tc.headers == 0 && rep.Headers < 10000 {
						t.Errorf("headers = %d, want the whole trace", rep.Headers)
					}
					if rep.HeaderSource != tc.source || rep.RulesFile != rules {
						t.Errorf("sources = %q, %q; want %q, %q", rep.RulesFile, rep.HeaderSource, rules, tc.source)
					}
					if rep.CompiledNsPerHeader <= 0 || rep.LinearNsPerHeader <= 0 || rep.Speedup <= 0 ||
						rep.MatcherBytes <= 0 || rep.CompileNs <= 0 {
						t.Errorf("missing measurements: %+v", rep)
					}
				})
			}
		})
	}
}

// tinyRules are three rules over 10.0.0.0/8; the trace's headers match
// rule 0, rule 2 and none.
const (
	tinyRules = `@10.0.0.0/8	10.1.0.0/16	0 : 65535	22 : 22	0x06/0xFF	0x0000/0x0000
@10.0.0.0/8	10.1.0.0/16	0 : 65535	80 : 80	0x06/0xFF
@0.0.0.0/0	0.0.0.0/0	0 : 65535	0 : 65535	0x11/0xFF	0x0000/0x0000
`
	tinyTrace = `167772161 167837697 1234 22 6 0 0
167772161 167837697 53 53 17 0 2
3232235521 167837697 1234 22 6 0 -1
`
)

func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBenchClassifyTiny(t *testing.T) {
	rules := writeTemp(t, "rules", tinyRules)
	trace := writeTemp(t, "trace", tinyTrace)

	stdout, stderr, code, err := runVPCLab(t, "bench", "classify", "--rules", rules, "--trace", trace, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	rep := decodeReport(t, stdout)
	if rep.Rules != 3 || rep.Headers != 3 || rep.Mismatches != 0 {
		t.Errorf("report %+v: want 3 rules, 3 headers, no mismatches", rep)
	}

	stdout, stderr, code, err = runVPCLab(t, "bench", "classify", "--rules", rules, "--count", "100")
	if code != 0 {
		t.Fatalf("table: exit %d: %v\n%s", code, err, stderr)
	}
	for _, want := range []string{"rules", "headers", "100", "random", "mismatches", "compile", "matcher bytes",
		"compiled", "linear", "ns/header", "speedup"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr not empty:\n%s", stderr)
	}

	// No rules at all is valid: nothing matches.
	empty := writeTemp(t, "empty", "\n")
	stdout, stderr, code, err = runVPCLab(t, "bench", "classify", "--rules", empty, "--count", "10", "-o", "json")
	if code != 0 {
		t.Fatalf("empty rules: exit %d: %v\n%s", code, err, stderr)
	}
	if rep := decodeReport(t, stdout); rep.Rules != 0 || rep.Headers != 10 {
		t.Errorf("empty rules: report %+v, want 0 rules and 10 headers", rep)
	}
}

func TestBenchClassifyErrors(t *testing.T) {
	dir := t.TempDir()
	rules := writeTemp(t, "rules", tinyRules)
	trace := writeTemp(t, "trace", tinyTrace)
	badRules := writeTemp(t, "bad-rules", tinyRules+"@10.0.0.0/33 0.0.0.0/0 0 : 65535 0 : 65535 0x06/0xFF\n")
	badTrace := writeTemp(t, "bad-trace", "1 2 3 4\n")
	emptyTrace := writeTemp(t, "empty-trace", "")
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		args []string
		want []string // in the error
	}{
		{"trace without rules", []string{"--trace", trace}, []string{"--trace", "needs --rules"}},
		{"limit without rules", []string{"--limit", "5"}, []string{"--limit", "needs --rules"}},
		{"quick with rules", []string{"--rules", rules, "--quick"}, []string{"--quick", "--rules"}},
		{"report with rules", []string{"--rules", rules, "--report", dir}, []string{"--report", "--rules"}},
		{"missing rules", []string{"--rules", missing}, []string{"--rules", missing, "no such file"}},
		{"rules is a directory", []string{"--rules", dir}, []string{"--rules", dir}},
		{"bad rules", []string{"--rules", badRules}, []string{"--rules", badRules, "line 4", "source"}},
		{"missing trace", []string{"--rules", rules, "--trace", missing}, []string{"--trace", missing, "no such file"}},
		{"bad trace", []string{"--rules", rules, "--trace", badTrace}, []string{"--trace", badTrace, "line 1"}},
		{"empty trace", []string{"--rules", rules, "--trace", emptyTrace}, []string{"--trace", emptyTrace, "no headers"}},
		{"bad output", []string{"--rules", rules, "-o", "yaml"}, []string{"yaml", "table", "json"}},
		{"negative limit", []string{"--rules", rules, "--limit", "-1"}, []string{"--limit"}},
		{"negative count", []string{"--rules", rules, "--trace", trace, "--count", "-5"}, []string{"--count"}},
		{"bad limit", []string{"--rules", rules, "--limit", "many"}, []string{"--limit", "many"}},
		{"unknown flag", []string{"--rules", rules, "--fast"}, []string{"--fast"}},
		{"argument", []string{"--rules", rules, "extra"}, []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, code, err := runVPCLab(t, append([]string{"bench", "classify"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit %d (%v), want 2", code, err)
			}
			if err == nil {
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout not empty on error:\n%s", stdout)
			}
		})
	}
}
