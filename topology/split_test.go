package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// dumpTree writes every node of a tree with its type, token and position:
// two trees with the same dump decode the same, with the same positions.
func dumpTree(n ast.Node) string {
	var b strings.Builder
	ast.Walk(dumper{&b}, n)
	return b.String()
}

type dumper struct{ b *strings.Builder }

func (d dumper) Visit(n ast.Node) ast.Visitor {
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		fmt.Fprintf(d.b, "%T\n", n)
		return d
	}
	fmt.Fprintf(d.b, "%T %d:%d %q\n", n, tk.Position.Line, tk.Position.Column, tk.Value)
	return d
}

// wholeTree parses data in one piece, as parse does without cuts.
func wholeTree(t testing.TB, data []byte) (ast.Node, bool) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil || len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, false
	}
	return f.Docs[0].Body, true
}

// splitInputs are the files of testdata/ and examples/, generated large
// topologies, and shapes the cutter must see through: block scalars,
// multi-line quoted strings, comments, CRLF, compact lists, lists that end
// and start again.
func splitInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{}
	for _, pattern := range []string{"testdata/*.yaml", "testdata/imports/*.yaml", "../examples/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in[f] = data
		}
	}
	in["scenario"] = genScenario(300, 7, 2000)
	in["crlf"] = []byte(strings.ReplaceAll(string(genScenario(50, 4, 200)), "\n", "\r\n"))
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {name: v, cidr: 10.0.0.0/16}\nvswitches:\n- {name: a, cidr: 10.0.1.0/24}\n")
	b.WriteString("instances:\n")
	for i := range 200 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "  - name: vm-%d\n    vswitch: a\n    description: |\n      text\n  - not an entry\n    # nor this\n\n", i)
		case 1:
			fmt.Fprintf(&b, "  - {name: vm-%d, vswitch: a, description: \"two\n  - lines\"}\n", i)
		case 2:
			fmt.Fprintf(&b, "  # a comment\n  - name: 'vm-%d'\n    vswitch: a # trailing\n    description: 'it''s\n  - here'\n", i)
		case 3:
			fmt.Fprintf(&b, "  - {name: vm-%d,\n  - vswitch: a}\n", i)
		case 4:
			fmt.Fprintf(&b, "  - name: vm-%d\n    vswitch: a\n    security_groups:\n    - sg\n  - name: vm-%db\n    description: >\n\n  - folded\n", i, i)
		}
	}
	b.WriteString("expect:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "- {from: vm-%d, to: vm-%d, port: 80, result: allow}\n", i%200, (i+1)%200)
		if i == 150 {
			b.WriteString("expect:\n")
		}
	}
	b.WriteString("name: late\n")
	in["shapes"] = []byte(b.String())
	return in
}

// TestParseSplitSameTree checks that whenever parseSplit cuts a file, the
// joined tree is the whole file's, node for node and position for
// position, for every way of cutting it into 2 to 6 pieces.
func TestParseSplitSameTree(t *testing.T) {
	cutSome := 0
	for name, data := range splitInputs(t) {
		whole, wholeOK := wholeTree(t, data)
		for parts := 2; parts <= 6; parts++ {
			for _, minPiece := range []int{1, 64, 4096} {
				got, ok := parseSplit(data, parts, minPiece)
				if !ok {
					continue
				}
				cutSome++
				if !wholeOK {
					t.Fatalf("%s in %d pieces (min %d): parsed, whole file does not", name, parts, minPiece)
				}
				if g, w := dumpTree(got), dumpTree(whole); g != w {
					t.Fatalf("%s in %d pieces (min %d): tree differs:\n%s", name, parts, minPiece, firstDiff(g, w))
				}
			}
		}
	}
	if cutSome < 30 {
		t.Fatalf("only %d cut parses: the cutter finds no cuts", cutSome)
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("node %d: got %s, want %s", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d nodes, want %d", len(g), len(w))
}

// TestSplitCutsLargeTopology checks that a generated large topology is cut
// where expected: at list entries of instances and expect, spread evenly.
func TestSplitCutsLargeTopology(t *testing.T) {
	data := genScenario(2000, 10, 20000)
	cuts := splitCuts(data, 4, 1<<10)
	if len(cuts) != 3 {
		t.Fatalf("%d cuts, want 3", len(cuts))
	}
	for i, c := range cuts {
		line := strings.SplitN(string(data[c.offset:]), "\n", 2)[0]
		if !strings.HasPrefix(line, "  - {") || (c.key != "instances" && c.key != "expect") {
			t.Errorf("cut %d at line %d (%s): %q", i, c.line, c.key, line)
		}
		if want := len(data) * (i + 1) / 4; c.offset < want || c.offset > want+200 {
			t.Errorf("cut %d at byte %d, want just after %d", i, c.offset, want)
		}
	}
}

// TestLoadSplitSameTopology loads every input with the file cut (a small
// splitMin) and whole: the same topology, positions and errors.
func TestLoadSplitSameTopology(t *testing.T) {
	for name, data := range splitInputs(t) {
		file := filepath.Join("testdata", filepath.Base(name))
		if strings.Contains(name, "imports") {
			file = filepath.Join("testdata", "imports", filepath.Base(name))
		}
		splitMin = 1 << 40
		whole, werr := Load(file, data)
		splitMin = 256
		split, serr := Load(file, data)
		splitMin = 512 << 10
		if fmt.Sprint(werr) != fmt.Sprint(serr) {
			t.Errorf("%s: errors differ:\nwhole: %v\nsplit: %v", name, werr, serr)
			continue
		}
		if !reflect.DeepEqual(whole, split) {
			t.Errorf("%s: topologies differ", name)
		}
	}
}

// FuzzParseSplit cuts arbitrary input: a cut parse must give the whole
// file's tree.
func FuzzParseSplit(f *testing.F) {
	f.Add([]byte("a:\n  - x\n  - y\n  - z\nb: 1\n"), uint8(3))
	f.Add([]byte("a:\n- |\n  - y\n- z\n"), uint8(2))
	f.Add([]byte("a:\n  - \"x\n  - y\"\n  - z\n"), uint8(2))
	f.Add(genScenario(20, 4, 40), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, parts uint8) {
		got, ok := parseSplit(data, int(parts%8), 1)
		if !ok {
			return
		}
		whole, wholeOK := wholeTree(t, data)
		if !wholeOK {
			t.Fatalf("cut parse succeeded, whole parse failed")
		}
		if g, w := dumpTree(got), dumpTree(whole); g != w {
			t.Fatalf("tree differs: %s", firstDiff(g, w))
		}
	})
}
