package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// checkTimeout refuses a --timeout that is zero or negative: a probe needs
// some time to run, and a negative one would fail every probe at once.
func checkTimeout(d time.Duration) error {
	if d <= 0 {
		return usageError("--timeout %v: must be positive (e.g. 2s)", d)
	}
	return nil
}

// checkParallel refuses a --parallel that is zero or negative.
func checkParallel(n int) error {
	if n <= 0 {
		return usageError("--parallel %d: must be positive", n)
	}
	return nil
}

// memoryBudget is the --memory-budget flag of the commands that build a VPC:
// a size (4GiB, 512MiB), 0 for no limit.
type memoryBudget struct{ bytes int64 }

func (m *memoryBudget) String() string {
	if m.bytes == 0 {
		return "0"
	}
	return strings.ReplaceAll(topology.FormatSize(m.bytes), " ", "")
}

func (m *memoryBudget) Set(s string) error {
	n, err := topology.ParseSize(s)
	if err != nil {
		return err
	}
	m.bytes = n
	return nil
}

func (m *memoryBudget) Type() string { return "size" }

// addMemoryBudgetFlag adds --memory-budget, by default half of the memory
// of this machine or of its cgroup (topology.DefaultMemoryBudget).
func addMemoryBudgetFlag(cmd *cobra.Command, m *memoryBudget) {
	m.bytes = topology.DefaultMemoryBudget()
	cmd.Flags().Var(m, "memory-budget", "refuse, before building, a topology whose estimated memory exceeds this size (4GiB, 512MiB; 0: no limit); the default is half of this machine's memory or cgroup limit")
}

// check refuses a topology whose estimate exceeds the budget (exit 2): it
// would be killed, or take the machine with it, part way through.
func (m *memoryBudget) check(t *topology.Topology) error {
	if err := t.CheckMemory(m.bytes); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("%w (--memory-budget)", err)}
	}
	return nil
}

// maxFileSize is the --max-file-size flag of every command that loads a
// topology file: the largest file it reads (topology.SetMaxFileSize).
type maxFileSize struct{ bytes int64 }

func (m *maxFileSize) String() string {
	return strings.ReplaceAll(topology.FormatSize(m.bytes), " ", "")
}

func (m *maxFileSize) Set(s string) error {
	n, err := topology.ParseSize(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%q: must be more than 0", s)
	}
	m.bytes = n
	return nil
}

func (m *maxFileSize) Type() string { return "size" }

// addMaxFileSizeFlag adds --max-file-size (default 64MiB) to a command
// that loads topology files; the limit is set when the command runs, so a
// command run after another in the same process gets its own.
func addMaxFileSizeFlag(cmd *cobra.Command) {
	m := &maxFileSize{bytes: topology.DefaultMaxFileSize}
	cmd.Flags().Var(m, "max-file-size", "refuse topology files larger than this size (64MiB, 1GiB); the parser's other limits still bound deep nesting and alias expansion")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		topology.SetMaxFileSize(m.bytes)
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}
