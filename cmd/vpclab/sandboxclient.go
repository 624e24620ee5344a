package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
)

// sandboxFlags are the flags of every verb that talks to a running sandbox:
// which one (--sandbox NAME, default the only one running; or --run-dir of
// one started with it) and -o table|json.
type sandboxFlags struct {
	name, runDir, output string
}

func addSandboxFlags(cmd *cobra.Command, f *sandboxFlags) {
	cmd.Flags().StringVar(&f.name, "sandbox", "", "the running sandbox to talk to (default: the only one running; see vpclab ls)")
	cmd.Flags().StringVar(&f.runDir, "run-dir", "", "the run directory of a sandbox started with up --run-dir")
	addOutputFlag(cmd, &f.output)
}

// client checks -o and finds the sandbox. Not finding it is invalid input
// (exit 2): the error lists the sandboxes that run.
func (f *sandboxFlags) client() (*sandbox.Client, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	var info sandbox.Info
	var err error
	if f.runDir != "" {
		info, err = sandbox.FindDir(f.runDir)
	} else {
		info, err = sandbox.Find(sandbox.BaseDir(), f.name)
	}
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return sandbox.NewClient(info), nil
}

// controlContext bounds a request to a sandbox: probes take at most a
// minute; everything else answers at once.
func controlContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, 90*time.Second)
}

// ask finds the sandbox, makes one request with call and prints the
// answer: as JSON under -o json, else with table. A failed request is
// reported as controlError says.
func ask[T any](cmd *cobra.Command, f *sandboxFlags, call func(context.Context, *sandbox.Client) (T, error),
	table func(*sandbox.Client, T) error) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := controlContext(cmd)
	defer cancel()
	resp, err := call(ctx, c)
	if err != nil {
		return f.controlError(cmd, err)
	}
	if f.output == "json" {
		return writeJSON(cmd.OutOrStdout(), resp)
	}
	return table(c, resp)
}

// controlError turns a failed request into the house's exit status: a
// refusal of the sandbox (a bad group, instance, port, a quota) is invalid
// input, exit 2, with the firewall's error lines (under -o json also the
// refusal as JSON on stdout); an unreachable sandbox, or a change a sharded
// sandbox refused because a shard was down or busy, is a failure, exit 1.
func (f *sandboxFlags) controlError(cmd *cobra.Command, err error) error {
	var ae *sandbox.APIError
	if errors.As(err, &ae) {
		if f.output == "json" {
			if werr := writeJSON(cmd.OutOrStdout(), ae); werr != nil {
				return werr
			}
		}
		if len(ae.Errors) > 0 && (ae.Errors[0].Code == sandbox.ErrShardUnavailable || ae.Errors[0].Code == sandbox.ErrShardBusy) {
			return &exitError{code: 1, err: err}
		}
		return &exitError{code: 2, err: err}
	}
	var ce *sandbox.ConnError
	if errors.As(err, &ce) {
		return &exitError{code: 1, err: err}
	}
	return &exitError{code: 1, err: fmt.Errorf("control API: %w", err)}
}
