package ros

import (
	"bytes"
	"fmt"
)

// The goccy/go-yaml parser is slow on some shapes of input (thousands of
// keys in one block mapping take seconds, time grows with their square), so,
// as the topology loader does, a linear pass refuses them first. ROS itself
// takes template bodies up to 512 KiB; these bounds are far beyond any real
// template.
const (
	maxFlowDepth    = 64   // [ and { nesting
	maxLineNesting  = 16   // block indicators (- ? : & ! *) on one line
	maxIndentLevels = 64   // block indentation levels
	maxKeysPerLevel = 2000 // keys of one block mapping
)

type position struct{ Line, Column int }

// prescan rejects, in one linear pass, input the parser would take too long
// on: files over maxFileSize, flow collections nested deeper than
// maxFlowDepth, more than maxLineNesting block indicators on one line,
// more than maxIndentLevels indentation levels and block mappings with
// more than maxKeysPerLevel keys. It returns the position and the problem,
// or "". (A copy of the topology loader's prescan with ROS's bounds.)
func prescan(data []byte) (position, string) {
	if len(data) > maxFileSize {
		return position{1, 1}, fmt.Sprintf("file is larger than the limit of %d bytes (2 MiB)", maxFileSize)
	}
	type level struct{ col, keys int }
	var (
		stack        []level
		flow         int
		inSingle     bool
		inDouble     bool
		blockScalar  = -1 // indentation of the key that opened a | or > scalar
		line         = 0
		rest         = data
		tokenStarter = func(prev byte) bool {
			return prev == ' ' || prev == '\t' || prev == '[' || prev == '{' || prev == ',' || prev == 0
		}
	)
	for len(rest) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		indent := 0
		for indent < len(l) && l[indent] == ' ' {
			indent++
		}
		content := indent < len(l) && l[indent] != '#' && l[indent] != '\r'
		if blockScalar >= 0 {
			if !content || indent > blockScalar {
				continue // text of a literal or folded scalar
			}
			blockScalar = -1
		}
		if !content {
			continue
		}
		if flow == 0 && !inSingle && !inDouble {
			isEntry := l[indent] == '-' && (indent+1 == len(l) || l[indent+1] == ' ')
			for len(stack) > 0 && stack[len(stack)-1].col > indent {
				stack = stack[:len(stack)-1]
			}
			switch {
			case isEntry:
				stack = append(stack, level{indent + 2, 0})
			case len(stack) > 0 && stack[len(stack)-1].col == indent:
				stack[len(stack)-1].keys++
			default:
				stack = append(stack, level{indent, 1})
			}
			if top := stack[len(stack)-1]; top.keys > maxKeysPerLevel {
				return position{line, indent + 1}, fmt.Sprintf("more than %d keys in one mapping", maxKeysPerLevel)
			}
			if len(stack) > maxIndentLevels {
				return position{line, indent + 1}, fmt.Sprintf("more than %d levels of indentation", maxIndentLevels)
			}
		}
		indicators := 0
		var prev byte
		for i := indent; i < len(l); i++ {
			c := l[i]
			switch {
			case inDouble:
				if c == '\\' {
					i++
				} else if c == '"' {
					inDouble = false
				}
			case inSingle:
				if c == '\'' {
					inSingle = false
				}
			case c == '#' && (prev == ' ' || prev == '\t' || prev == 0):
				i = len(l)
			case c == '"' && tokenStarter(prev):
				inDouble = true
			case c == '\'' && tokenStarter(prev):
				inSingle = true
			case (c == '[' || c == '{') && (tokenStarter(prev) || flow > 0):
				flow++
				if flow > maxFlowDepth {
					return position{line, i + 1}, fmt.Sprintf("more than %d nested [ ] or { }", maxFlowDepth)
				}
			case (c == ']' || c == '}') && flow > 0:
				flow--
			case flow == 0:
				next := byte(' ')
				if i+1 < len(l) {
					next = l[i+1]
				}
				switch {
				case (c == '-' || c == '?') && tokenStarter(prev) && (next == ' ' || next == '\r'),
					c == ':' && (next == ' ' || next == '\r' || i+1 == len(l)),
					(c == '&' || c == '!' || c == '*') && tokenStarter(prev):
					indicators++
					if indicators > maxLineNesting {
						return position{line, i + 1}, fmt.Sprintf("more than %d nested nodes on one line", maxLineNesting)
					}
				case (c == '|' || c == '>') && tokenStarter(prev):
					blockScalar = indent
				}
			}
			prev = c
		}
	}
	return position{}, ""
}
