package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "up [FILE]",
		Short: "Bring a VPC up (no FILE: the embedded default topology) and run until interrupted",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The data plane (issue 3) and the topology loader (issue 4) are not
			// built yet; say so instead of pretending.
			fmt.Fprintln(cmd.OutOrStdout(), "vpclab up: not yet — the data plane and topology loader are still being built.")
			fmt.Fprintln(cmd.OutOrStdout(), "What works today: `vpclab bench classify --rules FILE` (the compiled firewall matcher).")
			return nil
		},
	}
}
