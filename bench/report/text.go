package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// MachineLines are the machine's description, one "key: value" each, in
// the order every output prints them.
func (d Document) MachineLines() [][2]string {
	m := d.Machine
	return [][2]string{
		{"date", d.Date.UTC().Format(time.RFC3339)},
		{"cpu", m.CPU},
		{"cores", fmt.Sprint(m.Cores)},
		{"GOMAXPROCS", fmt.Sprint(m.GOMAXPROCS)},
		{"clock", fmt.Sprintf("%.2f GHz (cycles/ns, measured at start)", m.GHz)},
		{"go", m.Go},
		{"os", m.OS},
		{"kernel", m.Kernel},
	}
}

// WriteMachine prints the machine block that heads the text output.
func WriteMachine(w io.Writer, d Document) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range d.MachineLines() {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// WriteBenchmark prints one benchmark as text: its name and doc, the
// table, then its skipped lines or its error.
func WriteBenchmark(w io.Writer, b Benchmark) error {
	fmt.Fprintf(w, "\n== %s: %s (%.1fs)\n", b.Name, b.Doc, b.Seconds)
	if t := b.Table(); len(t.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range b.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	if b.Error != "" {
		fmt.Fprintf(w, "error: %s\n", b.Error)
	}
	return nil
}
