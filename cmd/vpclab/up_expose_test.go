package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/internal/hosttest"
	"github.com/vpclab/vpclab/topology"
)

func TestUpExposeFlags(t *testing.T) {
	file := writeTopology(t, upTopology(hostPort(t), hostPort(t)))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-conns-per-port", "-1"}, "--max-conns-per-port -1: must not be negative (0: no cap)"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout -1s: must not be negative (0: never)"},
		{[]string{"--max-conns-per-port", "many"}, `invalid argument "many" for "--max-conns-per-port"`},
	} {
		_, stderr, code, err := runVPCLab(t, append([]string{"up", file, "--duration", "1ms"}, tc.args...)...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("up %v: exit %d, %v; want exit 2 and %q\n%s", tc.args, code, err, tc.want, stderr)
		}
	}
	for _, tc := range []struct {
		max  int
		idle time.Duration
		want topology.ExposeOptions
	}{
		{1024, 5 * time.Minute, topology.ExposeOptions{MaxConnsPerPort: 1024, IdleTimeout: 5 * time.Minute}},
		{0, 0, topology.ExposeOptions{MaxConnsPerPort: -1, IdleTimeout: -1}},
		{3, time.Second, topology.ExposeOptions{MaxConnsPerPort: 3, IdleTimeout: time.Second}},
	} {
		if got, err := exposeOptions(tc.max, tc.idle); err != nil || got != tc.want {
			t.Errorf("exposeOptions(%d, %v) = %+v, %v; want %+v", tc.max, tc.idle, got, err, tc.want)
		}
	}
}

func TestExposeSummary(t *testing.T) {
	for _, tc := range []struct {
		c    topology.ExposeCounters
		want string
	}{
		{topology.ExposeCounters{Accepted: 7, Active: 2}, ""},
		{topology.ExposeCounters{Accepted: 1, BlockedByGroups: 1},
			"1 blocked by security groups (of 1 connection accepted)"},
		{topology.ExposeCounters{Accepted: 40, RefusedOverCap: 3, BlockedByGroups: 2, DialFailed: 1, AcceptErrors: 5, IdleClosed: 4},
			"3 reset over the connection cap, 2 blocked by security groups, 1 failed to reach the instance, 5 failed accepts, 4 closed idle (of 40 connections accepted)"},
	} {
		if got := exposeSummary(topology.ExposeStats{ExposeCounters: tc.c}); got != tc.want {
			t.Errorf("exposeSummary(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestUpExposeCapAndIdle: up's flags reach the exposure — one connection
// per port, closed after a second of silence — and up says on exit what
// it refused and closed.
func TestUpExposeCapAndIdle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, closed := hostPort(t), hostPort(t)
	file := writeTopology(t, upTopology(open, closed))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startUp(ctx, "up", file, "--duration", "30s", "--max-conns-per-port", "1", "--idle-timeout", "1s")
	dialUntil(t, open)
	addr := fmt.Sprintf("127.0.0.1:%d", open)
	// A silent connection holds the one slot; earlier ones (dialUntil's
	// probe) may hold it for a moment yet, and are reset meanwhile.
	var silent net.Conn
	var start time.Time
	for deadline := time.Now().Add(10 * time.Second); silent == nil; {
		start = time.Now()
		c, err := net.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) { // the reset overtook the connect
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			silent = c
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("no connection was held open in 10 s")
		}
	}
	defer silent.Close()
	if err := hosttest.ResetAtOnce(addr); err != nil {
		t.Errorf("a second connection with --max-conns-per-port 1: %v", err)
	}
	silent.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a silent connection with --idle-timeout 1s: read %d, %v; want it closed", n, err)
	}
	if d := time.Since(start); d < time.Second || d > 8*time.Second {
		t.Errorf("the silent connection was closed after %v, want about 1 s", d)
	}

	cancel()
	stdout, stderr, code := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "vpclab up: exposed ports: ") {
			line = l
		}
	}
	if !strings.Contains(line, "reset over the connection cap") || !strings.Contains(line, "1 closed idle") {
		t.Errorf("stderr's summary line = %q, want the connection reset over the cap and the one closed idle\n%s", line, stderr)
	}
}
