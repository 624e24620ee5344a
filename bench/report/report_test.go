package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpclab/vpclab/bench"
)

// sample is a document with two benchmarks: one with rows, charts, a
// skipped line and a '|' to escape, one that failed.
func sample() Document {
	classify := bench.Benchmark{Name: "classify", Doc: "compiled matcher vs linear scan"}
	res := &bench.Result{
		Benchmark: "classify",
		Rows: []bench.Row{
			{Measure: "acl1, 500 rules", Unit: "cycles/header", Ours: 41.5, Better: "lower",
				Baselines: []bench.Baseline{{Name: "linear", Value: 2075, Ratio: 50}, {Name: "gvisor-iptables", Value: 20.75, Ratio: 0.5}}},
			{Measure: "fw1 | 1k rules", Unit: "ns/header", Ours: 12345678, Better: "lower", Note: "trace",
				Baselines: []bench.Baseline{{Name: "linear", Value: math.NaN(), Ratio: 0}}},
		},
		Series: []bench.Series{
			{Chart: "ns-per-header", Title: "Classify", XLabel: "rules", YLabel: "ns/header", Name: "compiled", X: []float64{100, 1000, 10000}, Y: []float64{10, 12, 15}, LogX: true},
			{Chart: "ns-per-header", Name: "linear", X: []float64{100, 1000, 10000}, Y: []float64{100, 1000, 10000}, LogX: true},
			{Chart: "memory", Title: "Memory", XLabel: "rules", YLabel: "bytes", Name: "compiled", X: []float64{1, 2}, Y: []float64{3, 4}},
		},
		Skipped: []string{"gvisor-iptables at 10k rules: too slow for --quick"},
	}
	fabric := bench.Benchmark{Name: "fabric", Doc: "throughput"}
	return Document{
		Schema:  Schema,
		Date:    time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
		Command: "vpclab bench all --report bench",
		Machine: Machine{CPU: "Test CPU", Cores: 2, GOMAXPROCS: 2, GHz: 2.5, Go: "go1.26", OS: "linux/amd64", Kernel: "Linux 6.1"},
		Benchmarks: []Benchmark{
			FromResult(classify, res, nil, 1500*time.Millisecond),
			FromResult(fabric, nil, errors.New("boom"), time.Second),
		},
	}
}

// mdTables parses the Markdown tables in md: each a header line, a
// separator of --- cells, and rows, all with the same number of cells
// (an escaped \| is not a separator). It fails t on a malformed table.
func mdTables(t *testing.T, md string) [][][]string {
	t.Helper()
	cells := func(line string) []string {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || strings.HasSuffix(line, `\|`) {
			t.Fatalf("table line not within pipes: %q", line)
		}
		var out []string
		var cur strings.Builder
		inner := line[1 : len(line)-1]
		for i := 0; i < len(inner); i++ {
			switch {
			case inner[i] == '\\' && i+1 < len(inner):
				cur.WriteByte(inner[i+1])
				i++
			case inner[i] == '|':
				out = append(out, strings.TrimSpace(cur.String()))
				cur.Reset()
			default:
				cur.WriteByte(inner[i])
			}
		}
		return append(out, strings.TrimSpace(cur.String()))
	}
	var tables [][][]string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") {
			continue
		}
		header := cells(lines[i])
		if i+1 >= len(lines) {
			t.Fatalf("table at line %d has no separator", i+1)
		}
		sep := cells(lines[i+1])
		if len(sep) != len(header) {
			t.Fatalf("line %d: separator has %d cells, header %d", i+2, len(sep), len(header))
		}
		for _, c := range sep {
			if strings.Trim(c, "-:") != "" || !strings.Contains(c, "---") {
				t.Fatalf("line %d: separator cell %q", i+2, c)
			}
		}
		table := [][]string{header}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			row := cells(lines[i])
			if len(row) != len(header) {
				t.Fatalf("line %d: %d cells, header has %d: %q", i+1, len(row), len(header), lines[i])
			}
			table = append(table, row)
		}
		tables = append(tables, table)
	}
	return tables
}

func parseSVG(t *testing.T, name string, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not XML: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", name, root)
	}
}

func TestWriteMarkdownTables(t *testing.T) {
	d := sample()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, d, d.Charts()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	tables := mdTables(t, md)
	if len(tables) != 2 { // machine, classify (fabric failed: no table)
		t.Fatalf("%d tables, want 2:\n%s", len(tables), md)
	}
	want := []string{"measure", "unit", "ours", "linear", "vs linear", "gvisor-iptables", "vs gvisor-iptables", "note"}
	if got := tables[1][0]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("header %q, want %q", got, want)
	}
	row := tables[1][1]
	if row[2] != "41.5" || row[4] != "×50.0 better" || row[6] != "×2.0 worse" {
		t.Errorf("row 1 = %q", row)
	}
	if r := tables[1][2]; r[0] != "fw1 | 1k rules" || r[2] != "12345678" || r[3] != "0" || r[5] != "—" || r[7] != "trace" {
		t.Errorf("row 2 = %q", r)
	}
	for _, s := range []string{GeneratedMark, "Command: `vpclab bench all --report bench`", "## fabric", "**Error:** boom",
		"- skipped: gvisor-iptables at 10k rules", "![Classify](classify-ns-per-header.svg)", "![Memory](classify-memory.svg)", "| cpu | Test CPU |"} {
		if !strings.Contains(md, s) {
			t.Errorf("RESULTS.md lacks %q:\n%s", s, md)
		}
	}
}

func TestChartsNames(t *testing.T) {
	d := Document{Benchmarks: []Benchmark{
		{Name: "classify", Series: []Series{{Chart: "classify-ns/header", Name: "a"}, {Chart: "Memory (KiB)", Name: "a"}, {Chart: "classify-ns/header", Name: "b"}}},
		{Name: "scale", Series: []Series{{Chart: "", Name: "a"}, {Chart: "?", Name: "b"}}},
		{Name: "x y", Series: []Series{{Chart: "z", Name: "a"}}},
		{Name: "x", Series: []Series{{Chart: "y-z", Name: "a"}}},
	}}
	var got []string
	for _, c := range d.Charts() {
		got = append(got, c.File+":"+itoa(len(c.Series)))
	}
	want := "classify-ns-header.svg:2 classify-memory-kib.svg:1 scale.svg:1 scale-2.svg:1 x-y-z.svg:1 x-y-z-2.svg:1"
	if strings.Join(got, " ") != want {
		t.Errorf("charts %q\nwant    %q", strings.Join(got, " "), want)
	}
}

func itoa(n int) string { return strings.TrimSpace(FormatValue(float64(n))) }

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		val  string
		rato string
	}{
		{0, "0", "—"},
		{0.123456, "0.1235", "×8.1 worse"},
		{1, "1", "×1.0 better"},
		{12.345, "12.35", "×12.3 better"},
		{1234.5, "1234", "×1234 better"},
		{123456.7, "123457", "×123457 better"},
		{2.5e12, "2.5e+12", "×2500000000000 better"},
		{math.NaN(), "NaN", "—"},
		{-1, "-1", "—"},
	} {
		if got := FormatValue(tc.v); got != tc.val {
			t.Errorf("FormatValue(%v) = %q, want %q", tc.v, got, tc.val)
		}
		if got := FormatRatio(tc.v); got != tc.rato {
			t.Errorf("FormatRatio(%v) = %q, want %q", tc.v, got, tc.rato)
		}
	}
}

func TestWriteSVG(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chart   Chart
		wantErr string
	}{
		{"log", Chart{Name: "c", LogX: true, Series: []Series{{Name: "a", X: []float64{1, 10, 100}, Y: []float64{1, 2, 3}}}}, ""},
		{"empty log", Chart{Name: "c", LogX: true, Series: []Series{{Name: "a"}}}, ""},
		{"one point", Chart{Name: "c", LogX: true, Series: []Series{{Name: "a", X: []float64{10}, Y: []float64{1}}}}, ""},
		{"linear", Chart{Name: "c", XLabel: "x", YLabel: "y", Series: []Series{{Name: "a", X: []float64{-1, 0, 1}, Y: []float64{1, 2, 3}}, {Name: "b", X: []float64{0}, Y: []float64{0}}}}, ""},
		{"lengths", Chart{Name: "c", Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}}, `chart c, series "a": 2 X values but 1 Y values`},
		{"log zero", Chart{Name: "c", LogX: true, Series: []Series{{Name: "a", X: []float64{0, 1}, Y: []float64{1, 1}}}}, "X 0 on a logarithmic axis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteSVG(&b, tc.chart)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			parseSVG(t, tc.name, b.Bytes())
		})
	}
}

func TestWriteDirFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files, err := WriteDir(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"RESULTS.md", "classify-ns-per-header.svg", "classify-memory.svg"}
	if len(files) != len(want) {
		t.Fatalf("files %q, want %q", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d = %s, want %s", i, f, want[i])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".svg") {
			parseSVG(t, f, b)
		} else {
			mdTables(t, string(b))
		}
	}
	// A second run overwrites its own report and removes the charts the
	// first linked and it does not; other files stay.
	os.WriteFile(filepath.Join(dir, "mine.svg"), []byte("<svg/>"), 0o644)
	d := sample()
	d.Benchmarks[0].Series = d.Benchmarks[0].Series[:2]
	if _, err := WriteDir(dir, d); err != nil {
		t.Fatalf("rewriting a generated report: %v", err)
	}
	for name, want := range map[string]bool{"classify-ns-per-header.svg": true, "classify-memory.svg": false, "mine.svg": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}

func TestWriteDirRefusesHandWritten(t *testing.T) {
	dir := t.TempDir()
	hand := "# My notes\n\nkeep me\n"
	os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(hand), 0o644)
	if _, err := WriteDir(dir, sample()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "RESULTS.md")); string(b) != hand {
		t.Errorf("hand-written file changed:\n%s", b)
	}
}

// TestWriteDirSection checks the layout of bench/: the hand-written
// history stays, the section between the markers becomes a summary
// linking report/RESULTS.md, which holds the full report and charts. It
// runs on a copy of the repository's bench/RESULTS.md, so the markers
// there keep working.
func TestWriteDirSection(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "RESULTS.md"), orig, 0o644)
	for run := range 2 { // the second run replaces the first's section
		files, err := WriteDir(dir, sample())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(files) != 4 || files[0] != filepath.Join(dir, SubDir, "RESULTS.md") || files[3] != filepath.Join(dir, "RESULTS.md") {
			t.Fatalf("run %d: files %q", run, files)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
		want, err := ReplaceSection(orig, Section(sample(), "report/RESULTS.md"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("run %d: bench/RESULTS.md:\n%s", run, got)
		}
		s := string(got)
		i, j := strings.Index(s, SectionBegin), strings.Index(s, SectionEnd)
		if s[:i] != string(orig[:i]) || s[j:] != string(orig[bytes.Index(orig, []byte(SectionEnd)):]) {
			t.Errorf("run %d: the hand-written text around the section changed", run)
		}
		sec := s[i:j]
		for _, w := range []string{"## Latest full run: 2026-12-02", "[report/RESULTS.md](report/RESULTS.md)", "| classify | acl1, 500 rules | 41.5 cycles/header | linear ×50.0 better, gvisor-iptables ×2.0 worse |  |", "| fabric | error: boom |"} {
			if !strings.Contains(sec, w) {
				t.Errorf("run %d: section lacks %q:\n%s", run, w, sec)
			}
		}
		mdTables(t, sec)
		full, _ := os.ReadFile(files[0])
		if !bytes.HasPrefix(full, []byte(GeneratedMark)) {
			t.Errorf("report/RESULTS.md is not the generated report")
		}
	}
}

// TestSectionTargetRows checks that the summary shows a benchmark's rows
// that state a target — all of them, and not the first row when it states
// none — and the first row of a benchmark without targets.
func TestSectionTargetRows(t *testing.T) {
	res := &bench.Result{Rows: []bench.Row{
		{Measure: "acl1, 100 rules", Unit: "cycles/header", Ours: 20, Note: "small"},
		{Measure: "acl1, 1000 rules", Unit: "cycles/header", Ours: 40, Note: "targets: ≤ 80 cycles/header, ≥ 20× linear"},
		{Measure: "fw1, 1000 rules", Unit: "cycles/header", Ours: 50, Note: "best of 3; Target ≥ 0.9 of direct; 3 rounds"},
		{Measure: "fw1, 10000 rules", Unit: "cycles/header", Ours: 60, Note: "no goal here (targeted later)"},
	}}
	plain := &bench.Result{Rows: []bench.Row{{Measure: "1000 idle", Unit: "µs", Ours: 7}, {Measure: "10000 idle", Unit: "µs", Ours: 8}}}
	d := sample()
	d.Benchmarks = []Benchmark{
		FromResult(bench.Benchmark{Name: "classify"}, res, nil, time.Second),
		FromResult(bench.Benchmark{Name: "scale"}, plain, nil, time.Second),
	}
	sec := Section(d, "report/RESULTS.md")
	tables := mdTables(t, sec)
	if len(tables) != 1 {
		t.Fatalf("%d tables:\n%s", len(tables), sec)
	}
	var got [][2]string
	for _, row := range tables[0][1:] {
		got = append(got, [2]string{row[1], row[4]})
	}
	want := [][2]string{
		{"acl1, 1000 rules", "targets: ≤ 80 cycles/header, ≥ 20× linear"},
		{"fw1, 1000 rules", "Target ≥ 0.9 of direct"},
		{"1000 idle", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("summary rows (measure, target) %q, want %q\n%s", got, want, sec)
	}
}
