package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newAuditCmd() *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Every rule and membership change of a running sandbox: time, actor, what changed",
		Long: `Audit prints every rule change since the sandbox started, oldest first,
including the rules of the file it was built from: the time, the actor (user,
or the managed_by service of the rule), authorize or revoke, the group and the
rule; and every group join and leave made through the control API. On a
sharded sandbox a SHARD column names the shard whose control API received the
change (every shard applies and logs it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) ([]sandbox.AuditRecord, error) {
				return c.Audit(ctx)
			}, func(_ *sandbox.Client, recs []sandbox.AuditRecord) error {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				sharded := slices.ContainsFunc(recs, func(r sandbox.AuditRecord) bool { return r.Shard != nil })
				head := "TIME\tACTOR\tACTION\tGROUP\tRULE"
				if sharded { // a sharded sandbox: the shard whose API received the change
					head += "\tSHARD"
				}
				fmt.Fprintln(tw, head)
				for _, r := range recs {
					what := r.Rule
					if r.Instance != "" {
						what = "instance " + r.Instance
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", r.Time.Local().Format(time.RFC3339Nano), r.Actor, r.Action, r.Group, what)
					if sharded {
						shard := "-"
						if r.Shard != nil {
							shard = fmt.Sprint(*r.Shard)
						}
						fmt.Fprintf(tw, "\t%s", shard)
					}
					fmt.Fprintln(tw)
				}
				return tw.Flush()
			})
		},
	}
	addSandboxFlags(cmd, &f)
	return cmd
}
