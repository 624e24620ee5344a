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
