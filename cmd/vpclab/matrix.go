package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// matrixReport is the reachability matrix of a topology: every source
// (instances, then internet hosts) to every instance, for each port.
type matrixReport struct {
	File         string       `json:"file"`
	Protocol     string       `json:"protocol"`
	Ports        []int        `json:"ports,omitempty"` // none for icmp
	Sources      []string     `json:"sources"`
	Destinations []string     `json:"destinations"`
	Cells        []matrixCell `json:"cells"`
}

// matrixCell is one probe of the matrix.
type matrixCell struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Target string `json:"target"` // the address probed: an EIP from the internet
	Port   int    `json:"port,omitempty"`
	Result string `json:"result"` // allow, block, refuse or error
	Detail string `json:"detail"`
}

func newMatrixCmd() *cobra.Command {
	var (
		output, ports, protocol string
		timeout                 time.Duration
		parallel                int
		budget                  memoryBudget
	)
	cmd := &cobra.Command{
		Use:   "matrix FILE",
		Short: "Probe every instance from every instance and internet host: a reachability matrix",
		Long: `Matrix brings FILE's VPC up and probes, through the data plane, every instance
from every other instance and from every internet host (which reach an
instance at its EIP; one without an EIP has no route), for each port of
--ports. The default ports are every service port of the file for the
protocol. Each cell is allow (A), block (B) or refuse (R); E means the probe
could not run. -o json gives the full words and what each probe saw.

Exit status: 0 once the matrix is printed, 2 when FILE or a flag is invalid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if protocol != "tcp" && protocol != "udp" && protocol != "icmp" {
				return usageError("--protocol %q: want tcp, udp or icmp", protocol)
			}
			if err := cmp.Or(checkTimeout(timeout), checkParallel(parallel)); err != nil {
				return err
			}
			list, err := parsePorts(ports)
			if err != nil {
				return err
			}
			t, err := loadTopology(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := budget.check(t); err != nil {
				return err
			}
			if protocol == "icmp" {
				list = nil
			} else if list == nil {
				if list = servicePorts(t, protocol); len(list) == 0 {
					return usageError("%s: no %s service ports; give --ports", t.File, protocol)
				}
			}
			lab, err := topology.Build(t, topology.VPNOffline())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer lab.Close()
			rep := probeMatrix(cmd, lab, protocol, list, topology.RunOptions{Timeout: timeout, Parallel: parallel})
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			printMatrix(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&ports, "ports", "", "comma-separated ports, e.g. 22,80,443 (default: every service port of the file)")
	f.StringVar(&protocol, "protocol", "tcp", "tcp, udp or icmp")
	f.DurationVar(&timeout, "timeout", 2*time.Second, "fallback timeout of a probe that meets no drop event")
	f.IntVar(&parallel, "parallel", 32, "probes in flight")
	addMemoryBudgetFlag(cmd, &budget)
	addMaxFileSizeFlag(cmd)
	return cmd
}

// parsePorts parses "22,80,443"; "" gives nil.
func parsePorts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 65535 {
			return nil, usageError("--ports %q: %q is not a port (allowed: 1..65535, comma-separated)", s, f)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// servicePorts is the sorted union of the service ports of the file's
// instances and internet hosts for the protocol.
func servicePorts(t *topology.Topology, protocol string) []int {
	var out []int
	add := func(ss []topology.Service) {
		for _, s := range ss {
			if s.Protocol == protocol && s.Port != topology.AllPorts { // a catch-all names no port
				out = append(out, s.Port)
			}
		}
	}
	for _, in := range t.Instances {
		add(in.Services)
	}
	for _, h := range t.Internet.Hosts {
		add(h.Services)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func probeMatrix(cmd *cobra.Command, lab *topology.Lab, protocol string, ports []int, opts topology.RunOptions) *matrixReport {
	t := lab.Topology
	rep := &matrixReport{File: t.File, Protocol: protocol, Ports: ports, Sources: []string{}, Destinations: []string{}, Cells: []matrixCell{}}
	for _, in := range t.Instances {
		rep.Sources = append(rep.Sources, in.Name)
		rep.Destinations = append(rep.Destinations, in.Name)
	}
	for _, h := range t.Internet.Hosts {
		rep.Sources = append(rep.Sources, h.Name)
	}
	portList := ports
	if protocol == "icmp" {
		portList = []int{0}
	}
	var expects []topology.Expect
	for _, p := range portList {
		for _, from := range rep.Sources {
			for _, to := range rep.Destinations {
				if from != to {
					expects = append(expects, topology.Expect{From: from, To: to, Protocol: protocol, Port: p})
				}
			}
		}
	}
	for _, r := range lab.RunExpects(cmd.Context(), expects, opts) {
		rep.Cells = append(rep.Cells, matrixCell{From: r.From, To: r.To, Target: r.Target, Port: r.Port,
			Result: r.Observed, Detail: r.Detail})
	}
	return rep
}

func matrixLetter(result string) string {
	switch result {
	case topology.Allow:
		return "A"
	case topology.Block:
		return "B"
	case topology.Refuse:
		return "R"
	}
	return "E"
}

// printMatrix prints one table per port: sources down, destinations across.
func printMatrix(w io.Writer, rep *matrixReport) {
	type key struct {
		from, to string
		port     int
	}
	cells := map[key]string{}
	for _, c := range rep.Cells {
		cells[key{c.From, c.To, c.Port}] = matrixLetter(c.Result)
	}
	portList := rep.Ports
	if rep.Protocol == "icmp" {
		portList = []int{0}
	}
	fmt.Fprintf(w, "%s: reachability, A allow, B block, R refuse (E: the probe could not run); rows are sources\n", rep.File)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range portList {
		head := rep.Protocol
		if p != 0 {
			head += "/" + strconv.Itoa(p)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(tw, "%s\t%s\n", head, strings.Join(rep.Destinations, "\t"))
		for _, from := range rep.Sources {
			row := make([]string, len(rep.Destinations))
			for i, to := range rep.Destinations {
				row[i] = "-"
				if v, ok := cells[key{from, to, p}]; ok {
					row[i] = v
				}
			}
			fmt.Fprintf(tw, "%s\t%s\n", from, strings.Join(row, "\t"))
		}
		tw.Flush()
	}
}
