package topology

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzLoad feeds Load arbitrary bytes, seeded with every file of testdata/
// (the imports: ones too, loaded from testdata/imports so that their
// fragments merge) and examples/: it must never panic, must answer quickly,
// and must return either a topology or a non-empty Errors whose every line
// has a file and a position and carries no control character or invalid
// UTF-8 to a terminal.
// "Quickly" is checked only while fuzzing (go test -fuzz), where an input
// that makes the parser quadratic is what the fuzzer looks for: in a plain
// test run a wall-clock bound only measures how loaded the machine is.
func FuzzLoad(f *testing.F) {
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	for _, pattern := range []string{"testdata/*.yaml", "testdata/imports/*.yaml", "../examples/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(strings.Repeat("[", 1000)))
	f.Add([]byte(strings.Repeat("- ", 1000) + "x"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("version: 99999999999999999999999999\n"))
	f.Add([]byte("\ufeffversion: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: \"w\x1b\", cidr: 10.0.1.0/24}]\n"))
	f.Add([]byte("version: 1\nconntrack: {max_entries: 2, idle_timeout: 1h}\n\xff: \"\a\"\n"))
	f.Add([]byte("version: 1\nimports: [{format: fragment, path: groups.json}, {format: fragment, path: net.json}]\nexpect: [{from: \"web[0]\", to: \"web[1]\", port: 1, result: allow}]\n"))
	f.Add([]byte("version: 1\nimports: [{format: fragment, path: /dev/zero, vars: {a: 1, b: [x]}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		top, err := Load("testdata/imports/fuzz.yaml", data)
		if d := time.Since(start); fuzzing && d > 2*time.Second {
			t.Errorf("Load took %v on %d bytes", d, len(data))
		}
		if err == nil {
			if top == nil {
				t.Fatal("no topology and no error")
			}
			for _, in := range top.Instances {
				if !in.IP.IsValid() {
					t.Fatalf("instance %s has no address", in.Name)
				}
				if msg := nameChars.check(in.Name); msg != "" {
					t.Fatalf("instance name %q loaded: %s", in.Name, msg)
				}
			}
			return
		}
		if top != nil {
			t.Fatal("a topology and errors")
		}
		var list Errors
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T %v is not a non-empty Errors", err, err)
		}
		for _, e := range list {
			if e.Line < 1 || e.Column < 1 || e.File == "" {
				t.Fatalf("error without a position: %v", e)
			}
			for _, r := range e.Error() {
				if r == utf8.RuneError || !unicode.IsGraphic(r) {
					t.Fatalf("error text carries %U: %q", r, e.Error())
				}
			}
		}
	})
}
