package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpclab/vpclab/sandbox"
)

// startUpProcess re-executes the test binary as `vpclab up FILE` and waits
// until its sandbox is listed.
func startUpProcess(t *testing.T, file string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "up", file, "--duration", "2m")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		list, _ := sandbox.List(sandbox.BaseDir())
		for _, s := range list {
			if s.PID == cmd.Process.Pid {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("up (pid %d) never listed its sandbox:\n%s", cmd.Process.Pid, stderr.String())
		}
	}
}

// TestControlLifecycle: a second up of a running sandbox's name is refused;
// a sandbox killed with SIGKILL leaves a stale run directory that ls skips
// and the next up clears; `vpclab down` from another process and SIGTERM
// stop up with exit 0 and remove its run directory.
func TestControlLifecycle(t *testing.T) {
	file := writeTopology(t, controlTopology(hostPort(t), hostPort(t)))
	dir := filepath.Join(sandbox.BaseDir(), "ctl-e2e")

	a := startUpProcess(t, file)
	_, errOut, code := vpclab("up", file, "--duration", "1s")
	if code != 1 || !strings.Contains(errOut, "sandbox ctl-e2e is already running (pid ") {
		t.Errorf("a second up of the same name: exit %d\n%s", code, errOut)
	}
	if out := mustVerb(t, "ls"); !strings.Contains(out, "ctl-e2e") {
		t.Errorf("ls:\n%s", out)
	}

	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	if _, err := os.Stat(filepath.Join(dir, sandbox.SocketFile)); err != nil {
		t.Fatalf("a killed sandbox leaves its socket behind; the test needs it: %v", err)
	}
	if out, errOut, _ := vpclab("ls"); strings.Contains(out, "ctl-e2e") || !strings.Contains(errOut, "no sandbox is running") {
		t.Errorf("ls lists a dead sandbox:\n%s%s", out, errOut)
	}

	b := startUpProcess(t, file) // clears what a left
	if out := mustVerb(t, "down", "ctl-e2e"); !strings.HasPrefix(out, fmt.Sprintf("ctl-e2e: down (pid %d)", b.Process.Pid)) {
		t.Errorf("down printed %q", out)
	}
	if err := b.Wait(); err != nil {
		t.Errorf("up after vpclab down: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("vpclab down left the run directory %s: %v", dir, err)
	}

	c := startUpProcess(t, file)
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("up after SIGTERM: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("SIGTERM left the run directory %s: %v", dir, err)
	}
}
