package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newStatsCmd() *cobra.Command {
	var (
		f        sandboxFlags
		instance string
	)
	cmd := &cobra.Command{
		Use:   "stats [--instance X]",
		Short: "Per-NIC counters, drops by code and per-rule hits of a running sandbox",
		Long: `Stats prints, for every instance and internet host, the frames and bytes its
NIC sent and received and the frames dropped by code; for every instance, each
entry of its decision lists (ingress, then egress) in order — its groups'
rules, system rules, intra-group entries and the implicit default — with the
new flows it decided, including rules that never matched. Instances with the
same groups share one compiled policy and its counters; a change to a group
recompiles it and starts its counters from zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) (sandbox.StatsResponse, error) {
				return c.Stats(ctx, instance)
			}, func(_ *sandbox.Client, resp sandbox.StatsResponse) error {
				w := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NIC\tADDRESS\tTX FRAMES\tTX BYTES\tRX FRAMES\tRX BYTES\tDROPS")
				for _, n := range resp.NICs {
					var drops []string
					for _, code := range slices.Sorted(maps.Keys(n.Drops)) {
						drops = append(drops, fmt.Sprintf("%s=%d", code, n.Drops[code]))
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", n.Name, n.Address, n.TxFrames, n.TxBytes, n.RxFrames, n.RxBytes,
						upDash(strings.Join(drops, " ")))
				}
				tw.Flush()
				for _, n := range resp.NICs {
					if len(n.Rules) == 0 {
						continue
					}
					fmt.Fprintf(w, "\n%s (%s): rule hits\n", n.Name, strings.Join(n.Groups, ", "))
					fmt.Fprintln(tw, "  DIRECTION\tGROUP\tRULE\tHITS\tENTRY")
					for _, r := range n.Rules {
						idx := "-"
						if r.Rule >= 0 {
							idx = fmt.Sprint(r.Rule)
						}
						fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", r.Direction, upDash(r.Group), idx, r.Hits, r.Text)
					}
					tw.Flush()
				}
				fmt.Fprintf(w, "\nconntrack: %d entries (max %d), %d inserted, %d refused (table full), %d expired\n",
					resp.Conntrack.Entries, resp.Conntrack.Max, resp.Conntrack.Inserted, resp.Conntrack.Refused, resp.Conntrack.Expired)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "only this instance's (or internet host's) NIC")
	addSandboxFlags(cmd, &f)
	return cmd
}
