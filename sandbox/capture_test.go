package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/internal/hosttest"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// threeTier builds examples/three-tier.yaml, closed at the end of the test.
func threeTier(t testing.TB) *topology.Lab {
	t.Helper()
	topo, err := topology.LoadFile("../examples/three-tier.yaml")
	require.NoError(t, err)
	lab, err := topology.Build(topo)
	require.NoError(t, err)
	t.Cleanup(func() { lab.Close() })
	return lab
}

// runExpects runs the lab's expect lines and checks that they pass.
func runExpects(t testing.TB, lab *topology.Lab) {
	t.Helper()
	for _, r := range lab.Run(context.Background(), topology.RunOptions{Timeout: 2 * time.Second}) {
		require.True(t, r.Pass, "%s: %s", r.Name, r.Detail)
	}
}

// readPcapng reads a pcapng file with pcapgo: its interface names and how
// many packets each has.
func readPcapng(t testing.TB, path string) (names []string, perIface map[string]int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	perIface = map[string]int{}
	for {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		intf, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		perIface[intf.Name]++
	}
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		names = append(names, intf.Name)
	}
	return names, perIface
}

// captureExpects captures, into a file named name in a temporary
// directory, a run of lab's expect lines, and closes the capture.
func captureExpects(t *testing.T, lab *topology.Lab, name string, opts PcapngOptions) (string, *Pcapng) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	p, err := StartPcapng(lab, f, opts)
	require.NoError(t, err)
	runExpects(t, lab)
	require.NoError(t, p.Close())
	return path, p
}

// TestPcapngCapturesARun: a run's capture reads back with pcapgo, with one
// interface per instance and one for the internet, each with frames.
func TestPcapngCapturesARun(t *testing.T) {
	lab := threeTier(t)
	path, p := captureExpects(t, lab, "run.pcapng", PcapngOptions{})
	require.NoError(t, p.Close(), "twice is harmless")
	st := p.Stats()
	assert.False(t, st.Stopped)
	assert.NotZero(t, st.Dropped, "the blocked expect lines' frames are in it")

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, st.Bytes, fi.Size(), "everything written is flushed to the file")
	names, per := readPcapng(t, path)
	assert.Equal(t, []string{"web-1", "app-1", "db-1", "internet"}, names)
	for _, n := range names {
		assert.NotZero(t, per[n], "no frame on %s", n)
	}
	total := 0
	for _, n := range per {
		total += n
	}
	assert.Equal(t, int(st.Frames), total)
}

// TestPcapngDropCommentsTshark: tshark reads the capture, and the SYN of a
// blocked expect line is there on the receiver's interface with a comment
// naming the drop code and the flow.
func TestPcapngDropCommentsTshark(t *testing.T) {
	tshark := hosttest.RequireTool(t, "tshark", "tshark")
	lab := threeTier(t)
	path, _ := captureExpects(t, lab, "run.pcapng", PcapngOptions{})

	out, err := exec.Command(tshark, "-r", path, "-Y", "frame.comment", "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.dstport", "-e", "frame.comment").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var found bool
	for line := range strings.Lines(string(out)) {
		fs := strings.Split(strings.TrimSpace(line), "|")
		if len(fs) == 5 && fs[0] == "db-1" && isTrue(fs[1]) && !isTrue(fs[2]) && fs[3] == "5432" &&
			strings.Contains(fs[4], "SG_DEFAULT_DENY (ingress) from web-1 to db-1") {
			found = true
		}
	}
	assert.True(t, found, "no commented SYN web-1 → db-1:5432 on db-1 in:\n%s", out)
}

// isTrue reads a tshark boolean field (1 in 4.0, True in later versions).
func isTrue(s string) bool { return s == "1" || s == "True" }

// TestPcapngMaxBytes: the bound stops the file at or under it, near it,
// says so once in the log and in the file's last packet comment, and the
// file still reads back.
func TestPcapngMaxBytes(t *testing.T) {
	lab := threeTier(t)
	path := filepath.Join(t.TempDir(), "bounded.pcapng")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	var logBuf syncBuffer
	const limit = 8 << 10
	p, err := StartPcapng(lab, f, PcapngOptions{MaxBytes: limit, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	require.NoError(t, err)
	runExpects(t, lab)
	runExpects(t, lab)
	require.NoError(t, p.Close())

	st := p.Stats()
	assert.True(t, st.Stopped)
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.LessOrEqual(t, fi.Size(), int64(limit))
	assert.Greater(t, fi.Size(), int64(limit-1600), "stopped near the bound (a frame here is < 1500 bytes)")
	assert.Equal(t, 1, strings.Count(logBuf.String(), "reached its bound"), "said once: %s", logBuf.String())
	_, per := readPcapng(t, path)
	total := 0
	for _, n := range per {
		total += n
	}
	assert.Equal(t, int(st.Frames)+1, total, "the frames and the stop marker")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.LastIndex(data, []byte("vpclab: capture stopped"))
	require.Positive(t, i, "the stop comment is in the file")
	assert.Less(t, len(data)-i, 200, "in its last block")
}

// TestPcapngMaxBytesTooSmall: a bound smaller than the header is an error.
func TestPcapngMaxBytesTooSmall(t *testing.T) {
	lab := threeTier(t)
	_, err := StartPcapng(lab, io.Discard, PcapngOptions{MaxBytes: 100})
	require.ErrorContains(t, err, "max bytes 100 is less than the file's header")
	_, err = StartPcapng(lab, io.Discard, PcapngOptions{MaxBytes: -1})
	require.ErrorContains(t, err, "must not be negative")
}

// TestPcapngWriteError: a failing writer stops the capture, warns once and
// Close returns the error; the data path goes on.
func TestPcapngWriteError(t *testing.T) {
	lab := threeTier(t)
	w := &failAfter{n: 1} // the header only
	var logBuf syncBuffer
	p, err := StartPcapng(lab, w, PcapngOptions{Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	require.NoError(t, err)
	runExpects(t, lab)
	err = p.Close()
	require.ErrorIs(t, err, errDiskFull)
	assert.True(t, p.Stats().Stopped)
	assert.Equal(t, 1, strings.Count(logBuf.String(), "writing the capture failed"), logBuf.String())
}

var errDiskFull = errors.New("disk full")

// failAfter accepts n writes, then fails.
type failAfter struct{ n int }

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errDiskFull
	}
	w.n--
	return len(p), nil
}

// TestPcapngFrameAllocs: writing a frame allocates nothing.
func TestPcapngFrameAllocs(t *testing.T) {
	lab := threeTier(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "allocs.pcapng"))
	require.NoError(t, err)
	defer f.Close()
	p, err := StartPcapng(lab, f, PcapngOptions{})
	require.NoError(t, err)
	defer p.Close()
	frame := make([]byte, 1500)
	frame[0] = 0x45
	allocs := testing.AllocsPerRun(1000, func() { p.Frame("web-1", netstack.OwnerInstance, firewall.Egress, frame, len(frame)) })
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(1000, func() { p.Frame("customer", netstack.OwnerInternetHost, firewall.Ingress, frame, len(frame)) })
	assert.Zero(t, allocs)
	small := netstack.FrameFromBytes(frame)
	defer small.Release()
	allocs = testing.AllocsPerRun(1000, func() { p.FrameViews("web-1", netstack.OwnerInstance, firewall.Ingress, small) })
	assert.Zero(t, allocs, "a small frame copied from its views")
	super := make([]byte, 60000)
	super[0] = 0x45
	big := netstack.FrameFromBytes(super)
	defer big.Release()
	allocs = testing.AllocsPerRun(1000, func() { p.FrameViews("web-1", netstack.OwnerInstance, firewall.Egress, big) })
	assert.Zero(t, allocs, "a super-segment queued by reference")
}

func TestDropComment(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   netstack.DropEvent
		want string
	}{
		{"default deny", netstack.DropEvent{From: "web-1", To: "db-1", Explanation: firewall.Explanation{
			Code: "SG_DEFAULT_DENY", Direction: "ingress", RuleIndex: -1,
			Step: "ingress: no rule matched; the implicit default (priority 110) denies"}},
			"vpclab: dropped SG_DEFAULT_DENY (ingress) from web-1 to db-1: ingress: no rule matched; the implicit default (priority 110) denies"},
		{"a drop rule", netstack.DropEvent{From: "customer", To: "web-1", Explanation: firewall.Explanation{
			Code: "SG_RULE_DROP", Direction: "ingress", Group: "sg-web", RuleIndex: 2, Step: "ingress: rule 2 of sg-web",
			Rule: "ingress drop tcp 22/22 from 0.0.0.0/0", Description: "no ssh", ManagedBy: "ack-controller"}},
			`vpclab: dropped SG_RULE_DROP (ingress) from customer to web-1: ingress: rule 2 of sg-web; group sg-web rule 2 [ingress drop tcp 22/22 from 0.0.0.0/0]; description "no ssh"; managed by ack-controller`},
		{"no route, unknown source", netstack.DropEvent{To: "8.8.8.8", Explanation: firewall.Explanation{
			Code: "NO_ROUTE_TO_INTERNET", RuleIndex: -1, Step: "route: the instance has no EIP and its vswitch no SNAT entry"}},
			"vpclab: dropped NO_ROUTE_TO_INTERNET from ? to 8.8.8.8: route: the instance has no EIP and its vswitch no SNAT entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, DropComment(&tc.ev))
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPcapngTcpdump: tcpdump reads the capture of a run whole.
func TestPcapngTcpdump(t *testing.T) {
	tcpdump := hosttest.RequireTool(t, "tcpdump", "tcpdump")
	lab := threeTier(t)
	path, p := captureExpects(t, lab, "run.pcapng", PcapngOptions{})

	out, err := exec.Command(tcpdump, "-n", "-r", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Count(string(out), "\n")
	assert.Equal(t, int(p.Stats().Frames), lines-1, "one line per frame after the header line:\n%s", out)
	assert.Contains(t, string(out), "10.0.1.1.", "web-1's address")
	assert.Contains(t, string(out), ".5432: Flags [S]", "the blocked SYN to db-1")
}

// TestPcapngSnapLen: a snap length cuts each frame and keeps its whole
// length; an out-of-range one is an error.
func TestPcapngSnapLen(t *testing.T) {
	lab := threeTier(t)
	path, _ := captureExpects(t, lab, "snap.pcapng", PcapngOptions{SnapLen: 64})

	r, err := pcapgo.NewNgReader(mustOpen(t, path), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	longer := 0
	for {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		assert.LessOrEqual(t, ci.CaptureLength, 64)
		if ci.Length > 64 {
			longer++
		}
	}
	assert.NotZero(t, longer, "the http answers are longer than 64 bytes")

	for _, snap := range []int{-1, snapLength + 1} {
		_, err := StartPcapng(lab, io.Discard, PcapngOptions{SnapLen: snap})
		require.ErrorContains(t, err, "must be between 0 (whole frames) and 262144")
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
