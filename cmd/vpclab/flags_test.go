package main

import (
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
