package sandbox

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

// TestPcapngBulkBytesIntact streams 4 MiB of a known pattern between two
// instances under a whole-frame capture and checks every captured TCP
// payload byte, on both NICs, against the pattern at its sequence number:
// super-segments are kept by reference until the writer copies them, so
// a buffer reused or changed before then would show here.
func TestPcapngBulkBytesIntact(t *testing.T) {
	topo, err := topology.Load("bulk.yaml", []byte(captureBenchTopology))
	require.NoError(t, err)
	lab, err := topology.Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	path := filepath.Join(t.TempDir(), "bulk.pcapng")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	p, err := StartPcapng(lab, f, PcapngOptions{})
	require.NoError(t, err)

	cli, srv := lab.VPC.Instance("cli"), lab.VPC.Instance("srv")
	l, err := srv.Listen(5001)
	require.NoError(t, err)
	defer l.Close()
	const total = 4 << 20
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	c, err := cli.Dial(context.Background(), "tcp", netip.AddrPortFrom(srv.Addr(), 5001))
	require.NoError(t, err)
	pattern := func(off uint32) byte { return byte(off % 251) }
	buf := make([]byte, total)
	for k := range buf {
		buf[k] = pattern(uint32(k))
	}
	_, err = c.Write(buf)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.EqualValues(t, total, <-got)
	require.NoError(t, p.Close())

	r, err := pcapgo.NewNgReader(mustOpen(t, path), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var isn uint32
	var synSeen bool
	checked := map[int]int64{} // payload bytes checked per interface
	big := 0
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.NoCopy)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.DstPort != 5001 {
			continue
		}
		if tcp.SYN {
			isn, synSeen = tcp.Seq+1, true
			continue
		}
		require.True(t, synSeen, "data before the SYN")
		if len(data) > copyFrameBelow {
			big++
		}
		off := tcp.Seq - isn
		for k, b := range tcp.Payload {
			if b != pattern(off+uint32(k)) {
				t.Fatalf("interface %d: payload byte at stream offset %d is %d, want %d", ci.InterfaceIndex, off+uint32(k), b, pattern(off+uint32(k)))
			}
		}
		checked[ci.InterfaceIndex] += int64(len(tcp.Payload))
	}
	assert.Len(t, checked, 2, "the stream on both NICs")
	for id, n := range checked {
		assert.GreaterOrEqual(t, n, int64(total), "interface %d", id)
	}
	assert.Positive(t, big, "frames above copyFrameBelow went by reference")
}
