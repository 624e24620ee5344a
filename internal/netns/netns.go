// Package netns builds a vpclab topology as Linux network namespaces — the
// baseline a Mininet- or containerlab-style lab uses — so the kernel can
// answer the same expectations as vpclab (a second opinion) and so the
// benchmarks can compare against it: one namespace per instance, a veth pair
// from each into one bridge (its own namespace: the host's is never
// touched), and the security groups translated rule by rule into iptables
// in each instance's namespace (INPUT is ingress, OUTPUT egress).
//
// Everything is named with the prefix vlns-PID- and removed by Close, on
// SIGINT/SIGTERM, and by the sweep every New runs of namespaces left by a
// process that is gone. It needs root, ip and iptables; Available says why
// not.
package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "vlns-"

// Available reports why namespaces cannot be built here, or nil: not root,
// ip or iptables missing, or namespaces refused (an unprivileged
// container).
func Available() error {
	availOnce.Do(func() { availErr = available() })
	return availErr
}

var (
	availOnce sync.Once
	availErr  error
)

func available() error {
	if os.Geteuid() != 0 {
		return errors.New("linux namespaces: not root")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("linux namespaces: %s not found (apt-get install -y iproute2 iptables)", tool)
		}
	}
	name := fmt.Sprintf("%s%d-probe", Prefix, os.Getpid())
	if err := run(nil, "ip", "netns", "add", name); err != nil {
		return fmt.Errorf("linux namespaces: %w", err)
	}
	defer run(nil, "ip", "netns", "del", name)
	if err := run(strings.NewReader("*filter\nCOMMIT\n"), "ip", "netns", "exec", name, "iptables-restore"); err != nil {
		return fmt.Errorf("linux namespaces: iptables in a namespace: %w", err)
	}
	return nil
}

// run runs a command, with stdin when given, and returns its stderr in
// the error.
func run(stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Sweep deletes the namespaces a process that no longer runs left behind
// (a crash or SIGKILL; Close and the signal handler remove the rest).
func Sweep() error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		errs = append(errs, run(nil, "ip", "netns", "del", name))
	}
	return errors.Join(errs...)
}

// live holds the labs not yet closed, so a signal removes them; its
// goroutine runs while at least one lab is open.
var live struct {
	sync.Mutex
	labs map[*Lab]struct{}
	sig  chan os.Signal
	done chan struct{}
}

func track(l *Lab) {
	live.Lock()
	defer live.Unlock()
	if live.labs == nil {
		live.labs = map[*Lab]struct{}{}
	}
	live.labs[l] = struct{}{}
	if live.sig != nil {
		return
	}
	sig, done := make(chan os.Signal, 1), make(chan struct{})
	live.sig, live.done = sig, done
	// A signal the process ignores (SIGINT of a background job) stays
	// ignored: catching it would end a lab its owner meant to keep.
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(s) {
			signal.Notify(sig, s)
		}
	}
	go func() {
		defer close(done)
		s, ok := <-sig
		if !ok {
			return
		}
		live.Lock()
		labs := live.labs
		live.labs = nil
		live.Unlock()
		for l := range labs {
			l.remove()
		}
		signal.Reset(s)
		syscall.Kill(os.Getpid(), s.(syscall.Signal))
	}()
}

func untrack(l *Lab) {
	live.Lock()
	delete(live.labs, l)
	var sig chan os.Signal
	var done chan struct{}
	if len(live.labs) == 0 && live.sig != nil {
		sig, done = live.sig, live.done
		live.sig, live.done = nil, nil
		signal.Stop(sig)
	}
	live.Unlock()
	if sig != nil {
		close(sig)
		<-done
	}
}

// inNS runs fn on a thread switched into the namespace name: sockets fn
// creates stay in it. The thread returns to the process's namespace after
// fn; if it cannot, it is left locked so the runtime ends it.
func inNS(name string, fn func() error) error {
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return errors.Join(ferr, fmt.Errorf("setns back: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
