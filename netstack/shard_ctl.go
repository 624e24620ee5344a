package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The shards of a VPC talk to each other (the control API's changes, which
// every shard applies or none) over their WireGuard link, never over a host
// port: each shard has a small TCP/IP stack of its own (a netstack
// Instance, no fabric, no firewall) at a reserved in-tunnel address,
// ShardControlAddr(index). Every peer's allowed IPs include its control
// address, so WireGuard routes to it and — checking the source of what it
// decrypts — guarantees that a connection from ShardControlAddr(j) comes
// from the holder of shard j's key. Instances cannot reach these addresses:
// the fabric has no port for them and a peer's frames for them never enter
// the fabric.

// ShardControlPort is the TCP port of a shard's control endpoint.
const ShardControlPort = 7946

// shardControlMTU keeps control segments small: they cross the same
// tunnel as instance frames and need no fragmentation on any path.
const shardControlMTU = 1280

// ShardControlAddr returns the in-tunnel control address of shard i, in
// 169.254.0.0/16 (link local: never a VPC, VPN or internet address):
// 169.254.x.y with x.y = i+1.
func ShardControlAddr(i int) netip.Addr {
	n := i + 1
	return netip.AddrFrom4([4]byte{169, 254, byte(n >> 8), byte(n)})
}

// shardOfControlAddr is the inverse of ShardControlAddr, or -1.
func shardOfControlAddr(a netip.Addr) int {
	a = a.Unmap()
	if !a.Is4() {
		return -1
	}
	b := a.As4()
	if b[0] != 169 || b[1] != 254 {
		return -1
	}
	return int(b[2])<<8 | int(b[3]) - 1
}

// ShardControl is a shard's in-tunnel control endpoint: it accepts TCP
// connections from the other shards and dials them.
type ShardControl struct {
	link *ShardLink
	inst *Instance
}

// StartControl starts the link's control endpoint (once; later calls
// return the same one). Closing the link closes it.
func (l *ShardLink) StartControl() (*ShardControl, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.ctl.Load(); c != nil {
		return c, nil
	}
	select {
	case <-l.stop:
		return nil, fmt.Errorf("shard %d: the link is closed", l.index)
	default:
	}
	inst, err := NewInstance(Config{Name: "shard-control-" + strconv.Itoa(l.index), Addr: ShardControlAddr(l.index), MTU: shardControlMTU, NoOffload: true})
	if err != nil {
		return nil, err
	}
	inst.nic.plug(ctlWire{l})
	// Each peer's control address joins its allowed IPs (kept in allowed,
	// so a peer the watcher recreates keeps it).
	var conf []byte
	for _, p := range l.peers {
		a := ShardControlAddr(p.index)
		if !slices.Contains(p.allowed, a) {
			p.allowed = append(p.allowed, a)
		}
		conf = fmt.Appendf(conf, "public_key=%x\nupdate_only=true\nallowed_ip=%s/32\n", p.pub[:], a)
	}
	if len(conf) > 0 {
		if err := l.dev.IpcSet(string(conf)); err != nil {
			inst.Close()
			return nil, fmt.Errorf("shard %d: control addresses: %w", l.index, err)
		}
	}
	c := &ShardControl{link: l, inst: inst}
	l.ctl.Store(c)
	return c, nil
}

// Index returns this shard's index.
func (c *ShardControl) Index() int { return c.link.index }

// Peers returns the indexes of the other shards, in order.
func (c *ShardControl) Peers() []int {
	out := make([]int, 0, len(c.link.peers))
	for i := range c.link.peers {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// PeerUp reports whether shard i showed a sign of life recently.
func (c *ShardControl) PeerUp(i int) bool {
	p := c.link.Peer(i)
	return p != nil && p.Up()
}

// PeerReady reports whether shard i is up and a WireGuard handshake with
// it completed (so a connection to it need not wait for one).
func (c *ShardControl) PeerReady(i int) bool {
	p := c.link.Peer(i)
	return p != nil && p.Up() && p.shook.Load()
}

// Listen accepts the other shards' connections on ShardControlPort.
func (c *ShardControl) Listen() (net.Listener, error) { return c.inst.Listen(ShardControlPort) }

// Dial connects to shard i's control endpoint.
func (c *ShardControl) Dial(ctx context.Context, i int) (net.Conn, error) {
	if c.link.Peer(i) == nil {
		return nil, fmt.Errorf("shard %d: no peer shard %d", c.link.index, i)
	}
	return c.inst.Dial(ctx, "tcp", netip.AddrPortFrom(ShardControlAddr(i), ShardControlPort))
}

// ShardOf returns the shard a control connection's remote address belongs
// to, or -1 when it is no peer's.
func (c *ShardControl) ShardOf(remote net.Addr) int {
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return -1
	}
	i := shardOfControlAddr(ap.Addr())
	if i == c.link.index || c.link.Peer(i) == nil {
		return -1
	}
	return i
}

// Close stops the control endpoint (its connections end).
func (c *ShardControl) Close() error {
	c.link.ctl.CompareAndSwap(c, nil)
	return c.inst.Close()
}

// deliver takes a decrypted packet addressed to this shard's control
// address and reports whether it did.
func (c *ShardControl) deliver(b []byte) bool {
	if len(b) < 20 || b[16] != 169 || b[17] != 254 {
		return false
	}
	if shardOfControlAddr(netip.AddrFrom4([4]byte(b[16:20]))) != c.link.index {
		return false
	}
	c.inst.nic.deliverBuffer(buffer.MakeWithData(b))
	return true
}

// ctlWire carries what the control stack transmits into the tunnel.
type ctlWire struct{ l *ShardLink }

func (w ctlWire) transmit(pkt *stack.PacketBuffer) { w.l.tun.send(pkt) }
