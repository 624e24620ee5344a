package sandbox

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzParseMetricsAddr: --metrics takes any text. Nothing panics; what it
// accepts is a loopback address (nothing listens on another); an error
// never echoes control bytes.
func FuzzParseMetricsAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9464", "localhost:0", "[::1]:80", "0.0.0.0:9464", ":9464", "10.0.0.1:1", "127.0.0.1:99999", "127.0.0.1:\x1b", "[::ffff:127.0.0.1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseMetricsAddr(s)
		if err != nil {
			if strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("ParseMetricsAddr(%q): the error carries a control character: %q", s, err)
			}
			return
		}
		if !ap.Addr().IsLoopback() {
			t.Fatalf("ParseMetricsAddr(%q) = %v, not a loopback address", s, ap)
		}
	})
}
