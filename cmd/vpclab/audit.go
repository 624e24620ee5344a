package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newAuditCmd() *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Every rule change of a running sandbox: time, actor, what changed",
		Long: `Audit prints every rule change since the sandbox started, oldest first,
including the rules of the file it was built from: the time, the actor (user,
or the managed_by service of the rule), authorize or revoke, the group and the
rule.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) ([]sandbox.AuditRecord, error) {
				return c.Audit(ctx)
			}, func(_ *sandbox.Client, recs []sandbox.AuditRecord) error {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tGROUP\tRULE")
				for _, r := range recs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format(time.RFC3339Nano), r.Actor, r.Action, r.Group, r.Rule)
				}
				return tw.Flush()
			})
		},
	}
	addSandboxFlags(cmd, &f)
	return cmd
}
