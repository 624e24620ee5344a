package main

import "github.com/spf13/cobra"

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure vpclab's components",
	}
	cmd.AddCommand(newBenchClassifyCmd())
	return cmd
}
