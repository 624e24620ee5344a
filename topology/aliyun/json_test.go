package aliyun

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSourcePos checks line:column against a character-by-character
// reference, for ASCII and non-ASCII text, offsets asked in order and out
// of order (the cache of the last position must not change answers).
func TestSourcePos(t *testing.T) {
	ref := func(data string, off int) (int, int) {
		line, col := 1, 1
		for i, r := range data {
			if i >= off {
				break
			}
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return line, col
	}
	for _, data := range []string{
		`{"a": 1}`,
		"{\n  \"Description\": \"règle über 日本\",\n  \"x\": [1, 2]\n}\n",
		strings.Repeat(`{"Description":"é","PortRange":"22/22"}`, 50),
	} {
		s := newSource("f", []byte(data))
		rng := rand.New(rand.NewPCG(1, 2))
		offs := []int{}
		for i := range data {
			if utf8.RuneStart(data[i]) {
				offs = append(offs, i)
			}
		}
		offs = append(offs, len(data))
		order := append([]int{}, offs...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, list := range [][]int{offs, order} {
			for _, off := range list {
				wl, wc := ref(data, off)
				if l, c := s.pos(off); l != wl || c != wc {
					t.Fatalf("%q offset %d: %d:%d, want %d:%d", data, off, l, c, wl, wc)
				}
			}
		}
	}
}

// TestParseBounds: nesting and the number of values are bounded, so a
// hostile file fails fast with a position instead of exhausting memory.
func TestParseBounds(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"deep", strings.Repeat("[", maxDepth+1), "nested deeper than 64 levels"},
		{"many", "[" + strings.Repeat("0,", maxValues) + "0]", "more than 2000000 values in one file"},
		{"empty", "  \n", "the file holds no JSON value"},
		{"trailing comma", `{"a": 1,}`, "want a quoted key"},
		{"bad escape", `"\x"`, "malformed string"},
		{"control", "\"a\tb\"", "a control character (byte 0x09) in a string"},
		{"invalid utf-8", "\"\xff\"", "invalid UTF-8 in a string"},
		{"number", `-`, "malformed number"},
		{"literal", `nul`, "unexpected 'n', want a value"},
	} {
		_, err := parseDocuments([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	docs, err := parseDocuments([]byte("\xef\xbb\xbf{\"a\": \"\\u00e9\"} [1, 2.5e3, true, null]"))
	if err != nil || len(docs) != 2 || docs[0].get("A").str != "é" || len(docs[1].elems) != 4 {
		t.Errorf("BOM, escapes, case-insensitive keys, two documents: %v %v", docs, err)
	}
}
