package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpclab/vpclab/topology"
)

// TestBuildProgressQuietOffTerminal: a stderr that is not a terminal (a
// buffer, a file, a pipe) gets no progress bar.
func TestBuildProgressQuietOffTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	top := &topology.Topology{Instances: make([]topology.Instance, 5000)}
	for _, stderr := range []any{&bytes.Buffer{}, w, file} {
		opts, finish := buildProgress(stderr.(interface{ Write([]byte) (int, error) }), "vpclab up", top)
		finish()
		if len(opts) != 0 {
			t.Errorf("stderr %T: %d build options, want none off a terminal", stderr, len(opts))
		}
	}
}

// TestProgressBar: the bar appears once the build has run for
// progressDelay, shows what comes up, and is cleared at the end; a build
// done sooner shows nothing.
func TestProgressBar(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	var out bytes.Buffer
	report, finish := progressReporter(&out, "vpclab up", 2000, now)
	report(0, 4000)
	report(40, 4000)
	if out.Len() != 0 {
		t.Fatalf("bar drawn before %v: %q", progressDelay, out.String())
	}
	clock = clock.Add(progressDelay)
	report(2000, 4000)
	if s := out.String(); !strings.Contains(s, "vpclab up: bringing up 2000 instances") || !strings.Contains(s, "50%") {
		t.Errorf("bar after %v = %q, want the description and 50%%", progressDelay, s)
	}
	clock = clock.Add(time.Second)
	report(4000, 4000)
	finish()
	if s := out.String(); !strings.HasSuffix(s, "\r") {
		t.Errorf("bar not cleared at the end (no final carriage return): %q", s)
	}

	// A build that ends before the delay draws nothing.
	out.Reset()
	clock = time.Unix(0, 0)
	report, finish = progressReporter(&out, "vpclab up", 2000, now)
	report(0, 4000)
	report(4000, 4000)
	finish()
	if out.Len() != 0 {
		t.Errorf("a quick build drew %q", out.String())
	}
}

// openPTY opens a pseudo-terminal pair, or skips the test where the
// system has none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open the pty's slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestBuildProgressOnTerminal: a terminal stderr gets the progress option.
func TestBuildProgressOnTerminal(t *testing.T) {
	_, slave := openPTY(t)
	opts, finish := buildProgress(slave, "vpclab up", &topology.Topology{Instances: make([]topology.Instance, 10)})
	finish()
	if len(opts) != 1 {
		t.Errorf("a terminal stderr got %d build options, want the progress one", len(opts))
	}
}
