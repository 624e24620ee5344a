package main

import (
	"slices"
	"strings"
	"testing"
)

// TestTimeoutMustBePositive: every command with --timeout refuses a zero or
// negative one with exit 2, naming the flag and the value, before it loads
// or builds anything.
func TestTimeoutMustBePositive(t *testing.T) {
	file := "../../examples/eip.yaml"
	commands := [][]string{
		{"test", file},
		{"up", file, "--duration", "1ms"},
		{"matrix", file},
		{"explain", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
		{"diagnose", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
	}
	for _, args := range commands {
		for _, flag := range [][]string{{"--timeout=-1s"}, {"--timeout", "-2s"}, {"--timeout", "0"}} {
			t.Run(args[0]+" "+strings.Join(flag, " "), func(t *testing.T) {
				_, _, code, err := runVPCLab(t, append(append([]string{}, args...), flag...)...)
				if code != 2 || err == nil || !strings.Contains(err.Error(), "--timeout") || !strings.Contains(err.Error(), "must be positive") {
					t.Errorf("exit %d, %v; want exit 2 and --timeout ...: must be positive", code, err)
				}
			})
		}
	}
	_, _, code, err := runVPCLab(t, "up", file, "--duration", "-1s")
	if code != 2 || err == nil || err.Error() != "--duration -1s: must not be negative (0 runs until interrupted)" {
		t.Errorf("up --duration -1s: exit %d, %v", code, err)
	}
}

// TestMemoryBudgetFlag: every command that builds a VPC refuses, before
// building, a topology over --memory-budget, with the estimate (exit 2);
// 0 is no limit; a size it cannot read is a usage error.
func TestMemoryBudgetFlag(t *testing.T) {
	file := "../../examples/eip.yaml"
	want := file + ": 2 instances and 3 internet hosts need about 16.1 MiB, over the memory budget of 1 MiB (--memory-budget)"
	for _, args := range [][]string{
		{"test", file},
		{"up", file, "--duration", "1ms"},
		{"matrix", file},
		{"explain", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
		{"diagnose", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
	} {
		refusedWith(t, args, []string{"--memory-budget", "1MiB"}, want, file)
	}
	if _, _, code, err := runVPCLab(t, "test", file, "--memory-budget", "0"); code != 0 {
		t.Errorf("--memory-budget 0: exit %d, %v", code, err)
	}
	if _, _, code, err := runVPCLab(t, "test", file, "--memory-budget", "4 gigs"); code != 2 || !strings.Contains(err.Error(), `unknown unit "gigs"`) {
		t.Errorf("--memory-budget '4 gigs': exit %d, %v", code, err)
	}
}

// TestMaxFileSizeFlag: every command that loads a topology file refuses
// one over --max-file-size (exit 2, naming the limit); the next command run
// in the same process has the default again; a size it cannot read or 0 is
// a usage error.
func TestMaxFileSizeFlag(t *testing.T) {
	file := "../../examples/eip.yaml"
	want := "file is larger than the limit of 100 bytes (100 B)"
	for _, args := range [][]string{
		{"validate", file},
		{"graph", file},
		{"test", file},
		{"up", file, "--duration", "1ms"},
		{"matrix", file},
		{"explain", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
		{"diagnose", file, "--from", "elsewhere", "--to", "web-1", "--port", "80"},
	} {
		refusedWith(t, args, []string{"--max-file-size", "100"}, want, file)
	}
	if _, _, code, err := runVPCLab(t, "validate", file); code != 0 {
		t.Errorf("validate after --max-file-size 100: exit %d, %v", code, err)
	}
	for _, bad := range []string{"0", "4 gigs"} {
		if _, _, code, err := runVPCLab(t, "validate", file, "--max-file-size", bad); code != 2 || err == nil {
			t.Errorf("--max-file-size %q: exit %d, %v; want a usage error", bad, code, err)
		}
	}
}

// refusedWith runs vpclab args with flag added, in a subtest named after
// the command, and wants exit 2 with want in its output, the file named
// once.
func refusedWith(t *testing.T, args, flag []string, want, file string) {
	t.Run(args[0], func(t *testing.T) {
		stdout, _, code, err := runVPCLab(t, append(slices.Clone(args), flag...)...)
		msg := stdout
		if err != nil {
			msg += err.Error()
		}
		if code != 2 || !strings.Contains(msg, want) {
			t.Errorf("exit %d, %q; want exit 2 and %q", code, msg, want)
		}
		if strings.Contains(msg, file+": "+file) {
			t.Errorf("the file is named twice: %q", msg)
		}
	})
}
