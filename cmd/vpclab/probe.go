package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

func newProbeCmd() *cobra.Command {
	var (
		f       sandboxFlags
		req     sandbox.ProbeRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe --from A --to B [--protocol tcp|udp|icmp] [--port N] [--expect allow|block|refuse]",
		Short: "Send one real probe through a running sandbox",
		Long: `Probe sends one real probe through a running sandbox's data plane, as one
expect line of vpclab test does (TCP handshake plus the service's reply, UDP
echo, ICMP echo), and prints what it observed: allow, block (with the drop
event's code and deciding rule), or refuse. With --expect, a different result
exits 1, as a failed expectation does; without it the probe exits 0 whatever
it observed (1 only when it could not run). An unknown instance or a missing
port is invalid input: exit 2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(timeout); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			req.TimeoutMs = int(min(timeout, time.Minute) / time.Millisecond)
			ctx, cancel := controlContext(cmd)
			defer cancel()
			res, err := c.Probe(ctx, req)
			if err != nil {
				return f.controlError(cmd, err)
			}
			if f.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else if req.Expect != "" {
				printResults(cmd.OutOrStdout(), []topology.Result{res})
			} else {
				probe := res.Protocol
				if res.Port != 0 {
					probe += fmt.Sprintf("/%d", res.Port)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s → %s (%s) %s: %s — %s\n", res.From, res.To, res.Target, probe, res.Observed, res.Detail)
			}
			switch {
			case res.Observed == topology.Failed:
				return &exitError{code: 1, err: fmt.Errorf("the probe could not run: %s", res.Detail)}
			case !res.Pass:
				return &exitError{code: 1, err: fmt.Errorf("expected %s, observed %s", res.Expected, res.Observed)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.From, "from", "", "source: an instance or internet host (required)")
	cmd.Flags().StringVar(&req.To, "to", "", "destination: a name or an address (required)")
	cmd.Flags().StringVar(&req.Protocol, "protocol", "tcp", "tcp, udp or icmp")
	cmd.Flags().IntVar(&req.Port, "port", 0, "destination port (required for tcp and udp)")
	cmd.Flags().StringVar(&req.Expect, "expect", "", "allow, block or refuse: exit 1 when the probe observes otherwise")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "fallback timeout of a probe that meets no drop event (at most 1m)")
	addSandboxFlags(cmd, &f)
	return cmd
}
