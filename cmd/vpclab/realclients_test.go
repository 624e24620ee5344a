package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/internal/hosttest"
)

// Real clients against the embedded default topology, the way `vpclab up`
// serves it: ssh must read web-1's identification and get to its key
// exchange, an SMTP client must read mx-1's greeting. Each needs its tool;
// without it the test skips, unless VPCLAB_REQUIRE_TOOLS=1 (CI installs the
// Debian packages openssh-client and curl, then sets it).

// requireTool returns the path of a client program or skips the test
// (hosttest.RequireTool).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return hosttest.RequireTool(t, name, pkg)
}

// upDefault runs `vpclab up` on the embedded default topology with every
// exposed host port moved to a free one, until the test ends. It returns
// the host port of each exposed instance port, keyed "instance:port".
func upDefault(t *testing.T) map[string]int {
	t.Helper()
	topo, err := loadTopology("", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for i := range topo.Instances {
		in := &topo.Instances[i]
		for j := range in.Expose {
			in.Expose[j].HostPort = hostPort(t)
			ports[fmt.Sprintf("%s:%d", in.Name, in.Expose[j].Port)] = in.Expose[j].HostPort
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- up(ctx, stdout, stderr, topo, "table", time.Minute, 2*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	})
	// up reports the expectations, then says it is up.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), " is up for "); {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("up ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("up did not come up:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), " 0 failed") {
		t.Fatalf("the default topology's expectations:\n%s", stdout.String())
	}
	return ports
}

// syncBuffer is a strings.Builder that up writes (through up's own
// lockedWriter) while the test reads.
type syncBuffer struct {
	lockedWriter
	b strings.Builder
}

func newSyncBuffer() *syncBuffer {
	sb := &syncBuffer{}
	sb.w = &sb.b
	return sb
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// clientSession runs a client and reads its stderr line by line until a
// line contains want. It then waits hold: the server must keep the
// connection open while the client speaks, so no line of the client may
// say the connection closed and the client must still be running. It kills
// the client and returns everything the client printed on stderr.
func clientSession(t *testing.T, name string, args []string, want string, closed []string, hold time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() { // ends at the EOF of the pipe: when the client exits
		defer close(lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pipe)
	}()
	var out strings.Builder
	seen, exited := false, false
	var timer <-chan time.Time
	deadline := time.After(8 * time.Second) // less than the banner's 10 s hold
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				exited = true
				break wait
			}
			out.WriteString(l + "\n")
			if !seen && strings.Contains(l, want) {
				seen, timer = true, time.After(hold)
			}
		case <-timer:
			break wait
		case <-deadline:
			break wait
		}
	}
	cmd.Process.Kill()
	for l := range lines {
		out.WriteString(l + "\n")
	}
	cmd.Wait()
	got := out.String()
	if !seen {
		t.Fatalf("%s never printed %q:\n%s", name, want, got)
	}
	for _, c := range closed {
		if strings.Contains(got, c) {
			t.Fatalf("the server closed the connection (%q) while %s was speaking:\n%s", c, name, got)
		}
	}
	if exited {
		t.Fatalf("%s ended within %v of %q: the server did not hold the connection open:\n%s", name, hold, want, got)
	}
	return got
}

func TestRealClients(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after up's cleanup
	ports := upDefault(t)

	t.Run("ssh", func(t *testing.T) {
		ssh := requireTool(t, "ssh", "openssh-client")
		port, ok := ports["web-1:22"]
		if !ok {
			t.Fatalf("the default topology exposes no ssh on web-1:22: %v", ports)
		}
		// The identification is parsed, then ssh sends its key exchange
		// and waits for the server's: the connection must stay open.
		out := clientSession(t, ssh, []string{"-v", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-p", fmt.Sprint(port), "127.0.0.1"},
			"SSH2_MSG_KEXINIT sent", []string{"kex_exchange_identification", "Connection closed"}, 300*time.Millisecond)
		if !strings.Contains(out, "Remote protocol version 2.0, remote software version OpenSSH_9.6") {
			t.Errorf("ssh did not parse the identification:\n%s", out)
		}
	})

	t.Run("smtp", func(t *testing.T) {
		curl := requireTool(t, "curl", "curl")
		port, ok := ports["mx-1:25"]
		if !ok {
			t.Fatalf("the default topology exposes no SMTP on mx-1:25: %v", ports)
		}
		// curl reads the greeting, then says EHLO and waits for the reply.
		out := clientSession(t, curl, []string{"-sv", fmt.Sprintf("smtp://127.0.0.1:%d", port)},
			"> EHLO", []string{"Connection died", "response reading failed", "Closing connection"}, 300*time.Millisecond)
		if !strings.Contains(out, "< 220 mx-1 ESMTP vpclab") {
			t.Errorf("curl did not read the greeting naming mx-1:\n%s", out)
		}
	})
}
