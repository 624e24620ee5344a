package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Make an instance of a running sandbox join or leave a security group",
	}
	cmd.AddCommand(newGroupChangeCmd(true), newGroupChangeCmd(false))
	return cmd
}

func newGroupChangeCmd(join bool) *cobra.Command {
	var f sandboxFlags
	use, short := "join INSTANCE GROUP", "Add an instance to a security group"
	if !join {
		use, short = "leave INSTANCE GROUP", "Remove an instance from a security group (it keeps at least one)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(2, "INSTANCE GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			verb := "joined"
			if !join {
				verb = "left"
			}
			return ask(cmd, &f, func(ctx context.Context, c *sandbox.Client) (sandbox.GroupResponse, error) {
				if join {
					return c.JoinGroup(ctx, args[0], args[1])
				}
				return c.LeaveGroup(ctx, args[0], args[1])
			}, func(c *sandbox.Client, resp sandbox.GroupResponse) error {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s %s; its groups: %s\n", c.Info.Name, resp.Instance, verb, resp.Group, strings.Join(resp.Groups, ", "))
				return nil
			})
		},
	}
	addSandboxFlags(cmd, &f)
	return cmd
}
