package netstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/vpclab/vpclab/firewall"
)

// A sharded VPC runs its instances in several processes (shards). Every
// shard holds the whole security-group state — every NIC of every shard
// with its groups — so group references and the policies of its own NICs
// are complete; it runs the netstacks of its own instances only, and
// stands for each instance of another shard with a proxy port whose frames
// cross one WireGuard device (wireguard-go, UDP) to the owning shard, which
// injects them into its fabric from the sender's proxy port.
//
// The sender's shard decides the whole path as one process would (its
// egress, the receiver's ingress, its conntrack), so the sender sees every
// drop with its code; the receiver's shard decides again on its own
// conntrack before it delivers, so nothing reaches an instance that its
// own shard's state refuses. Both hold the same policy, so they agree.

// DefaultShardDownAfter is how long a shard may stay silent (no handshake,
// no keepalive, no frame) before frames to its instances drop with
// PEER_SHARD_DOWN.
const DefaultShardDownAfter = 2 * time.Second

// ShardKey is a WireGuard (Curve25519) key.
type ShardKey [32]byte

// String returns the key in base64, as wg(8) writes it.
func (k ShardKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Public returns the public key of a private key.
func (k ShardKey) Public() ShardKey {
	var pub ShardKey
	out, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err == nil {
		copy(pub[:], out)
	}
	return pub
}

// ParseShardKey parses a base64 WireGuard key (44 characters, 32 bytes).
func ParseShardKey(s string) (ShardKey, error) {
	var k ShardKey
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("malformed WireGuard key %q: want 32 bytes in base64 (44 characters, as `wg genkey` prints)", s)
	}
	copy(k[:], b)
	return k, nil
}

// NewShardKey returns a fresh private key.
func NewShardKey() (ShardKey, error) {
	var k ShardKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, err
	}
	k[0] &= 248
	k[31] = k[31]&127 | 64
	return k, nil
}

// ShardLinkConfig configures a shard's WireGuard link.
type ShardLinkConfig struct {
	Index      int      // this shard
	PrivateKey ShardKey // this shard's key
	ListenPort int      // UDP port (0: any; see ShardLink.Port)
	Peers      []ShardLinkPeer
	// DownAfter: zero means DefaultShardDownAfter.
	DownAfter time.Duration
}

// ShardLinkPeer is another shard.
type ShardLinkPeer struct {
	Index     int
	PublicKey ShardKey
	Endpoint  string // host:port of its UDP socket
}

// ShardPeer is the link's view of another shard.
type ShardPeer struct {
	index  int
	pub    ShardKey
	link   *ShardLink
	lastRx atomic.Int64 // unix nanoseconds of the last sign of life
	shook  atomic.Bool  // a handshake completed
	// The poller's state (watch) and, under link.mu, the peer's settings.
	rx        uint64 // rx_bytes at the last poll
	keepalive bool   // persistent keepalive set
	downSince int64  // when the poller last reset the peer
	endpoint  string
	allowed   []netip.Addr
}

// initiator reports whether this side starts handshakes with p: the lower
// index does. Two sides that both start one at once each consume the
// other's initiation and refuse the other's response, and WireGuard then
// waits 5 s (REKEY_TIMEOUT) to retry.
func (p *ShardPeer) initiator() bool { return p.link.index < p.index }

// config is the UAPI text that (re)creates the peer from scratch.
func (p *ShardPeer) config() string {
	var b strings.Builder
	key := hex.EncodeToString(p.pub[:])
	fmt.Fprintf(&b, "public_key=%s\nremove=true\npublic_key=%s\n", key, key)
	if p.endpoint != "" {
		fmt.Fprintf(&b, "endpoint=%s\n", p.endpoint)
	}
	if p.keepalive {
		b.WriteString("persistent_keepalive_interval=1\n")
	}
	for _, a := range p.allowed {
		fmt.Fprintf(&b, "allowed_ip=%s/32\n", a)
	}
	return b.String()
}

// Index returns the shard's index.
func (p *ShardPeer) Index() int {
	if p == nil {
		return -1
	}
	return p.index
}

// Up reports whether the shard showed a sign of life within DownAfter.
func (p *ShardPeer) Up() bool {
	return time.Now().UnixNano()-p.lastRx.Load() < int64(p.link.downAfter)
}

// ShardLink is a shard's WireGuard device and its peers.
type ShardLink struct {
	v         *VPC
	dev       *device.Device
	tun       *shardTun
	bind      conn.Bind
	index     int
	mu        sync.Mutex // serializes peer changes
	peers     map[int]*ShardPeer
	downAfter time.Duration
	port      uint16

	ctl atomic.Pointer[ShardControl] // see shard_ctl.go
	// remoteListens says what the other shards' endpoints listen on (see
	// SetRemoteListeners); nil: unknown.
	remoteListens atomic.Pointer[func(name, proto string, port uint16) bool]

	dropped  atomic.Uint64 // frames the link could not carry
	injected atomic.Uint64
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// StartShardLink brings up this shard's WireGuard device on UDP
// (ListenPort on every address) with one peer per other shard, each with
// a persistent keepalive of one second. Instances join it with
// AddShardedInstances.
func (v *VPC) StartShardLink(cfg ShardLinkConfig) (*ShardLink, error) {
	l := &ShardLink{v: v, index: cfg.Index, peers: map[int]*ShardPeer{}, downAfter: cfg.DownAfter, stop: make(chan struct{})}
	if l.downAfter <= 0 {
		l.downAfter = DefaultShardDownAfter
	}
	mtu := int(v.mtu)
	if mtu == 0 {
		mtu = DefaultMTU
	}
	l.tun = newShardTun(l, mtu)
	l.bind = conn.NewStdNetBind()
	l.dev = device.NewDevice(l.tun, l.bind, device.NewLogger(device.LogLevelSilent, ""))
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\nlisten_port=%d\n", hex.EncodeToString(cfg.PrivateKey[:]), cfg.ListenPort)
	now := time.Now().UnixNano()
	for _, p := range cfg.Peers {
		if p.Index == cfg.Index {
			l.dev.Close()
			return nil, fmt.Errorf("shard %d: its own index among its peers", cfg.Index)
		}
		if _, dup := l.peers[p.Index]; dup {
			l.dev.Close()
			return nil, fmt.Errorf("shard %d: peer shard %d given twice", cfg.Index, p.Index)
		}
		sp := &ShardPeer{index: p.Index, pub: p.PublicKey, link: l, endpoint: p.Endpoint}
		sp.lastRx.Store(now) // a grace period for the first handshake
		l.peers[p.Index] = sp
		// The initiator keeps the link alive from the start, once it knows
		// where the peer is (a handshake tried without an endpoint holds the
		// next back for 5 s); the other side once a handshake completed.
		sp.keepalive = sp.initiator() && sp.endpoint != ""
		b.WriteString(sp.config())
	}
	if err := l.dev.IpcSet(b.String()); err != nil {
		l.dev.Close()
		return nil, fmt.Errorf("shard %d: WireGuard: %w", cfg.Index, err)
	}
	if err := l.dev.Up(); err != nil {
		l.dev.Close()
		return nil, fmt.Errorf("shard %d: WireGuard up: %w", cfg.Index, err)
	}
	l.port = l.listenPort()
	l.wg.Add(1)
	go l.watch()
	return l, nil
}

// listenPort reads the device's UDP port back.
func (l *ShardLink) listenPort() uint16 {
	s, err := l.dev.IpcGet()
	if err != nil {
		return 0
	}
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "listen_port="); ok {
			n, _ := strconv.ParseUint(v, 10, 16)
			return uint16(n)
		}
	}
	return 0
}

// WaitReady waits until a handshake with every peer completed, or ctx
// ends. Frames sent before may wait for WireGuard's handshake retry.
func (l *ShardLink) WaitReady(ctx context.Context) error {
	t := time.NewTicker(l.downAfter / 20)
	defer t.Stop()
	for {
		var waiting []int
		for _, p := range l.peers {
			if !p.shook.Load() {
				waiting = append(waiting, p.index)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			slices.Sort(waiting)
			return fmt.Errorf("shard %d: no WireGuard handshake with shard(s) %v: %w", l.index, waiting, ctx.Err())
		case <-t.C:
		}
	}
}

// SetRemoteListeners tells explanations (Trace's listener hop) whether
// an instance or internet host another shard runs listens on proto ("tcp"
// or "udp") port, so that a trace from this shard ends as it would in one
// process. Without it the hop passes, naming the shard that answers.
func (l *ShardLink) SetRemoteListeners(fn func(name, proto string, port uint16) bool) {
	l.remoteListens.Store(&fn)
}

// listening sets *ok to whether the remote endpoint name listens on proto
// port; it reports false when that is unknown.
func (p *ShardPeer) listening(name, proto string, port uint16, ok *bool) bool {
	if p == nil {
		return false
	}
	fn := p.link.remoteListens.Load()
	if fn == nil || *fn == nil {
		return false
	}
	*ok = (*fn)(name, proto, port)
	return true
}

// Port returns the UDP port the link listens on.
func (l *ShardLink) Port() uint16 { return l.port }

// Peer returns the peer of shard i, or nil.
func (l *ShardLink) Peer(i int) *ShardPeer { return l.peers[i] }

// Stats returns the frames the link dropped (queue full, too big) and
// the frames it injected into the fabric.
func (l *ShardLink) Stats() (dropped, injected uint64) {
	return l.dropped.Load(), l.injected.Load()
}

// watch polls the device's counters: any byte received from a peer
// (keepalives come every second) is a sign of life.
func (l *ShardLink) watch() {
	defer l.wg.Done()
	byKey := make(map[string]*ShardPeer, len(l.peers))
	for _, p := range l.peers {
		byKey[hex.EncodeToString(p.pub[:])] = p
	}
	t := time.NewTicker(l.downAfter / 20)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		s, err := l.dev.IpcGet()
		if err != nil {
			continue
		}
		now := time.Now().UnixNano()
		var cur *ShardPeer
		sc := bufio.NewScanner(strings.NewReader(s))
		for sc.Scan() {
			k, val, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "public_key":
				cur = byKey[val]
			case "last_handshake_time_sec":
				if cur != nil && val != "0" {
					cur.shook.Store(true)
					if !cur.keepalive {
						l.setKeepalive(cur)
					}
				}
			case "rx_bytes":
				if cur == nil {
					continue
				}
				n, _ := strconv.ParseUint(val, 10, 64)
				if n != cur.rx {
					cur.rx = n
					cur.lastRx.Store(now)
				}
			}
		}
		// A peer silent for DownAfter may have restarted and lost our
		// session, which our stale keys cannot reach: the initiator starts
		// afresh, once per DownAfter while it stays silent.
		for _, p := range l.peers {
			if p.initiator() && !p.Up() && now-max(p.downSince, p.lastRx.Load()) >= int64(l.downAfter) {
				p.downSince = now
				l.mu.Lock()
				if p.endpoint != "" {
					p.rx = 0
					l.dev.IpcSet(p.config())
				}
				l.mu.Unlock()
			}
		}
	}
}

func (l *ShardLink) setKeepalive(p *ShardPeer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p.keepalive = true
	l.dev.IpcSet(fmt.Sprintf("public_key=%s\nupdate_only=true\npersistent_keepalive_interval=1\n", hex.EncodeToString(p.pub[:])))
}

// Close takes the device down and waits for its goroutines.
func (l *ShardLink) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		close(l.stop)
		l.mu.Unlock()
		if c := l.ctl.Load(); c != nil {
			c.Close()
		}
		l.wg.Wait()
		l.dev.Close()
	})
	return nil
}

// AddShardedInstances adds instances as AddInstancesProgress does, those
// with a non-nil shard(i) as proxies of instances that shard runs: their
// NICs join the firewall like local ones, their frames cross the link.
// The result holds nil for them.
func (v *VPC) AddShardedInstances(specs []InstanceSpec, shard func(i int) *ShardPeer, progress func(done int)) ([]*Instance, error) {
	insts, err := v.addInstances(specs, progress, shard)
	if err != nil {
		return nil, err
	}
	// Route each remote address to its shard (WireGuard's allowed IPs, which
	// also check the source of what arrives).
	by := map[*ShardLink]map[*ShardPeer][]netip.Addr{}
	for i, spec := range specs {
		sp := shard(i)
		if sp == nil {
			continue
		}
		addr := spec.Addr
		if !addr.IsValid() {
			v.mu.Lock()
			addr = u32Addr(v.endpoints[spec.Name].addr)
			v.mu.Unlock()
		}
		if by[sp.link] == nil {
			by[sp.link] = map[*ShardPeer][]netip.Addr{}
		}
		by[sp.link][sp] = append(by[sp.link][sp], addr)
	}
	for l, m := range by {
		var b strings.Builder
		l.mu.Lock()
		for sp, addrs := range m {
			sp.allowed = append(sp.allowed, addrs...)
			fmt.Fprintf(&b, "public_key=%s\nupdate_only=true\n", hex.EncodeToString(sp.pub[:]))
			for _, a := range addrs {
				fmt.Fprintf(&b, "allowed_ip=%s/32\n", a)
			}
		}
		err := l.dev.IpcSet(b.String())
		l.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("shard link: allowed IPs: %w", err)
		}
	}
	return insts, nil
}

func remoteOf(remote func(i int) *ShardPeer, i int) *ShardPeer {
	if remote == nil {
		return nil
	}
	return remote(i)
}

// plugRemote attaches a proxy port for an instance (or internet host)
// another shard runs.
func (v *VPC) plugRemote(name string, kind OwnerKind, addr netip.Addr, nic *firewall.NIC, vsw *vswitch, sp *ShardPeer) (*endpoint, error) {
	vn := NewVNIC(v.mtu, !v.noOffload)
	vn.Attach(&shardProxy{link: sp.link})
	key, _ := firewall.AddrToU32(addr)
	ep := &endpoint{name: name, kind: kind, nic: nic, vsw: vsw, addr: key, shard: sp}
	p, err := v.fab.Attach(vn, addr, ep)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	ep.port = p
	v.endpoints[name] = ep
	return ep, nil
}

// AddRemoteInternetHost adds an internet host that shard sp runs (the
// edge shard of a sharded VPC, which runs every internet host and does
// every translation between the VPC and the internet): a proxy port whose
// frames cross the link, as AddInternetHost's checks allow. Frames to it
// leave this shard untranslated, in the VPC's private view; frames from it
// arrive translated, addressed to an instance of this shard.
func (v *VPC) AddRemoteInternetHost(name string, addr netip.Addr, sp *ShardPeer) error {
	if sp == nil {
		return fmt.Errorf("internet host %s: no shard", name)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	if _, ok := v.endpoints[name]; ok || name == "" {
		return vpcErr(ErrInstanceExists, "internet host %q exists or has no name", name)
	}
	if _, err := v.checkPublic(addr, "internet host "+name); err != nil {
		return err
	}
	addr = addr.Unmap()
	ep, err := v.plugRemote(name, OwnerInternetHost, addr, nil, nil, sp)
	if err != nil {
		return err
	}
	l := sp.link
	l.mu.Lock()
	sp.allowed = append(sp.allowed, addr)
	err = l.dev.IpcSet(fmt.Sprintf("public_key=%s\nupdate_only=true\nallowed_ip=%s/32\n", hex.EncodeToString(sp.pub[:]), addr))
	l.mu.Unlock()
	if err != nil {
		delete(v.endpoints, name)
		ep.close()
		return fmt.Errorf("shard link: allowed IPs: %w", err)
	}
	return nil
}

// close stops a local instance or unplugs a remote one's proxy port.
func (ep *endpoint) close() {
	if ep.inst != nil {
		ep.inst.Close()
		return
	}
	if ep.port != nil {
		ep.port.fabric.detach(ep.port)
	}
}

// crossShard checks a frame between se and to, one of which another shard
// runs: a frame to a shard that is down drops with PEER_SHARD_DOWN, and a
// frame injected from one shard for another shard's instance (which the
// allowed IPs never route here) drops. It creates no conntrack entry.
func (v *VPC) crossShard(se, to *endpoint, h *firewall.Header, ip []byte, size int) bool {
	if se.shard != nil && to.shard != nil {
		v.drop(se, se, to, h, firewall.Verdict{Code: firewall.NoRouteToDestination, Entry: -1}, ip, size)
		return false
	}
	if to.shard != nil && !to.shard.Up() {
		v.drop(se, se, to, h, firewall.Verdict{Code: firewall.PeerShardDown, Entry: -1}, ip, size)
		return false
	}
	return true
}

// inject delivers a frame that arrived from another shard into the fabric
// from the proxy port of its source.
func (l *ShardLink) inject(b []byte) {
	if len(b) < 20 || b[0]>>4 != 4 {
		l.dropped.Add(1)
		return
	}
	if b[9] == protoDropNotice {
		l.dropNotice(b)
		return
	}
	if c := l.ctl.Load(); c != nil && c.deliver(b) {
		return // for the control endpoint (shard_ctl.go)
	}
	src := uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
	p := l.v.fab.lookup(src)
	if p == nil {
		l.dropped.Add(1)
		return
	}
	if ep, _ := p.Tag.(*endpoint); ep == nil || ep.shard == nil {
		l.dropped.Add(1) // a frame claiming a local address
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	l.v.fab.forward(p, pkt)
	pkt.DecRef()
	l.injected.Add(1)
}

// shardProxy is the dispatcher of a remote instance's proxy VNIC: what the
// fabric delivers to it leaves through the link.
type shardProxy struct{ link *ShardLink }

func (s *shardProxy) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	s.link.tun.send(pkt)
}

func (s *shardProxy) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// shardTun is the tun.Device of the link: frames to send wait in out;
// frames the device decrypted are injected into the fabric at once.
type shardTun struct {
	link   *ShardLink
	mtu    int
	out    chan *[]byte
	free   sync.Pool
	events chan tun.Event
	closed chan struct{}
	once   sync.Once
}

const shardQueue = 1024

func newShardTun(l *ShardLink, mtu int) *shardTun {
	t := &shardTun{link: l, mtu: mtu, out: make(chan *[]byte, shardQueue), events: make(chan tun.Event, 1), closed: make(chan struct{})}
	t.free.New = func() any { b := make([]byte, device.MaxContentSize); return &b }
	return t
}

// send copies a frame into a pooled buffer and queues it; a full queue or
// a frame larger than WireGuard carries drops it.
func (t *shardTun) send(pkt *stack.PacketBuffer) {
	size := pkt.Size()
	if size > device.MaxContentSize {
		t.link.dropped.Add(1)
		return
	}
	bp := t.free.Get().(*[]byte)
	b := (*bp)[:cap(*bp)]
	n := 0
	views, off := pkt.AsViewList()
	for v := views.Front(); v != nil; v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		n += copy(b[n:], s[off:])
		off = 0
	}
	*bp = b[:n]
	select {
	case t.out <- bp:
	default:
		t.free.Put(bp)
		t.link.dropped.Add(1)
	}
}

// sendWith queues a frame that fill writes into a pooled buffer, returning
// its length (0: nothing to send); a full queue drops it.
func (t *shardTun) sendWith(fill func(b []byte) int) {
	bp := t.free.Get().(*[]byte)
	b := (*bp)[:cap(*bp)]
	n := fill(b)
	if n == 0 {
		t.free.Put(bp)
		return
	}
	*bp = b[:n]
	select {
	case t.out <- bp:
	default:
		t.free.Put(bp)
		t.link.dropped.Add(1)
	}
}

func (t *shardTun) File() *os.File { return nil }

func (t *shardTun) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var bp *[]byte
	select {
	case bp = <-t.out:
	case <-t.closed:
		return 0, os.ErrClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n][offset:], *bp)
		t.free.Put(bp)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case bp = <-t.out:
		default:
			return n, nil
		}
	}
}

func (t *shardTun) Write(bufs [][]byte, offset int) (int, error) {
	select {
	case <-t.closed:
		return 0, os.ErrClosed
	default:
	}
	for _, b := range bufs {
		t.link.inject(b[offset:])
	}
	return len(bufs), nil
}

func (t *shardTun) MTU() (int, error)        { return t.mtu, nil }
func (t *shardTun) Name() (string, error)    { return "vpclab-shard", nil }
func (t *shardTun) Events() <-chan tun.Event { return t.events }
func (t *shardTun) BatchSize() int           { return 16 }
func (t *shardTun) Close() error {
	t.once.Do(func() {
		close(t.closed)
		close(t.events)
	})
	return nil
}

// SetEndpoint sets (or changes) where shard i's UDP socket is, host:port.
func (l *ShardLink) SetEndpoint(i int, endpoint string) error {
	p := l.peers[i]
	if p == nil {
		return fmt.Errorf("shard link: no peer shard %d", i)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p.endpoint = endpoint
	p.keepalive = p.keepalive || p.initiator()
	conf := fmt.Sprintf("public_key=%s\nupdate_only=true\nendpoint=%s\n", hex.EncodeToString(p.pub[:]), endpoint)
	if p.keepalive {
		conf += "persistent_keepalive_interval=1\n"
	}
	return l.dev.IpcSet(conf)
}
