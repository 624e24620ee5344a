// Command vpclab runs a userspace cloud VPC: security groups enforced on real
// TCP/IP traffic between in-process gVisor netstacks.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit status through cobra: 1 an expectation failed,
// 2 invalid input.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vpclab",
		Short:         "A userspace cloud VPC whose security groups are enforced on real traffic",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, err: err}
	})
	root.AddCommand(newUpCmd(), newBenchCmd(), newTestCmd(), newValidateCmd(), newExplainCmd(), newDiagnoseCmd(), newGraphCmd(), newMatrixCmd(),
		newRuleCmd(), newGroupCmd(), newProbeCmd(), newConntrackCmd(), newStatsCmd(), newLintCmd(), newAuditCmd(), newCaptureCmd(), newLsCmd(), newDownCmd(), newImportCmd(), newVPNCmd(), newShardChildCmd())
	withJSONErrors(root)
	return root
}

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vpclab:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2)
	}
}
