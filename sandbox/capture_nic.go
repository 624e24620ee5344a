package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// CaptureNIC writes every frame crossing the NIC of one instance (or
// internet host) of a running lab to w as a classic pcap stream — link type
// raw IPv4, microsecond timestamps — so that `tcpdump -r -` can read it from
// a pipe: frames the instance sent as it sent them, frames delivered to it
// after NAT. Frames the security groups dropped before the NIC are not in
// it (as on a cloud NIC; StartPcapng records them). Each frame is flushed
// to w as it is written. A write error (the reader went away) ends the
// capture; stop ends it too, waits until no frame is being written, and
// returns the first write error. An unknown name is an error naming it.
func CaptureNIC(lab *topology.Lab, instance string, w io.Writer) (stop func() error, err error) {
	c := &nicCapture{bw: bufio.NewWriterSize(w, 64<<10)}
	c.pw = pcapgo.NewWriter(c.bw)
	if err := c.pw.WriteFileHeader(snapLength, layers.LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("capture %s: %w", instance, err)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, fmt.Errorf("capture %s: %w", instance, err)
	}
	remove, err := lab.VPC.AddCapture(c, instance)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	var once sync.Once
	return func() error {
		once.Do(remove)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.done = true
		return c.err
	}, nil
}

// nicCapture is CaptureNIC's netstack.Capture.
type nicCapture struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	pw   *pcapgo.Writer
	done bool
	err  error
}

// Frame implements netstack.Capture.
func (c *nicCapture) Frame(_ string, _ netstack.OwnerKind, _ firewall.Direction, ip []byte, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.done {
		return
	}
	err := c.pw.WritePacket(gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(ip), Length: len(ip)}, ip)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.err = fmt.Errorf("capture: %w", err)
		c.done = true
	}
}

// Dropped implements netstack.Capture: a classic pcap has no comments, and
// a dropped frame never crossed the NIC.
func (*nicCapture) Dropped(string, netstack.OwnerKind, []byte, int, *netstack.DropEvent) {}
