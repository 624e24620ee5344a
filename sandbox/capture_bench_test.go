package sandbox

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

// captureBenchTopology is two instances on one vswitch whose group lets the VPC
// reach TCP 5001.
const captureBenchTopology = `version: 1
name: bulk
vpc: {name: vpc-bench, cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg
    rules:
      - {direction: ingress, protocol: tcp, port_range: 5001/5001, source: 10.0.0.0/16}
instances:
  - {name: cli, vswitch: vsw, security_groups: [sg]}
  - {name: srv, vswitch: vsw, security_groups: [sg]}
`

// BenchmarkBulkTCPCapture measures one bulk TCP stream between two
// instances of a VPC (MTU 1500 with offload, written 1 MiB at a time, as
// netstack's BenchmarkBulkTCP) without a capture, with a pcapng capture of
// every NIC to a file (rewound every 256 MiB so the disk does not fill),
// with the same writer into io.Discard (the capture's own cost, without
// the file system's), and to a file keeping 128 bytes of each frame.
// The target is at least 70% of capture=off.
func BenchmarkBulkTCPCapture(b *testing.B) {
	for _, mode := range []string{"off", "file", "discard", "file-snap128"} {
		b.Run("capture="+mode, func(b *testing.B) {
			topo, err := topology.Load("bulk.yaml", []byte(captureBenchTopology))
			require.NoError(b, err)
			lab, err := topology.Build(topo)
			require.NoError(b, err)
			defer lab.Close()
			switch mode {
			case "file":
				f, err := os.Create(filepath.Join(b.TempDir(), "bulk.pcapng"))
				require.NoError(b, err)
				defer f.Close()
				p, err := StartPcapng(lab, &rewindFile{f: f, limit: 256 << 20}, PcapngOptions{MaxBytes: 1 << 62})
				require.NoError(b, err)
				defer p.Close()
			case "file-snap128":
				f, err := os.Create(filepath.Join(b.TempDir(), "bulk.pcapng"))
				require.NoError(b, err)
				defer f.Close()
				p, err := StartPcapng(lab, &rewindFile{f: f, limit: 256 << 20}, PcapngOptions{MaxBytes: 1 << 62, SnapLen: 128})
				require.NoError(b, err)
				defer p.Close()
			case "discard":
				p, err := StartPcapng(lab, io.Discard, PcapngOptions{MaxBytes: 1 << 62})
				require.NoError(b, err)
				defer p.Close()
			}
			benchBulk(b, lab, nil)
		})
	}
}

// rewindFile writes to f from its start again once limit bytes are
// written: a file's cost without its size.
type rewindFile struct {
	f     *os.File
	off   int64
	limit int64
}

func (r *rewindFile) Write(p []byte) (int, error) {
	if r.off+int64(len(p)) > r.limit {
		r.off = 0
	}
	n, err := r.f.WriteAt(p, r.off)
	r.off += int64(n)
	return n, err
}

// benchBulk streams 1 MiB writes from instance cli to srv of lab for the
// benchmark's loop and reports Gbit/s and cpu-ns/op (the process's CPU time
// per write, which does not count waiting for a core). done, if set, runs as
// soon as the loop ends, before the figures are taken.
func benchBulk(b *testing.B, lab *topology.Lab, done func()) {
	cli, srv := lab.VPC.Instance("cli"), lab.VPC.Instance("srv")
	l, err := srv.Listen(5001)
	require.NoError(b, err)
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	c, err := cli.Dial(context.Background(), "tcp", netip.AddrPortFrom(srv.Addr(), 5001))
	require.NoError(b, err)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var sent int64
	cpu := cpuTime()
	for b.Loop() {
		n, err := c.Write(buf)
		if err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
	}
	if done != nil {
		done()
	}
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(sent)*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
	c.Close()
	if n := <-received; n != sent {
		b.Fatalf("server received %d bytes, client sent %d", n, sent)
	}
}
