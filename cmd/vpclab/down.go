package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDownCmd() *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "down [NAME]",
		Short: "Stop a running sandbox (default: the only one running)",
		Long: `Down asks a running sandbox to stop, as Ctrl-C in its terminal would: its
exposed ports close, its run directory goes, and its up exits. Down waits for
the run directory's socket to go.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if f.name != "" && f.name != args[0] {
					return usageError("down %s --sandbox %s: name one sandbox", args[0], f.name)
				}
				f.name = args[0]
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := controlContext(cmd)
			defer cancel()
			if err := c.Down(ctx); err != nil {
				return f.controlError(cmd, err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), c.Info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: down (pid %d)\n", c.Info.Name, c.Info.PID)
			return nil
		},
	}
	addSandboxFlags(cmd, &f)
	return cmd
}
