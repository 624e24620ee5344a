package topology

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// charClass is what characters a string field may hold. Every string of a
// file is printed somewhere (a report, an explanation, an error), so none
// may carry control characters, which a terminal would obey (ESC starts an
// escape sequence, BEL rings), or invalid UTF-8.
type charClass uint8

const (
	// textChars: printable Unicode and spaces on one line (descriptions,
	// expectation names, labels). The default for string fields.
	textChars charClass = iota
	// nameChars: printable Unicode without spaces (names of instances,
	// hosts, groups, vswitches, NAT gateways, the VPC, and references to
	// them), so that a name reads as one word in every report.
	nameChars
	// multilineChars: text that may also hold tabs and line breaks (a
	// banner's greeting).
	multilineChars
)

// allowed describes the class for the "allowed" part of an error.
func (c charClass) allowed() string {
	switch c {
	case nameChars:
		return "printable characters without spaces: letters, digits, punctuation, symbols"
	case multilineChars:
		return "printable characters, spaces, tabs and line breaks"
	}
	return "printable characters and spaces, on one line"
}

// check returns "" when s holds only characters of the class, else what is
// wrong, naming the first offending character by its code point (never the
// raw character, which could be a terminal escape).
//
// The YAML parser turns invalid UTF-8 into U+FFFD, so U+FFFD is refused as
// invalid UTF-8: a file has no reason to hold the replacement character.
func (c charClass) check(s string) string {
	n := 0
	for _, r := range s {
		n++
		switch {
		case r == utf8.RuneError:
			return fmt.Sprintf("invalid UTF-8 at character %d", n)
		case c == multilineChars && (r == '\t' || r == '\n' || r == '\r'):
		case c == nameChars && unicode.IsSpace(r) && !unicode.IsControl(r):
			return fmt.Sprintf("a space (U+%04X) at character %d", r, n)
		case !unicode.IsGraphic(r):
			what := "a control character"
			if !unicode.IsControl(r) {
				what = "an invisible formatting character"
			}
			return fmt.Sprintf("%s (U+%04X) at character %d", what, r, n)
		}
	}
	return ""
}
