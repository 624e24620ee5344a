package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// pathFlags are the flags explain and diagnose share.
type pathFlags struct {
	from, to, protocol, output string
	port                       int
	timeout                    time.Duration
	budget                     memoryBudget
}

func (f *pathFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.from, "from", "", "source: an instance or internet host (required)")
	cmd.Flags().StringVar(&f.to, "to", "", "destination: a name or an address (required)")
	cmd.Flags().StringVar(&f.protocol, "protocol", "tcp", "tcp, udp or icmp")
	cmd.Flags().IntVar(&f.port, "port", 0, "destination port (required for tcp and udp)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 2*time.Second, "fallback timeout of the real probe")
	addOutputFlag(cmd, &f.output)
	addMemoryBudgetFlag(cmd, &f.budget)
	addMaxFileSizeFlag(cmd)
}

// pathReport is what explain and diagnose print with -o json.
type pathReport struct {
	File     string      `json:"file"`
	From     string      `json:"from"`
	To       string      `json:"to"`
	Target   string      `json:"target"`
	Protocol string      `json:"protocol"`
	Port     int         `json:"port,omitempty"`
	Hops     []hopReport `json:"hops"`
	Allowed  bool        `json:"allowed"`
	// Result is the analysis' verdict in the words of a probe (docs/topology.md):
	// allow, block, or refuse when the groups let it through and nothing
	// listens. Probe.Observed is the real packet's, in the same words.
	Result  string               `json:"result"`
	Verdict firewall.Explanation `json:"verdict"`
	// Origin is where the deciding rule or group came from, for an
	// imported one (file:line:col resource).
	Origin    string              `json:"origin,omitempty"`
	Probe     topology.Result     `json:"probe"` // the real packet's outcome
	Agrees    bool                `json:"agrees"`
	Diagnosis *firewall.Diagnosis `json:"diagnosis,omitempty"`
}

type hopReport struct {
	Step        string               `json:"step"`
	Where       string               `json:"where,omitempty"`
	Allowed     bool                 `json:"allowed"`
	Explanation firewall.Explanation `json:"explanation"`
	Before      string               `json:"before,omitempty"`
	After       string               `json:"after,omitempty"`
	Note        string               `json:"note,omitempty"`
	Origin      string               `json:"origin,omitempty"`
}

// tracePath validates the flags, brings the file's VPC up, explains the
// path statically and sends the real probe beside it.
func tracePath(ctx context.Context, file string, f *pathFlags, warn io.Writer) (*pathReport, *netstack.Trace, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, nil, err
	}
	if err := checkTimeout(f.timeout); err != nil {
		return nil, nil, err
	}
	if f.from == "" || f.to == "" {
		return nil, nil, usageError("--from and --to are required")
	}
	f.protocol = strings.ToLower(f.protocol)
	switch f.protocol {
	case "tcp", "udp":
		if f.port < 1 || f.port > 65535 {
			return nil, nil, usageError("--port %d: want 1..65535 for %s", f.port, f.protocol)
		}
	case "icmp":
		f.port = 0
	default:
		return nil, nil, usageError("--protocol %q: want tcp, udp or icmp", f.protocol)
	}
	t, err := loadTopology(file, warn)
	if err != nil {
		return nil, nil, err
	}
	// An imported instance may be named short (web[0] for
	// alicloud_instance.web[0]), as in the file's expectations.
	f.from, f.to = t.Resolve(f.from), t.Resolve(f.to)
	if err := t.CheckName(f.from, false); err != nil {
		return nil, nil, usageError("--from %s: %v", f.from, err)
	}
	if err := t.CheckName(f.to, true); err != nil {
		return nil, nil, usageError("--to %s: %v", f.to, err)
	}
	target, err := t.Target(f.from, f.to)
	if err != nil {
		return nil, nil, usageError("--to %s: %v", f.to, err)
	}
	if err := f.budget.check(t); err != nil {
		return nil, nil, err
	}
	// Offline VPN gateways: an explanation needs the peers, not their
	// listen addresses, which a running lab may hold.
	lab, err := topology.Build(t, topology.VPNOffline())
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	defer lab.Close()
	proto := map[string]uint8{"tcp": firewall.ProtoTCP, "udp": firewall.ProtoUDP, "icmp": firewall.ProtoICMP}[f.protocol]
	tr, err := lab.VPC.Trace(f.from, target, proto, uint16(f.port))
	if err != nil {
		return nil, nil, usageError("--from %s: %v", f.from, err)
	}
	rep := &pathReport{File: file, From: f.from, To: f.to, Target: target.String(), Protocol: f.protocol, Port: f.port,
		Allowed: tr.Allowed, Verdict: tr.Final, Origin: t.OriginOf(&tr.Final).String()}
	for _, h := range tr.Hops {
		rep.Hops = append(rep.Hops, hopReport{Step: h.Step, Where: h.Where, Allowed: h.Allowed, Explanation: h.Explanation,
			Before: h.Before, After: h.After, Note: h.Note, Origin: t.OriginOf(&h.Explanation).String()})
	}
	// The real packet, after the analysis (which touches no state).
	if ctx == nil {
		ctx = context.Background()
	}
	rep.Result = traceResult(tr)
	res := lab.RunExpects(ctx, []topology.Expect{{From: f.from, To: f.to, Protocol: f.protocol, Port: f.port, Result: rep.Result}},
		topology.RunOptions{Timeout: f.timeout})
	rep.Probe, rep.Agrees = res[0], res[0].Pass
	return rep, tr, nil
}

// traceResult says a trace's verdict in the words of a probe: allow, block,
// or refuse when only the listener step stops it.
func traceResult(tr *netstack.Trace) string {
	switch {
	case tr.Allowed:
		return topology.Allow
	case tr.Verdict.Code == firewall.NoListener:
		return topology.Refuse
	}
	return topology.Block
}

func newExplainCmd() *cobra.Command {
	var f pathFlags
	cmd := &cobra.Command{
		Use:   "explain FILE --from A --to B [--protocol P] [--port N]",
		Short: "Explain the path of a connection hop by hop, and send the real packet beside it",
		Long: `Explain shows the verdict of every step a new connection meets, in the order
the data plane applies them: egress rules of A's groups, platform blocks, route
and NAT (headers before and after), ingress rules of B's groups, listener.
Each rule is shown with its group, priority, policy and managed_by. The same
connection is then attempted through the netstacks, and the report says
whether the real packet agreed. Both verdicts use the words of vpclab test:
allow, block, or refuse (the groups let it through and nothing listens).

Exit status: 0 when the explanation was printed, 2 on invalid input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, _, err := tracePath(cmd.Context(), args[0], &f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			printPath(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func printPath(w io.Writer, rep *pathReport) {
	probe := rep.Protocol
	if rep.Port != 0 {
		probe += fmt.Sprintf("/%d", rep.Port)
	}
	fmt.Fprintf(w, "%s → %s (%s) %s\n", rep.From, rep.To, rep.Target, probe)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, h := range rep.Hops {
		v := "pass"
		switch {
		case h.Allowed:
		case h.Explanation.Code == firewall.NoListener.String():
			v = "REFUSE"
		default:
			v = "BLOCK"
		}
		line := h.Explanation.String()
		if h.Before != "" {
			line = h.Before + "  ⇒  " + h.After
		}
		fmt.Fprintf(tw, "  %d. %s\t%s\t%s\t%s\n", i+1, h.Step, h.Where, v, line)
		x := h.Explanation
		var parts []string
		for _, kv := range [][2]string{{"group", x.Group}, {"priority", prio(x.Priority)}, {"policy", x.Policy}, {"description", x.Description}, {"managed_by", x.ManagedBy}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		if x.RuleIndex >= 0 && len(parts) > 0 {
			fmt.Fprintf(tw, "\t\t\t   %s\n", strings.Join(parts, " "))
		}
		if h.Origin != "" {
			fmt.Fprintf(tw, "\t\t\t   from %s\n", h.Origin)
		}
		if h.Note != "" {
			fmt.Fprintf(tw, "\t\t\t   (%s)\n", h.Note)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "verdict: %s — %s\n", rep.Result, rep.Verdict.String())
	if rep.Origin != "" {
		fmt.Fprintf(w, "  from %s\n", rep.Origin)
	}
	agree := "agrees"
	if !rep.Agrees {
		agree = "DISAGREES"
	}
	fmt.Fprintf(w, "real packet: %s (%s) — %s\n", rep.Probe.Observed, rep.Probe.Detail, agree)
}

func newDiagnoseCmd() *cobra.Command {
	var f pathFlags
	cmd := &cobra.Command{
		Use:   "diagnose FILE --from A --to B [--protocol P] [--port N]",
		Short: "Name why a connection fails and the smallest change that would fix it",
		Long: `Diagnose names the user's symptom (SSH fails, ping fails, HTTP/HTTPS fails,
intranet access fails, mail on 25 fails, rules were added that I did not
write), the step that decided, and the smallest change that would fix it, e.g.
"add ingress accept tcp 80/80 from 0.0.0.0/0 to sg-web". When nothing listens
(refuse) the fix is a listener, not a rule. A connection that works is said to
work (symptom: none), with what allowed it and no fix. The real packet is sent
too, and the report says whether it agreed.

Exit status: 0 when the diagnosis was printed (whether the connection works or
not), 2 on invalid input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, tr, err := tracePath(cmd.Context(), args[0], &f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			d := firewall.Diagnose(tr.Verdict, tr.Probe)
			rep.Diagnosis = &d
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, d.String())
			fmt.Fprintln(w)
			printPath(w, rep)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
