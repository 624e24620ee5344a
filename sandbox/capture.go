package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// DefaultPcapMaxBytes bounds a capture file when PcapngOptions.MaxBytes is
// 0: 1 GiB.
const DefaultPcapMaxBytes = 1 << 30

// InternetInterface is the pcapng interface of the internet side: the NICs
// of every internet host.
const InternetInterface = "internet"

// MaxSnapLen is the largest snap length, and the one written in capture
// headers by default: more than the largest frame (a 64 KiB TCP
// super-segment), as tcpdump's default.
const MaxSnapLen = 262144

const snapLength = MaxSnapLen

// PcapngOptions tune StartPcapng.
type PcapngOptions struct {
	// MaxBytes bounds the file: a frame that would take it past MaxBytes
	// is not written, nor is anything after it. 0: DefaultPcapMaxBytes.
	MaxBytes int64
	// SnapLen keeps at most this many bytes of each frame, as tcpdump -s
	// does (the file records each frame's whole length). 0: whole frames.
	SnapLen int
	// Log gets one warning when the bound stops the capture or a write
	// fails (nil: none).
	Log *slog.Logger
}

// PcapngStats count what a Pcapng wrote.
type PcapngStats struct {
	Frames  uint64 // frames written, dropped ones included
	Dropped uint64 // dropped frames written, each with its comment
	Bytes   int64  // bytes written, headers included
	Stopped bool   // the bound or a write error stopped the capture
}

// Pcapng writes every frame of a lab — on each instance's NIC and on the
// internet side — and every frame the data plane drops to a pcapng stream:
// one interface per instance, named by it, and one named "internet", link
// type IPv4 (LINKTYPE_IPV4: libpcap refuses a pcapng whose second
// interface has LINKTYPE_RAW). A dropped frame is written on the NIC it is
// charged to (see netstack.Capture) with a packet comment naming the drop
// code, the deciding group and rule. The data path copies no frame: the
// batch keeps references to the stack's buffer views (netstack.ViewCapture)
// and the Pcapng's goroutine copies the bytes into its write. Each frame is flushed to the writer at once — by a goroutine of the
// Pcapng, in one write with the frames that came while the previous write
// ran — and never fsync'ed. At most 1 MiB waits: a writer slower than the
// VPC slows the VPC down rather than losing frames. Close ends the
// goroutine.
type Pcapng struct {
	log    *slog.Logger
	remove func()

	mu      sync.Mutex
	batch   *batchWriter
	w       countingWriter // over batch; the NgWriter writes into it
	ng      *pcapgo.NgWriter
	ifaces  map[string]int // by instance name, and InternetInterface
	max     int64
	snap    int
	reserve int64 // room kept for the stop comment
	stopped bool  // by the bound or a write error
	closed  bool
	err     error
	frames  uint64
	dropped uint64
	block   []byte // scratch for a commented packet block
}

// nic is an interface of the file: its name and description.
type nic struct{ name, desc string }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// StartPcapng writes the pcapng header for lab's NICs to w and starts
// capturing. Close stops it; w is not closed.
func StartPcapng(lab *topology.Lab, w io.Writer, opts PcapngOptions) (*Pcapng, error) {
	p := &Pcapng{log: opts.Log, max: opts.MaxBytes, ifaces: map[string]int{}}
	if p.max == 0 {
		p.max = DefaultPcapMaxBytes
	}
	if p.max < 0 {
		return nil, fmt.Errorf("pcap: max bytes %d: must not be negative", p.max)
	}
	p.snap = opts.SnapLen
	switch {
	case p.snap < 0 || p.snap > snapLength:
		return nil, fmt.Errorf("pcap: snap length %d: must be between 0 (whole frames) and %d", p.snap, snapLength)
	case p.snap == 0:
		p.snap = snapLength
	}
	p.batch = newBatchWriter(w, 1<<20)
	p.w.w = p.batch
	p.reserve = int64(len(p.commentBlock(0, 0, 0, time.Time{}, p.stopComment())))

	var nics []nic
	for _, in := range lab.Topology.Instances {
		ip := in.IP.String()
		if addr := lab.VPC.Instance(in.Name); addr != nil {
			ip = addr.Addr().String() // an address Build assigned
		}
		nics = append(nics, nic{in.Name, fmt.Sprintf("instance %s (%s on %s)", in.Name, ip, in.VSwitch)})
	}
	nics = append(nics, nic{InternetInterface, "the internet side: every internet host"})
	intf := func(n nic) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: n.name, Description: n.desc, OS: runtime.GOOS,
			LinkType: layers.LinkTypeIPv4, SnapLength: uint32(p.snap), TimestampResolution: 9}
	}
	if _, err := p.start(lab, nics, intf); err != nil {
		p.batch.Close()
		return nil, err
	}
	return p, nil
}

// start writes the header and starts capturing; on error the caller closes
// p.batch.
func (p *Pcapng) start(lab *topology.Lab, nics []nic, intf func(nic) pcapgo.NgInterface) (*Pcapng, error) {
	ng, err := pcapgo.NewNgWriterInterface(&p.w, intf(nics[0]), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "vpclab",
		Comment: fmt.Sprintf("vpclab capture of VPC %s (%s)", lab.Topology.VPC.Name, lab.Topology.File),
	}})
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	p.ng = ng
	p.ifaces[nics[0].name] = 0
	for _, n := range nics[1:] {
		id, err := ng.AddInterface(intf(n))
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
		p.ifaces[n.name] = id
	}
	if err := ng.Flush(); err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	if p.w.n+p.reserve > p.max {
		return nil, fmt.Errorf("pcap: max bytes %d is less than the file's header (%d bytes for %d interfaces)",
			p.max, p.w.n+p.reserve, len(nics))
	}
	remove, err := lab.VPC.AddCapture(p)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	p.remove = remove
	return p, nil
}

// Close stops the capture, waits until everything is written to the
// writer and returns the first write error. It is safe to call twice.
func (p *Pcapng) Close() error {
	p.remove()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if err := p.batch.Close(); err != nil {
		p.fail(err)
	}
	return p.err
}

// Stats returns what was written so far.
func (p *Pcapng) Stats() PcapngStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PcapngStats{Frames: p.frames, Dropped: p.dropped, Bytes: p.w.n, Stopped: p.stopped}
}

// iface returns the interface of an endpoint's NIC. The caller holds p.mu.
func (p *Pcapng) iface(name string, kind netstack.OwnerKind) (int, bool) {
	if kind == netstack.OwnerInternetHost {
		name = InternetInterface
	}
	id, ok := p.ifaces[name]
	return id, ok
}

// SnapLen implements netstack.Snapper: the data path copies no more of a
// frame than the file keeps.
func (p *Pcapng) SnapLen() int {
	if p.snap >= snapLength {
		return 0
	}
	return p.snap
}

// Frame implements netstack.Capture, for a frame given flat.
func (p *Pcapng) Frame(name string, kind netstack.OwnerKind, _ firewall.Direction, ip []byte, size int) {
	p.frame(name, kind, ip, netstack.FrameData{}, max(size, len(ip)))
}

// FrameViews implements netstack.ViewCapture: for a frame of more than
// copyFrameBelow bytes the batch keeps a reference to its views and its
// goroutine copies the bytes into the write, so the data path copies
// nothing; a smaller one (an ACK, a snap length's worth) is copied at once,
// which costs less than the reference counts.
func (p *Pcapng) FrameViews(name string, kind netstack.OwnerKind, _ firewall.Direction, f netstack.FrameData) {
	p.frame(name, kind, nil, f, f.Len())
}

// frame writes an Enhanced Packet Block (pcapng §4.3, as pcapgo's
// NgWriter.WritePacket writes it: no options, little endian) for the
// first p.snap bytes of ip, or of f when ip is nil.
func (p *Pcapng) frame(name string, kind netstack.OwnerKind, ip []byte, f netstack.FrameData, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now() // under the lock: the file is in time order
	id, ok := p.iface(name, kind)
	if !ok || p.stopped || p.closed {
		return
	}
	n := min(size, p.snap)
	if ip != nil {
		n = min(len(ip), p.snap)
	}
	total := enhancedPacketLen(n, 0)
	if !p.fits(total, id, size, now) {
		return
	}
	var head [28]byte
	var tail [8]byte
	le := binary.LittleEndian
	tsn := uint64(now.UnixNano())
	le.PutUint32(head[0:], blockEnhancedPacket)
	le.PutUint32(head[4:], uint32(total))
	le.PutUint32(head[8:], uint32(id))
	le.PutUint32(head[12:], uint32(tsn>>32))
	le.PutUint32(head[16:], uint32(tsn))
	le.PutUint32(head[20:], uint32(n))
	le.PutUint32(head[24:], uint32(size))
	pad := pad4(n) - n
	le.PutUint32(tail[pad:], uint32(total))
	var err error
	if ip == nil && n > copyFrameBelow {
		err = p.batch.writeFrame(head[:], f, n, tail[:pad+4])
	} else {
		var b []byte
		if b, err = p.batch.grab(total); err == nil {
			copy(b, head[:])
			if ip != nil {
				copy(b[28:], ip[:n])
			} else {
				f.AppendTo(b[28:28], n)
			}
			copy(b[28+n:], tail[:pad+4])
			p.batch.filled()
		}
	}
	if err != nil {
		p.fail(err)
		return
	}
	p.w.n += int64(total)
	p.frames++
}

// Dropped implements netstack.Capture: the frame, with a comment saying
// why it was dropped.
func (p *Pcapng) Dropped(name string, kind netstack.OwnerKind, ip []byte, size int, ev *netstack.DropEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.iface(name, kind)
	if !ok || p.stopped || p.closed {
		return
	}
	comment := DropComment(ev)
	if len(comment) > maxComment {
		comment = comment[:maxComment]
	}
	now := time.Now() // not ev.Time: the file is in time order
	data := ip[:min(len(ip), p.snap)]
	if !p.fits(commentBlockLen(len(data), len(comment)), id, size, now) {
		return
	}
	if err := p.writeBlock(p.commentBlock(id, len(data), size, now, comment), data); err != nil {
		p.fail(err)
		return
	}
	p.frames++
	p.dropped++
}

// DropComment is the packet comment of a dropped frame: the drop code, the
// direction, where it went, and the deciding step, group, rule and its
// description.
func DropComment(ev *netstack.DropEvent) string {
	e := &ev.Explanation
	s := "vpclab: dropped " + e.Code
	if e.Direction != "" {
		s += " (" + e.Direction + ")"
	}
	s += " from " + orUnknown(ev.From) + " to " + orUnknown(ev.To) + ": " + e.Step
	if e.Group != "" && e.RuleIndex >= 0 {
		s += fmt.Sprintf("; group %s rule %d", e.Group, e.RuleIndex)
		if e.Rule != "" {
			s += " [" + e.Rule + "]"
		}
	}
	if e.Description != "" {
		s += fmt.Sprintf("; description %q", e.Description)
	}
	if e.ManagedBy != "" {
		s += "; managed by " + e.ManagedBy
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// fits reports whether a block of n bytes may still be written. When it
// may not, the capture stops: it writes an empty packet on interface id
// whose comment says so (the room for it was kept), and warns once. The
// caller holds p.mu.
func (p *Pcapng) fits(n, id, size int, ts time.Time) bool {
	if p.w.n+int64(n)+p.reserve <= p.max {
		return true
	}
	p.stopped = true
	if err := p.writeBlock(p.commentBlock(id, 0, size, ts, p.stopComment()), nil); err != nil {
		p.fail(err)
		return false
	}
	if p.log != nil {
		p.log.Warn("pcap: the capture reached its bound; later frames are not written", "max_bytes", p.max, "frames", p.frames)
	}
	return false
}

func (p *Pcapng) stopComment() string {
	return fmt.Sprintf("vpclab: capture stopped: the next frame would take the file past %d bytes (--pcap-max-bytes); later frames are not written", p.max)
}

// fail records the first write error and stops the capture. The caller
// holds p.mu.
func (p *Pcapng) fail(err error) {
	if p.err == nil {
		p.err = fmt.Errorf("pcap: %w", err)
		if p.log != nil {
			p.log.Warn("pcap: writing the capture failed; later frames are not written", "err", err)
		}
	}
	p.stopped = true
}

// writeBlock writes a packet block built by commentBlock with its data, in
// one write after what the NgWriter holds. The caller holds p.mu.
func (p *Pcapng) writeBlock(block, data []byte) error {
	if err := p.ng.Flush(); err != nil {
		return err
	}
	p.block = append(append(append(p.block[:0], block[:28]...), data...), block[28:]...)
	_, err := p.w.Write(p.block)
	return err
}

// enhancedPacketLen is the length of an Enhanced Packet Block with n bytes
// of data and options of optLen bytes (0: none).
func enhancedPacketLen(n, optLen int) int { return 32 + pad4(n) + optLen }

// commentBlockLen is the length of an Enhanced Packet Block with n bytes of
// data and a comment of c bytes.
func commentBlockLen(n, c int) int { return enhancedPacketLen(n, 4+pad4(c)+4) }

// copyFrameBelow is the size up to which a captured frame is copied into
// the batch at once rather than kept by reference (BenchmarkCaptureFrame:
// taking and dropping a reference to a super-segment's views costs about
// what copying 4 KiB does).
const copyFrameBelow = 4 << 10

// blockEnhancedPacket is the type of an Enhanced Packet Block.
const blockEnhancedPacket = 6

// maxComment is the longest comment a pcapng option holds, rounded down.
const maxComment = 1<<16 - 4

func pad4(n int) int { return (n + 3) &^ 3 }

// commentBlock returns an Enhanced Packet Block (pcapng §4.3) for n bytes of
// data, which it leaves out: the 28 bytes before them, then the padding,
// the opt_comment option and the trailer. pcapgo's NgWriter writes no
// packet options, so this writes the block itself, in the section's byte
// order (little endian, as NgWriter writes it).
func (p *Pcapng) commentBlock(id, n, size int, ts time.Time, comment string) []byte {
	const optComment = 1
	total := commentBlockLen(n, len(comment))
	b := make([]byte, 0, total-n)
	le := binary.LittleEndian
	var tsn int64
	if !ts.IsZero() {
		tsn = ts.UnixNano()
	}
	b = le.AppendUint32(b, blockEnhancedPacket)
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, uint32(id))
	b = le.AppendUint32(b, uint32(uint64(tsn)>>32))
	b = le.AppendUint32(b, uint32(tsn))
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(max(size, n)))
	b = append(b, make([]byte, pad4(n)-n)...)
	b = le.AppendUint16(b, optComment)
	b = le.AppendUint16(b, uint16(len(comment)))
	b = append(b, comment...)
	b = append(b, make([]byte, pad4(len(comment))-len(comment))...)
	b = le.AppendUint32(b, 0) // opt_endofopt
	b = le.AppendUint32(b, uint32(total))
	return b
}
