package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newLsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the running sandboxes of this user",
		Long: `Ls lists the sandboxes this user runs (under $XDG_RUNTIME_DIR/vpclab, or
/tmp/vpclab-UID when it is unset): name, pid, start time, topology file and
control socket. A sandbox whose process is gone is not listed; the next up of
its name clears what it left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			list, err := sandbox.List(sandbox.BaseDir())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if list == nil {
				list = []sandbox.Info{}
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			if len(list) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no sandbox is running (in %s)\n", sandbox.BaseDir())
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPID\tSTARTED\tFILE\tSOCKET")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name, s.PID, s.Started.Local().Format(time.RFC3339), upDash(s.File), s.Socket)
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}
