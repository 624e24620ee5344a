package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newCaptureCmd() *cobra.Command {
	var (
		f        sandboxFlags
		out      string
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "capture INSTANCE -w FILE",
		Short: "Capture the frames of one NIC of a running sandbox as pcap",
		Long: `Capture writes the frames crossing one instance's NIC (or an internet host's)
in a running sandbox as a classic pcap stream (link type raw IPv4): the frames
it sent as it sent them, the frames delivered to it after NAT. Frames the
security groups dropped before the NIC are not in it, as on a cloud NIC; up
--pcap records those with a comment naming the drop.

-w FILE writes a file (created 0600); -w - writes to stdout, so that

  vpclab capture web-1 -w - | tcpdump -n -r -

shows the traffic as it flows. The capture runs until Ctrl-C, --duration, or
the sandbox stops; each frame is written as it comes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("-w FILE is required (- for stdout)")
			}
			if duration < 0 {
				return usageError("--duration %v: must not be negative (0 runs until interrupted)", duration)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "-" {
				file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("-w %s: %w", out, err)}
				}
				defer file.Close()
				w = file
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			if err := c.Capture(ctx, args[0], w); err != nil {
				return f.controlError(cmd, err)
			}
			return nil
		},
	}
	addSandboxFlags(cmd, &f)
	cmd.Flags().StringVarP(&out, "write", "w", "", "the pcap file to write; - for stdout")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long; 0 runs until interrupted or the sandbox stops")
	return cmd
}
