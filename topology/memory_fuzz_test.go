package topology

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// FuzzParseSize: --memory-budget and --pcap-max-bytes take any text.
// Nothing panics; a size is never negative; a plain byte count reads as
// itself; an error quotes the input rather than echoing control bytes.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4GiB", "512 MiB", "1.5G", "10kb", "1e3", "..", "9999999999999999999T", "-1", "3\x1b[2J", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("ParseSize(%q): the error carries a control character: %q", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if again, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || again != n {
			t.Fatalf("ParseSize(%q) = %d, but ParseSize(%d) = %d, %v", s, n, n, again, err)
		}
	})
}
