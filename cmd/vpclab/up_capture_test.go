package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpPcapSIGINT runs a real `vpclab up --pcap` on the three-tier
// example, interrupts it, and reads the file back with tcpdump and tshark:
// it is whole (exit 0 after SIGINT), names every NIC's interface, and holds
// the SYN of a blocked expect line with its drop comment.
func TestUpPcapSIGINT(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs SIGINT")
	}
	tcpdump := requireTool(t, "tcpdump", "tcpdump")
	tshark := requireTool(t, "tshark", "tshark")
	pcap := filepath.Join(t.TempDir(), "run.pcapng")

	var stdout, stderr bytes.Buffer
	errw := &lockedWriter{w: &stderr}
	cmd := exec.Command(os.Args[0], "up", "--pcap", pcap, "../../examples/three-tier.yaml")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = &stdout, errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(lockedString(errw, &stderr), "press Ctrl-C") {
		select {
		case err := <-exited:
			t.Fatalf("up exited early: %v\n%s", err, lockedString(errw, &stderr))
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("up did not come up:\n%s", lockedString(errw, &stderr))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("up after SIGINT: %v (want exit 0)\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "vpclab up: capture: ") || !strings.Contains(stderr.String(), "dropped) in "+pcap) {
		t.Errorf("stderr does not say what the capture holds:\n%s", stderr.String())
	}
	if fi, err := os.Stat(pcap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("capture file: %v, %v; want mode 0600", fi, err)
	}

	out, err := exec.Command(tcpdump, "-n", "-r", pcap).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ".5432: Flags [S]") {
		t.Errorf("tcpdump -r: %v\n%s", err, out)
	}
	out, err = exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.interface_name").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	for _, name := range []string{"web-1", "app-1", "db-1", "internet"} {
		if !strings.Contains(string(out), name+"\n") {
			t.Errorf("no frame on interface %s:\n%s", name, out)
		}
	}
	out, err = exec.Command(tshark, "-r", pcap, "-Y", "frame.comment && tcp.flags.syn == 1 && tcp.dstport == 5432",
		"-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -Y frame.comment: %v\n%s", err, out)
	}
	want := "db-1\tvpclab: dropped SG_DEFAULT_DENY (ingress) from web-1 to db-1: ingress: no rule matched"
	if !strings.Contains(string(out), want) {
		t.Errorf("the blocked SYN web-1 → db-1:5432 has no drop comment on db-1; want %q in:\n%s", want, out)
	}
}

func lockedString(l *lockedWriter, b *bytes.Buffer) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return b.String()
}

// TestUpPcapMaxBytes: the bound stops the file at or under it, and up says
// so on stderr, once when it happens and in its summary.
func TestUpPcapMaxBytes(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "bounded.pcapng")
	_, stderr, code, err := runVPCLab(t, "up", "--pcap", pcap, "--pcap-max-bytes", "8KiB", "--duration", "1ms", "../../examples/three-tier.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	fi, err := os.Stat(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8<<10 || fi.Size() < 8<<10-1600 {
		t.Errorf("file is %d bytes; want just under %d", fi.Size(), 8<<10)
	}
	if n := strings.Count(stderr, "reached its bound"); n != 1 {
		t.Errorf("the bound is reported %d times; want once:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "; stopped at --pcap-max-bytes") {
		t.Errorf("the summary does not say the bound stopped it:\n%s", stderr)
	}
}

// TestUpPcapFlags: bad --pcap and --pcap-max-bytes are refused with exit 2
// before anything is built.
func TestUpPcapFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pcap", "-"}, "--pcap -: stdout carries up's report; give a file"},
		{[]string{"--pcap", filepath.Join(dir, "no", "such", "dir.pcapng")}, "--pcap: open " + filepath.Join(dir, "no", "such", "dir.pcapng") + ": no such file or directory"},
		{[]string{"--pcap", filepath.Join(dir, "x.pcapng"), "--pcap-max-bytes", "0"}, `invalid argument "0" for "--pcap-max-bytes" flag: "0": must be positive`},
		{[]string{"--pcap", filepath.Join(dir, "x.pcapng"), "--pcap-max-bytes", "lots"}, `"lots" is not a size`},
		{[]string{"--pcap", filepath.Join(dir, "x.pcapng"), "--pcap-max-bytes", "100"}, "max bytes 100 is less than the file's header"},
		{[]string{"--pcap", filepath.Join(dir, "x.pcapng"), "--pcap-snaplen", "-1"}, "--pcap-snaplen -1: must be between 0 (whole frames) and 262144"},
	} {
		_, stderr, code, err := runVPCLab(t, append([]string{"up", "../../examples/three-tier.yaml", "--duration", "1ms"}, tc.args...)...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("up %v: exit %d, %v; want exit 2 and %q\n%s", tc.args, code, err, tc.want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pcapng")); !os.IsNotExist(err) {
		t.Errorf("a refused --pcap left its file behind: %v", err)
	}
}
