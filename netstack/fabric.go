package netstack

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Filter decides whether a frame from src to dst (nil dst: no port owns the
// destination) may pass.
//
// ip is the IPv4 header and transport bytes of the frame, contiguous and
// read-only, valid only during the call: the whole IPv4 header, then for TCP
// the whole TCP header with options, for UDP the 8-byte header, for ICMP the
// 8-byte header and, for an ICMP error, the quoted IPv4 header and the 8
// bytes after it — always cut at the end of the packet, and possibly followed
// by payload bytes. Later fragments carry only the IPv4 header. A TCP
// super-segment (host GSO) is one call: its IPv4 total length is the whole
// segment (up to 64 KiB) and its TCP checksum is partial.
//
// Filter runs in the sending stack's goroutine, concurrently for different
// frames, and must not block.
type Filter interface {
	Filter(src, dst *Port, ip []byte) bool
}

// Router decides where a frame goes and how its addresses are translated.
// When a fabric has a Router, the Router replaces both the Filter and the
// destination lookup: it returns the port to deliver to (nil: the frame is
// dropped; the Router accounts for the drop) and the NAT rewrite to apply
// on the way (the zero Rewrite changes nothing).
//
// ip and size are as for Filter: the frame's contiguous headers and the
// whole frame's length. Route runs in the sending stack's goroutine,
// concurrently for different frames, and must not block or retain ip.
type Router interface {
	Route(src *Port, ip []byte, size int) (dst *Port, nat Rewrite)
}

// FilterFunc adapts a function to a Filter.
type FilterFunc func(src, dst *Port, ip []byte) bool

// Filter calls f.
func (f FilterFunc) Filter(src, dst *Port, ip []byte) bool { return f(src, dst, ip) }

// Fabric is a virtual L3 switch: it carries every frame a plugged-in VNIC
// transmits to the Port that owns the frame's IPv4 destination address,
// after asking the Filter — or, when it has a Router (a VPC), wherever the
// Router says, with the NAT rewrite it asks for. It owns no goroutine: a frame crosses the fabric
// in the goroutine that transmitted it.
//
// Ports can be attached and detached while traffic flows. The address table
// is copy-on-write behind atomic pointers, so the per-frame lookup takes no
// lock; it is split into shards so that attaching or detaching copies only
// one shard (attaching 10,000 ports one by one to a single copy-on-write map
// copied 50 million entries).
type Fabric struct {
	mu     sync.Mutex // serializes table writers
	shards [tableShards]atomic.Pointer[map[uint32]*Port]
	nports atomic.Int64
	filter atomic.Pointer[filterRef]
	router atomic.Pointer[routerRef]
	closed bool // under mu

	unroutable atomic.Uint64
	filtered   atomic.Uint64
	malformed  atomic.Uint64

	// fault, when not nil, is the wire between the firewall and the
	// destination as tests impair it; see wireFault. Tests set it before
	// attaching any port; it is never set in production.
	fault wireFault
}

// wireFault sees every frame the fabric is about to deliver — after the
// Router or Filter let it through and NAT rewrote it — and may take it: it
// returns true when it took ownership of buf, and then delivers it later
// with deliverNow (possibly more than once, from any goroutine) or releases
// it. It returns false to let the frame through untouched. It runs in the
// sending stack's goroutine.
type wireFault func(src, dst *Port, buf buffer.Buffer, size int) (took bool)

type filterRef struct{ f Filter }

type routerRef struct{ r Router }

// tableShards is the number of shards of the address table.
const tableShards = 256

// shard returns the table shard holding key.
func (f *Fabric) shard(key uint32) *atomic.Pointer[map[uint32]*Port] {
	return &f.shards[f.shardIndex(key)]
}

// shardIndex returns the index of the table shard holding key.
func (f *Fabric) shardIndex(key uint32) int {
	return int((key * 0x9e3779b1) >> 24) // Fibonacci hashing: the top 8 bits
}

// lookup returns the port owning key, or nil.
func (f *Fabric) lookup(key uint32) *Port {
	if m := f.shard(key).Load(); m != nil {
		return (*m)[key]
	}
	return nil
}

// NewFabric returns an empty fabric with the given filter (nil: everything
// passes).
func NewFabric(f Filter) *Fabric {
	fab := &Fabric{}
	fab.SetFilter(f)
	return fab
}

// SetFilter replaces the filter (nil: everything passes). Frames already
// crossing may still be judged by the previous one.
func (f *Fabric) SetFilter(flt Filter) {
	if flt == nil {
		f.filter.Store(nil)
		return
	}
	f.filter.Store(&filterRef{f: flt})
}

// SetRouter installs a Router, which then decides for every frame instead
// of the address table and the Filter (nil: back to both).
func (f *Fabric) SetRouter(r Router) {
	if r == nil {
		f.router.Store(nil)
		return
	}
	f.router.Store(&routerRef{r: r})
}

// Attach plugs nic into the fabric as the owner of addr, with tag as the
// Port's Tag, and returns the Port. It fails if addr is not IPv4, if another
// port owns it, if nic is already plugged in (to a fabric or a Pipe), or if
// the fabric is closed.
func (f *Fabric) Attach(nic *VNIC, addr netip.Addr, tag any) (*Port, error) {
	ps, err := f.AttachAll([]PortSpec{{NIC: nic, Addr: addr, Tag: tag}})
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// PortSpec is a port for AttachAll to attach.
type PortSpec struct {
	NIC  *VNIC
	Addr netip.Addr
	Tag  any
}

// AttachAll attaches ports as Attach does each, copying every table shard
// it touches once: attaching n ports one by one to a table of m copies
// about n·m/256 entries (100,000 ports: 20 million), all at once m+n. On
// error none of them is attached.
func (f *Fabric) AttachAll(specs []PortSpec) ([]*Port, error) {
	ports := make([]*Port, len(specs))
	for i, s := range specs {
		if !s.Addr.Is4() {
			return nil, fmt.Errorf("fabric: attach %v: not an IPv4 address", s.Addr)
		}
		ports[i] = &Port{Tag: s.Tag, addr: s.Addr, key: addrKey(s.Addr), nic: s.NIC, fabric: f}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed && len(ports) > 0 {
		return nil, fmt.Errorf("fabric: attach %v: fabric closed", ports[0].addr)
	}
	var grow [tableShards]int // new entries per shard
	var batch map[uint32]bool // keys of this batch, when more than one
	if len(ports) > 1 {
		batch = make(map[uint32]bool, len(ports))
	}
	for _, p := range ports {
		if f.lookup(p.key) != nil || batch[p.key] {
			return nil, fmt.Errorf("fabric: attach %v: address already attached", p.addr)
		}
		if batch != nil {
			batch[p.key] = true
		}
		grow[f.shardIndex(p.key)]++
	}
	for i, p := range ports {
		if !p.nic.out.CompareAndSwap(nil, &wireRef{w: p}) {
			for _, q := range ports[:i] {
				q.unplug()
			}
			return nil, fmt.Errorf("fabric: attach %v: VNIC already plugged in", p.addr)
		}
	}
	var next [tableShards]map[uint32]*Port
	for _, p := range ports {
		i := f.shardIndex(p.key)
		if next[i] == nil {
			var old map[uint32]*Port
			if m := f.shards[i].Load(); m != nil {
				old = *m
			}
			next[i] = make(map[uint32]*Port, len(old)+grow[i])
			maps.Copy(next[i], old)
		}
		next[i][p.key] = p
	}
	for i, m := range next {
		if m != nil {
			f.shards[i].Store(&m)
		}
	}
	f.nports.Add(int64(len(ports)))
	return ports, nil
}

// Port returns the port that owns addr, or nil.
func (f *Fabric) Port(addr netip.Addr) *Port {
	if !addr.Is4() {
		return nil
	}
	return f.lookup(addrKey(addr))
}

// Ports returns the number of attached ports.
func (f *Fabric) Ports() int { return int(f.nports.Load()) }

// detach removes p from the table and unplugs its VNIC.
func (f *Fabric) detach(p *Port) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lookup(p.key) != p {
		return
	}
	sh := f.shard(p.key)
	old := *sh.Load()
	next := make(map[uint32]*Port, len(old))
	for k, q := range old {
		if q != p {
			next[k] = q
		}
	}
	sh.Store(&next)
	f.nports.Add(-1)
	p.unplug()
}

// unplug unplugs the port's VNIC if it is still plugged into this port.
func (p *Port) unplug() {
	if out := p.nic.out.Load(); out != nil && out.w == wire(p) {
		p.nic.out.CompareAndSwap(out, nil)
	}
}

// Close detaches every port. The fabric owns no goroutine; frames already
// crossing finish, later ones from detached VNICs are dropped at the VNIC.
func (f *Fabric) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for i := range f.shards {
		old := f.shards[i].Swap(nil)
		if old == nil {
			continue
		}
		for _, p := range *old {
			p.unplug()
		}
	}
	f.nports.Store(0)
	return nil
}

// FabricStats are the fabric-wide drop counters.
type FabricStats struct {
	Unroutable uint64 // no port owns the destination
	Filtered   uint64 // the filter said no
	Malformed  uint64 // not a well-formed IPv4 header
}

// Stats returns the fabric-wide drop counters.
func (f *Fabric) Stats() FabricStats {
	return FabricStats{
		Unroutable: f.unroutable.Load(),
		Filtered:   f.filtered.Load(),
		Malformed:  f.malformed.Load(),
	}
}

// forward carries one frame transmitted by src.
func (f *Fabric) forward(src *Port, pkt *stack.PacketBuffer) {
	size := pkt.Size()
	src.tx.frames.Add(1)
	src.tx.bytes.Add(uint64(size))
	if c := src.capture.Load(); c != nil {
		c.frame(true, pkt.ToBuffer())
	}

	ip, scratch := frameHeaders(pkt)
	if len(ip) < 20 || ip[0]>>4 != 4 || int(ip[0]&0x0f)*4 < 20 || len(ip) < int(ip[0]&0x0f)*4 {
		releaseScratch(scratch)
		f.malformed.Add(1)
		src.tx.dropped.Add(1)
		return
	}
	if r := f.router.Load(); r != nil {
		dst, nat := r.r.Route(src, ip, size)
		if dst == nil {
			releaseScratch(scratch)
			f.filtered.Add(1)
			src.tx.filtered.Add(1)
			return
		}
		if nat.Flags != 0 {
			buf := rewriteFrame(pkt, ip, &nat)
			releaseScratch(scratch)
			f.deliver(src, dst, buf, size)
			return
		}
		releaseScratch(scratch)
		f.deliver(src, dst, pkt.ToBuffer(), size)
		return
	}
	dst := f.lookup(binary.BigEndian.Uint32(ip[16:20]))
	if flt := f.filter.Load(); flt != nil && !flt.f.Filter(src, dst, ip) {
		releaseScratch(scratch)
		f.filtered.Add(1)
		src.tx.filtered.Add(1)
		return
	}
	releaseScratch(scratch)
	if dst == nil {
		f.unroutable.Add(1)
		src.tx.dropped.Add(1)
		return
	}
	f.deliver(src, dst, pkt.ToBuffer(), size)
}

// deliver hands buf, a frame of size bytes from src that deliver now owns,
// to dst, unless a test's wire fault takes it.
func (f *Fabric) deliver(src, dst *Port, buf buffer.Buffer, size int) {
	if f.fault != nil && f.fault(src, dst, buf, size) {
		return
	}
	f.deliverNow(dst, buf, size)
}

// deliverNow is deliver past the wire fault.
func (f *Fabric) deliverNow(dst *Port, buf buffer.Buffer, size int) {
	if c := dst.capture.Load(); c != nil {
		c.frame(false, buf.Clone())
	}
	if !dst.nic.deliverBuffer(buf) {
		dst.rx.dropped.Add(1)
		return
	}
	dst.rx.frames.Add(1)
	dst.rx.bytes.Add(uint64(size))
}

func addrKey(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
