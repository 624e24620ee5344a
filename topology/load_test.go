package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

var update = flag.Bool("update", false, "rewrite golden files and the JSON Schema")

// TestGolden loads every testdata/*.yaml and compares the outcome with the
// .golden beside it: the errors one per line, or for a valid file the loaded
// topology as JSON (defaults filled, addresses assigned).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			got := outcome(t, f)
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./topology -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", f, golden, got, want)
			}
		})
	}
}

func outcome(t *testing.T, file string) []byte {
	t.Helper()
	top, err := LoadFile(file)
	if err != nil {
		var list Errors
		if !errors.As(err, &list) {
			t.Fatalf("error is %T, want Errors: %v", err, err)
		}
		if top != nil {
			t.Errorf("Load returned a topology and errors")
		}
		if strings.HasPrefix(filepath.Base(file), "valid-") {
			t.Errorf("a valid- file failed:\n%v", err)
		}
		return []byte(err.Error() + "\n")
	}
	if !strings.HasPrefix(filepath.Base(file), "valid-") {
		t.Errorf("%s loaded without errors; invalid files must fail", file)
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestExamples loads every example topology of the repository and the
// embedded default of the CLI.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../cmd/vpclab/*.yaml")
	for _, f := range append(files, more...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			top, err := LoadFile(f)
			if err != nil {
				t.Fatalf("%v", err)
			}
			for _, in := range top.Instances {
				if !in.IP.IsValid() {
					t.Errorf("instance %s has no address", in.Name)
				}
			}
		})
	}
}

// TestAllErrorsTogether checks that one file with a problem in every section
// reports all of them, sorted by position, and nothing else.
func TestAllErrorsTogether(t *testing.T) {
	src := `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches:
  - {name: web, cidr: 10.0.1.0/24, colour: red}
security_groups:
  - name: sg
    rules:
      - {direction: ingress, protocol: tcp, port_range: 0/0, source: 0.0.0.0/0}
instances:
  - {name: a, vswitch: nope}
  - {name: b, vswitch: web, ip: 10.0.9.1}
nat_gateways:
  - {name: n, vswitch: web, eip: 10.1.1.1}
expect:
  - {from: a, to: b, result: maybe}
`
	_, err := Load("all.yaml", []byte(src))
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`all.yaml:4:36: vswitches[0] (web): unknown field "colour"`,
		`all.yaml:8:57: security_groups[0] (sg).rules[0].port_range: InvalidPortRange.Malformed: port range "0/0": 0 is not a port`,
		`all.yaml:10:24: instances[0] (a).vswitch: no vswitch "nope" (allowed: web)`,
		`all.yaml:11:33: instances[1] (b).ip: InvalidPrivateIpAddress.Malformed: 10.0.9.1 is not in vswitch web`,
		`all.yaml:13:34: nat_gateways[0] (n).eip: 10.1.1.1 is not a public address`,
		`all.yaml:15:6: expect[0] (a → b).port: tcp probes need a port`,
		`all.yaml:15:30: expect[0] (a → b).result: unknown value "maybe"`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, e := range list {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, e, want[i])
		}
	}
}

// TestUnknownFieldMessage checks the contract's exact wording.
func TestUnknownFieldMessage(t *testing.T) {
	_, err := Load("f.yaml", []byte("version: 1\nprot: tcp\n"))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:2:1: unknown field \"prot\", did you mean \"protocol\"?") &&
		!strings.Contains(err.Error(), "f.yaml:2:1: unknown field \"prot\"") {
		t.Fatalf("got %v", err)
	}
	_, err = Load("f.yaml", []byte("version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: a, cidr: 10.0.1.0/24}]\nsecurity_groups: [{name: g, rules: [{direction: ingress, prot: tcp}]}]\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "prot", did you mean "protocol"?`) {
		t.Fatalf("got %v", err)
	}
}

// TestQuotaPointsAtRule checks that a group over a quota is reported at the
// first rule past it, with the group's name; identical rules count once, as
// the firewall counts them.
func TestQuotaPointsAtRule(t *testing.T) {
	refs := ""
	for i := range firewall.MaxGroupReferences + 2 {
		refs += fmt.Sprintf("      - {direction: ingress, protocol: tcp, port_range: 22, source_group: g%d}\n", i)
	}
	groups := ""
	for i := range firewall.MaxGroupReferences + 2 {
		groups += fmt.Sprintf("  - {name: g%d}\n", i)
	}
	for _, tt := range []struct {
		name, quota, rules, extra, want string
	}{
		{"rules, duplicates counted once", "quotas: {rules_per_group: 2}\n",
			"      - {direction: ingress, protocol: tcp, port_range: 22, source: 10.0.0.0/8}\n" +
				"      - {direction: ingress, protocol: tcp, port_range: 22/22, source: 10.0.0.0/8, description: same}\n" +
				"      - {direction: ingress, protocol: icmp, source: 10.0.0.0/8}\n" +
				"      - {direction: ingress, protocol: icmp, port_range: -1/-1, source: 10.0.0.0/8}\n" +
				"      - {direction: ingress, protocol: udp, port_range: 53, source: 10.0.0.0/8}\n", "",
			"q.yaml:12:10: security_groups[0] (sg-big).rules[4]: AuthorizationLimitExceed: the group would have 3 rules"},
		{"group references", "", refs, groups,
			fmt.Sprintf("q.yaml:%d:75: security_groups[0] (sg-big).rules[%d].source_group: GroupReferenceLimitExceed: ", 7+firewall.MaxGroupReferences, firewall.MaxGroupReferences)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\n" + tt.quota + "vpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: a, cidr: 10.0.1.0/24}]\nsecurity_groups:\n  - name: sg-big\n    rules:\n" + tt.rules + tt.extra
			_, err := Load("q.yaml", []byte(src))
			var list Errors
			require.ErrorAs(t, err, &list)
			require.Len(t, list, 1, "%v", err)
			assert.True(t, strings.HasPrefix(list[0].Error(), tt.want), "got  %s\nwant %s...", list[0], tt.want)
			assert.Equal(t, "sg-big", list[0].Entity)
		})
	}
}

// TestWarnings checks the text of a warning and that the rule keeps the
// network, not the address written.
func TestWarnings(t *testing.T) {
	top, err := LoadFile("testdata/valid-warnings.yaml")
	require.NoError(t, err)
	require.Len(t, top.Warnings, 3)
	assert.Equal(t, "testdata/valid-warnings.yaml:9:69: warning: security_groups[0] (sg-web).rules[0].source: "+
		"10.0.1.7/24 has host bits set; normalized to its network 10.0.1.0/24 (rules are stored by their network, as in the cloud)",
		top.Warnings[0].String())
	assert.Equal(t, "10.0.1.0/24", top.SecurityGroups[0].Rules[0].Source)
	assert.Equal(t, "10.0.1.4/30", top.SecurityGroups[0].Rules[1].LocalCIDR)
	g := top.SecurityGroups[0].Firewall()
	assert.Equal(t, netip.MustParsePrefix("192.168.0.0/16"), g.Rules[1].Remote)
}

func TestNamedPath(t *testing.T) {
	for _, tt := range []struct{ path, name, want string }{
		{"instances[2].security_groups[0]", "db-1", "instances[2] (db-1).security_groups[0]"},
		{"internet.hosts[0]", "laptop", "internet.hosts[0] (laptop)"},
		{"instances[2].ip", "", "instances[2].ip"},
		{"vpc.cidr", "x", "vpc.cidr"},
	} {
		assert.Equal(t, tt.want, NamedPath(tt.path, tt.name))
	}
}

// TestLoadFileSizeLimit checks that a file over the limit is refused after
// reading at most the limit: /dev/zero never ends, and a 3 MiB file is not
// read whole.
func TestLoadFileSizeLimit(t *testing.T) {
	assert.Equal(t, int64(64<<20), MaxFileSize(), "the default limit")
	SetMaxFileSize(2 << 20)
	t.Cleanup(func() { SetMaxFileSize(0) })
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 300_000), 0o644))
	files := []string{big}
	if _, err := os.Stat("/dev/zero"); err == nil {
		files = append(files, "/dev/zero")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := LoadFile(f)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Equal(t, f+":1:1: file is larger than the limit of 2097152 bytes (2 MiB)", err.Error())
			// Reading 2 MiB + 1 through io.ReadAll allocates a few times
			// that; the whole of /dev/zero would be gigabytes.
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20), "bytes allocated")
		})
	}
}

// TestErrorsCarryNoControlCharacters checks that whatever a file holds, no
// error or warning text carries a control character or invalid UTF-8 to the
// terminal: values are quoted, names with them are refused.
func TestErrorsCarryNoControlCharacters(t *testing.T) {
	head := "version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: web, cidr: 10.0.1.0/24}]\n"
	for _, tt := range []struct{ name, src, want string }{
		{"instance name", head + "instances: [{name: \"a\x1b[31m\", vswitch: web}]\n",
			`instances[0].name: "a\x1b[31m" contains a control character (U+001B) at character 2`},
		{"unknown field", head + "instances: [{name: a, vswitch: web, \"x\x1b\x07\": 1}]\n", `unknown field "x\x1b\a"`},
		{"reference", head + "instances: [{name: a, vswitch: \"w\x07\"}]\n", `instances[0] (a).vswitch: "w\a" contains a control character (U+0007)`},
		{"invalid utf-8 key", head + "\xff\xfe: 1\n", `unknown field "\ufffd\ufffd"`},
		{"enum", head + "security_groups: [{name: g, type: \"ba\x1bsic\"}]\n", `security_groups[0] (g).type: "ba\x1bsic" contains a control character`},
		{"syntax error", "version: 1\nvpc: [\x1b\n", ""},
		{"warning entity", head + "security_groups: [{name: g, rules: [{direction: ingress, protocol: tcp, port_range: 22, source: 10.0.0.1/8}]}]\ninstances: [{name: a, vswitch: web, security_groups: [g]}]\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top, err := Load("c.yaml", []byte(tt.src))
			var texts []string
			if err != nil {
				texts = append(texts, err.Error())
				var list Errors
				require.ErrorAs(t, err, &list)
				for _, e := range list {
					texts = append(texts, e.Msg, e.Allowed, e.Entity, e.Path)
				}
			} else {
				for _, w := range top.Warnings {
					texts = append(texts, w.String())
				}
			}
			for _, s := range texts {
				for i, r := range s {
					if r == utf8.RuneError || r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
						t.Errorf("text carries %U at byte %d: %q", r, i, s)
					}
				}
			}
			if tt.want != "" {
				assert.Contains(t, texts[0], tt.want)
			}
		})
	}
}
