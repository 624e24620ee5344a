package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newConntrackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conntrack",
		Short: "List or flush the connection tracking of a running sandbox",
	}
	cmd.AddCommand(newConntrackListCmd(), newConntrackFlushCmd())
	return cmd
}

func newConntrackListCmd() *cobra.Command {
	var (
		f        sandboxFlags
		instance string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "list [--instance X]",
		Short: "List tracked flows (of one instance: those with its private address at either end)",
		Long: `List prints every live conntrack entry: protocol, the two endpoints (the lower
address first: the table keys both directions alike) with the instance or
internet host each belongs to, the TCP state and how long the entry has been
idle. The table sees private addresses: a flow through an EIP or NAT gateway
is listed with the instance's private address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError("--limit %d: must not be negative (0: all)", limit)
			}
			if limit == 0 {
				limit = -1 // all
			}
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) (sandbox.ConntrackResponse, error) {
				return c.Conntrack(ctx, instance, limit)
			}, func(_ *sandbox.Client, resp sandbox.ConntrackResponse) error {
				w := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "PROTO\tA\tB\tSTATE\tIDLE")
				for _, e := range resp.Entries {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%ds\n", e.Protocol, named(e.A, e.AName), named(e.B, e.BName), e.State, e.IdleS)
				}
				tw.Flush()
				more := ""
				if resp.Omitted > 0 {
					more = fmt.Sprintf(", %d more not shown (--limit)", resp.Omitted)
				}
				fmt.Fprintf(w, "%s%s; the table holds %d (max %d)\n", count(len(resp.Entries), "entry", "entries"), more, resp.Stats.Entries, resp.Stats.Max)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "only the flows of this instance")
	cmd.Flags().IntVar(&limit, "limit", sandbox.DefaultConntrackLimit, "list at most this many entries (0: all)")
	addSandboxFlags(cmd, &f)
	return cmd
}

func named(addr, name string) string {
	if name == "" {
		return addr
	}
	return addr + " (" + name + ")"
}

func newConntrackFlushCmd() *cobra.Command {
	var (
		f        sandboxFlags
		instance string
	)
	cmd := &cobra.Command{
		Use:   "flush [--instance X]",
		Short: "Flush tracked flows: all, or one instance's; they must pass the rules again",
		Long: `Flush removes conntrack entries: every one, or with --instance those with the
instance's private address at either end. A flushed connection's next packet
is checked against the rules again (docs/semantics.md §4.3): one a revoked rule
allowed is dropped from then on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) (sandbox.FlushResponse, error) {
				return c.Flush(ctx, instance)
			}, func(c *sandbox.Client, resp sandbox.FlushResponse) error {
				of := ""
				if resp.Instance != "" {
					of = " of " + resp.Instance
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: flushed %s%s\n", c.Info.Name, count(resp.Flushed, "entry", "entries"), of)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "only the flows of this instance")
	addSandboxFlags(cmd, &f)
	return cmd
}
