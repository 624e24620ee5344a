// Package report writes the results of `vpclab bench`: a text table per
// benchmark, a stable JSON document, and a report directory holding
// RESULTS.md and one SVG chart per chart of the results.
package report

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vpclab/vpclab/bench"
)

// Schema names the JSON document's layout; it changes when a field changes
// meaning or goes away (fields may be added without changing it).
const Schema = "vpclab.bench/v1"

// Document is one run of `vpclab bench`: the machine, the command line and
// each benchmark's result, in the order they ran.
type Document struct {
	Schema      string      `json:"schema"`
	Date        time.Time   `json:"date"`
	Command     string      `json:"command"`
	Quick       bool        `json:"quick"`
	Machine     Machine     `json:"machine"`
	Benchmarks  []Benchmark `json:"benchmarks"`
	Interrupted bool        `json:"interrupted"` // Ctrl-C stopped the run: benchmarks are missing
}

// Benchmark is one benchmark's outcome: its rows, chart series and skipped
// lines, or the error that stopped it.
type Benchmark struct {
	Name    string   `json:"name"`
	Doc     string   `json:"doc"`
	Seconds float64  `json:"seconds"` // how long it ran
	Error   string   `json:"error,omitempty"`
	Rows    []Row    `json:"rows"`
	Series  []Series `json:"series"`
	Skipped []string `json:"skipped"`
}

// Row is bench.Row with JSON names.
type Row struct {
	Measure   string     `json:"measure"`
	Unit      string     `json:"unit"`
	Better    string     `json:"better"` // lower or higher
	Ours      float64    `json:"ours"`
	Baselines []Baseline `json:"baselines"`
	Note      string     `json:"note,omitempty"`
}

// Baseline is bench.Baseline with JSON names; Ratio is how many times
// better ours is (0: not comparable).
type Baseline struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Ratio float64 `json:"ratio"`
}

// Series is bench.Series with JSON names.
type Series struct {
	Chart  string    `json:"chart"`
	Title  string    `json:"title"`
	XLabel string    `json:"x_label"`
	YLabel string    `json:"y_label"`
	Name   string    `json:"name"`
	LogX   bool      `json:"log_x"`
	X      []float64 `json:"x"`
	Y      []float64 `json:"y"`
}

// FromResult converts a benchmark's result (nil when it failed with err).
// Values that JSON cannot hold (NaN, ±Inf) become 0, "not measured".
func FromResult(b bench.Benchmark, res *bench.Result, err error, took time.Duration) Benchmark {
	out := Benchmark{Name: b.Name, Doc: b.Doc, Seconds: took.Seconds(), Rows: []Row{}, Series: []Series{}, Skipped: []string{}}
	if err != nil {
		out.Error = err.Error()
	}
	if res == nil {
		return out
	}
	for _, r := range res.Rows {
		row := Row{Measure: r.Measure, Unit: r.Unit, Better: r.Better, Ours: finite(r.Ours), Note: r.Note, Baselines: []Baseline{}}
		if row.Better == "" {
			row.Better = "lower"
		}
		for _, bl := range r.Baselines {
			row.Baselines = append(row.Baselines, Baseline{Name: bl.Name, Value: finite(bl.Value), Ratio: finite(bl.Ratio)})
		}
		out.Rows = append(out.Rows, row)
	}
	for _, s := range res.Series {
		out.Series = append(out.Series, Series{Chart: s.Chart, Title: s.Title, XLabel: s.XLabel, YLabel: s.YLabel,
			Name: s.Name, LogX: s.LogX, X: finites(s.X), Y: finites(s.Y)})
	}
	out.Skipped = append(out.Skipped, res.Skipped...)
	return out
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func finites(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = finite(x)
	}
	return out
}

// Table is a benchmark's rows laid out for printing: a header and cells,
// every row as long as the header.
type Table struct {
	Header []string
	Rows   [][]string
}

// Table lays b's rows out: measure, unit, ours, then for each baseline (in
// the order they first appear) its value and "×N better", and a note
// column when a row has a note.
func (b Benchmark) Table() Table {
	var names []string
	hasNote := false
	for _, r := range b.Rows {
		for _, bl := range r.Baselines {
			if !contains(names, bl.Name) {
				names = append(names, bl.Name)
			}
		}
		hasNote = hasNote || r.Note != ""
	}
	t := Table{Header: []string{"measure", "unit", "ours"}}
	for _, n := range names {
		t.Header = append(t.Header, n, "vs "+n)
	}
	if hasNote {
		t.Header = append(t.Header, "note")
	}
	for _, r := range b.Rows {
		cells := []string{r.Measure, r.Unit, FormatValue(r.Ours)}
		for _, n := range names {
			v, ratio := "—", "—"
			for _, bl := range r.Baselines {
				if bl.Name == n {
					v, ratio = FormatValue(bl.Value), FormatRatio(bl.Ratio)
					break
				}
			}
			cells = append(cells, v, ratio)
		}
		if hasNote {
			cells = append(cells, r.Note)
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// FormatValue prints a figure with four significant digits, without an
// exponent below a billion: 0.1235, 12.35, 1235, 1234568.
func FormatValue(v float64) string {
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 1e4 && a < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// FormatRatio prints how many times better ours is: "×12.3 better", "×2.5
// worse" below 1, "—" when there is no ratio.
func FormatRatio(r float64) string {
	switch {
	case r <= 0 || math.IsNaN(r) || math.IsInf(r, 0):
		return "—"
	case r >= 1:
		return "×" + ratioDigits(r) + " better"
	default:
		return "×" + ratioDigits(1/r) + " worse"
	}
}

func ratioDigits(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// Chart is the series drawn in one SVG: those of one benchmark sharing
// Series.Chart, in the order the benchmark listed them.
type Chart struct {
	Benchmark string
	Name      string // Series.Chart
	File      string // the SVG's file name: deterministic, unique in a document
	Title     string
	XLabel    string
	YLabel    string
	LogX      bool
	Series    []Series
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// Charts groups d's series into charts. A chart's file is
// "BENCHMARK-CHART.svg" in lower case with every run of other characters
// made one '-' (the benchmark prefix left out when CHART starts with it),
// and a "-2", "-3" suffix when two charts would share a name.
func (d Document) Charts() []Chart {
	var out []Chart
	used := map[string]bool{}
	for _, b := range d.Benchmarks {
		idx := map[string]int{}
		for _, s := range b.Series {
			i, ok := idx[s.Chart]
			if !ok {
				i = len(out)
				idx[s.Chart] = i
				out = append(out, Chart{Benchmark: b.Name, Name: s.Chart, File: chartFile(b.Name, s.Chart, used),
					Title: s.Title, XLabel: s.XLabel, YLabel: s.YLabel, LogX: s.LogX})
			}
			c := &out[i]
			c.LogX = c.LogX || s.LogX
			if c.Title == "" {
				c.Title = s.Title
			}
			if c.XLabel == "" {
				c.XLabel = s.XLabel
			}
			if c.YLabel == "" {
				c.YLabel = s.YLabel
			}
			c.Series = append(c.Series, s)
		}
	}
	return out
}

func chartFile(bench, chart string, used map[string]bool) string {
	b := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(bench), "-"), "-")
	c := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(chart), "-"), "-")
	base := b
	switch {
	case c == "":
	case b == "" || strings.HasPrefix(c, b):
		base = c
	default:
		base = b + "-" + c
	}
	if base == "" {
		base = "chart"
	}
	name := base
	for n := 2; used[name]; n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	used[name] = true
	return name + ".svg"
}
