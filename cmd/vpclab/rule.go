package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

// ruleFlags maps rule add|remove's flags to the YAML fields of a rule: a
// flag given is the field's text, parsed as a file's would be; one not
// given is absent (its default applies).
var ruleFlags = []struct{ flag, field, usage string }{
	{"direction", "direction", "ingress or egress (required)"},
	{"protocol", "protocol", "tcp, udp, icmp, gre or all, any case (required)"},
	{"port", "port_range", `destination ports: "80", "80/80", "8000/8080"; "-1/-1" for icmp, gre and all`},
	{"source", "source", "ingress: a CIDR or address"},
	{"source-group", "source_group", "ingress: a group (its members' private addresses)"},
	{"destination", "destination", "egress: a CIDR or address"},
	{"destination-group", "destination_group", "egress: a group"},
	{"source-port", "source_port_range", `source ports "start/end" (default any)`},
	{"local-cidr", "local_cidr", "restricts the instance-side address"},
	{"priority", "priority", "1..100, 1 is the highest (default 1)"},
	{"policy", "policy", "accept (default) or drop"},
	{"nic-type", "nic_type", "intranet (default)"},
	{"description", "description", "free text shown in explanations"},
	{"managed-by", "managed_by", "the service that manages the rule (dms, ...); it is the actor in the audit log"},
}

func newRuleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Add or remove a security-group rule of a running sandbox",
	}
	cmd.AddCommand(newRuleChangeCmd(true), newRuleChangeCmd(false))
	return cmd
}

func newRuleChangeCmd(add bool) *cobra.Command {
	var f sandboxFlags
	values := make([]string, len(ruleFlags))
	use, short := "add GROUP --direction D --protocol P [--port N] [--source CIDR|--source-group G] ...", "Authorize a rule in a group of a running sandbox"
	long := `Add authorizes a rule in a security group of a running sandbox. The flags are
the rule's YAML fields and parse exactly as in a file (--port 80 is 80/80,
--protocol TCP is tcp). The change applies to the next new connection;
connections already tracked keep working (vpclab conntrack flush cuts them).
A rule identical to one the group has changes nothing. A refused rule (an
unknown group, a malformed port, a group over its quota) prints the cloud's
error code and changes nothing: exit 2.`
	if !add {
		use, short = "remove GROUP --direction D --protocol P [--port N] ...", "Revoke a rule from a group of a running sandbox"
		long = `Remove revokes the rule of GROUP that matches the flags in every field but
--description and --managed-by. New connections no longer match it; tracked
ones keep working until they end or are flushed. The audit log records the
actor: --managed-by when given, else user. A rule that is not there is
refused (exit 2).`
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req := sandbox.RuleRequest{Group: args[0], Rule: map[string]string{}}
			for i, rf := range ruleFlags {
				if cmd.Flags().Changed(rf.flag) {
					req.Rule[rf.field] = values[i]
				}
			}
			ctx, cancel := controlContext(cmd)
			defer cancel()
			var resp sandbox.RuleResponse
			if add {
				resp, err = c.AddRule(ctx, req)
			} else {
				resp, err = c.RemoveRule(ctx, req)
			}
			if err != nil {
				return f.controlError(cmd, err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), resp)
			}
			w := cmd.OutOrStdout()
			switch {
			case !resp.Changed:
				fmt.Fprintf(w, "%s: unchanged: %s already has this rule: %s\n", c.Info.Name, resp.Group, resp.Rule)
			case add:
				fmt.Fprintf(w, "%s: authorized in %s by %s: %s\n", c.Info.Name, resp.Group, resp.Actor, resp.Rule)
			default:
				fmt.Fprintf(w, "%s: revoked from %s by %s: %s\n", c.Info.Name, resp.Group, resp.Actor, resp.Rule)
			}
			return nil
		},
	}
	for i, rf := range ruleFlags {
		cmd.Flags().StringVar(&values[i], rf.flag, "", rf.usage)
	}
	addSandboxFlags(cmd, &f)
	return cmd
}

// exactArgs is cobra.ExactArgs with the house's exit status and the
// arguments named.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s: want %s, got %d argument(s)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}
