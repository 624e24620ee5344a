package ros

import (
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// TestPrescan checks the shapes the YAML parser is slow on are refused
// before it runs (the fuzzer stalled on them), with a position.
func TestPrescan(t *testing.T) {
	var keys strings.Builder
	keys.WriteString("Resources:\n")
	for i := range 3000 {
		keys.WriteString("  k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)) + ": 1\n")
	}
	cases := []struct{ name, data, want string }{
		{"keys", keys.String(), "2:3: more than 2000 keys in one mapping"},
		{"flow", strings.Repeat("[", 100), "1:65: more than 64 nested [ ] or { }"},
		{"line", strings.Repeat("a: ", 40), "1:50: more than 16 nested nodes on one line"},
		{"size", strings.Repeat("#", maxFileSize+1), "1:1: file is larger than the limit of 2097152 bytes (2 MiB)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := &errList{file: "t.yaml"}
			tmpl, _ := importData("t.yaml", []byte(tc.data), topology.ImportOptions{}, errs)
			if tmpl != nil || len(errs.errs) != 1 {
				t.Fatalf("got %v, want one error", errs.errs)
			}
			if got := errs.errs[0].Error(); !strings.HasSuffix(got, tc.want) {
				t.Errorf("got %q, want ...%q", got, tc.want)
			}
		})
	}
}
