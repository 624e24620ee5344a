package bench

import (
	"math/bits"
	"math/rand"
	"sync"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The gVisor iptables baseline: a policy translated into a stack's filter
// table, evaluated by gVisor itself. Its rule walk is linear: one
// IPHeaderFilter plus the matchers of every rule until the first match.

// trackingClock is the standard clock, except that it remembers the timers
// it hands out so that StopAll can stop them for good. gVisor starts a
// conntrack reaper (clock.AfterFunc, re-armed by itself forever) the first
// time a table is replaced, and nothing in Stack.Close or Destroy stops it:
// without this, every stack that ever had iptables leaks its reaper and the
// connection table it holds (about 650 KiB).
type trackingClock struct {
	tcpip.Clock
	mu      sync.Mutex
	stopped bool
	timers  []*trackedTimer
}

func newTrackingClock() *trackingClock {
	return &trackingClock{Clock: tcpip.NewStdClock()}
}

type trackedTimer struct {
	c *trackingClock
	t tcpip.Timer
}

func (c *trackingClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	tt := &trackedTimer{c: c}
	tt.t = c.Clock.AfterFunc(d, func() {
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if !stopped {
			f()
		}
	})
	if c.stopped {
		tt.t.Stop()
	}
	c.timers = append(c.timers, tt)
	return tt
}

func (t *trackedTimer) Stop() bool { return t.t.Stop() }

// Reset re-arms the timer unless the clock was stopped: the reaper re-arms
// itself from its own callback.
func (t *trackedTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.c.stopped {
		t.t.Reset(d)
	}
}

// StopAll stops every timer of the clock, now and for good.
func (c *trackingClock) StopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for _, t := range c.timers {
		t.t.Stop()
	}
	c.timers = nil
}

// gvIPTables is an IPTables on a tracking clock; Close stops its reaper.
type gvIPTables struct {
	*stack.IPTables
	clock *trackingClock
}

func newGVIPTables() *gvIPTables {
	clk := newTrackingClock()
	return &gvIPTables{IPTables: stack.DefaultTables(clk, rand.New(rand.NewSource(1))), clock: clk}
}

func (t *gvIPTables) Close() { t.clock.StopAll() }

// portMatcher is `-m tcp/udp --sport lo:hi --dport lo:hi`: the ports are the
// first four bytes of the transport header (TCP and UDP alike). A packet
// without them matches only a rule whose ranges are both any.
type portMatcher struct {
	src, dst firewall.PortRange
}

func (m *portMatcher) Match(_ stack.Hook, pkt *stack.PacketBuffer, _, _ string) (bool, bool) {
	th := pkt.TransportHeader().Slice()
	if len(th) < 4 {
		return m.src == firewall.AnyPort && m.dst == firewall.AnyPort, false
	}
	sp := uint16(th[0])<<8 | uint16(th[1])
	dp := uint16(th[2])<<8 | uint16(th[3])
	return sp >= m.src.Lo && sp <= m.src.Hi && dp >= m.dst.Lo && dp <= m.dst.Hi, false
}

// establishedMatcher is `-m conntrack --ctstate ESTABLISHED`: a reply of a
// tracked connection, or a packet of one that has seen a reply.
type establishedMatcher struct{}

func (establishedMatcher) Match(_ stack.Hook, pkt *stack.PacketBuffer, _, _ string) (bool, bool) {
	if !pkt.IsConnTrackConfigured() {
		return false, false
	}
	if pkt.IsReplyPacket() {
		return true, false
	}
	var info stack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(stack.ConnTrackInfoOpts{FillState: true}, &info) {
		return false, false
	}
	return info.State == stack.ConnTrackStateEstablished || info.State == stack.ConnTrackStateEstablishedReply, false
}

// rangePrefixes splits an inclusive address range into the fewest CIDR
// blocks that cover it exactly (a ClassBench prefix stays one block).
func rangePrefixes(r firewall.Range32) (out []struct{ addr, mask uint32 }) {
	lo, hi := uint64(r.Lo), uint64(r.Hi)
	for lo <= hi {
		size := uint64(1) << bits.TrailingZeros64(lo|1<<32)
		for lo+size-1 > hi {
			size >>= 1
		}
		out = append(out, struct{ addr, mask uint32 }{uint32(lo), ^uint32(size - 1)})
		lo += size
	}
	return out
}

func addr4(v uint32) tcpip.Address {
	return tcpip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// gvRules translates one classifier row into iptables rules with target t:
// one rule per pair of source and destination blocks (one for a ClassBench
// row), a port matcher unless both port ranges are any.
func gvRules(r *firewall.MatchRule, t stack.Target) []stack.Rule {
	var out []stack.Rule
	var ms []stack.Matcher
	if r.SrcPort != firewall.AnyPort || r.DstPort != firewall.AnyPort {
		ms = []stack.Matcher{&portMatcher{src: r.SrcPort, dst: r.DstPort}}
	}
	for _, s := range r.Src {
		for _, sp := range rangePrefixes(s) {
			for _, d := range r.Dst {
				for _, dp := range rangePrefixes(d) {
					f := stack.EmptyFilter4()
					f.Src, f.SrcMask = addr4(sp.addr), addr4(sp.mask)
					f.Dst, f.DstMask = addr4(dp.addr), addr4(dp.mask)
					if !r.AnyProto {
						f.CheckProtocol = true
						f.Protocol = tcpip.TransportProtocolNumber(r.Proto)
					}
					out = append(out, stack.Rule{Filter: f, Matchers: ms, Target: t})
				}
			}
		}
	}
	return out
}

var (
	gvAccept = &stack.AcceptTarget{NetworkProtocol: header.IPv4ProtocolNumber}
	gvDrop   = &stack.DropTarget{NetworkProtocol: header.IPv4ProtocolNumber}
)

// gvFilterTable builds a filter table whose INPUT chain is input then a
// policy of inDefault, whose OUTPUT chain is output then outDefault, and
// whose FORWARD chain accepts.
func gvFilterTable(input []stack.Rule, inDefault stack.Target, output []stack.Rule, outDefault stack.Target) stack.Table {
	var rules []stack.Rule
	in := len(rules)
	rules = append(rules, input...)
	inPolicy := len(rules)
	rules = append(rules, stack.Rule{Filter: stack.EmptyFilter4(), Target: inDefault})
	fwd := len(rules)
	rules = append(rules, stack.Rule{Filter: stack.EmptyFilter4(), Target: gvAccept})
	out := len(rules)
	rules = append(rules, output...)
	outPolicy := len(rules)
	rules = append(rules, stack.Rule{Filter: stack.EmptyFilter4(), Target: outDefault})
	rules = append(rules, stack.Rule{Filter: stack.EmptyFilter4(), Target: &stack.ErrorTarget{NetworkProtocol: header.IPv4ProtocolNumber}})
	return stack.Table{
		Rules: rules,
		BuiltinChains: [stack.NumHooks]int{
			stack.Prerouting: stack.HookUnset, stack.Input: in, stack.Forward: fwd,
			stack.Output: out, stack.Postrouting: stack.HookUnset,
		},
		Underflows: [stack.NumHooks]int{
			stack.Prerouting: stack.HookUnset, stack.Input: inPolicy, stack.Forward: fwd,
			stack.Output: outPolicy, stack.Postrouting: stack.HookUnset,
		},
	}
}

// gvPacket builds an inbound IPv4 packet of t with its network and
// transport headers set, as the stack hands one to CheckInput. The ports
// are written for every protocol, as ClassBench matches them.
func gvPacket(t *firewall.Tuple) *stack.PacketBuffer {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: t.Proto,
		SrcAddr: addr4(t.Src), DstAddr: addr4(t.Dst),
	})
	b[20], b[21] = byte(t.SrcPort>>8), byte(t.SrcPort)
	b[22], b[23] = byte(t.DstPort>>8), byte(t.DstPort)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	pkt.TransportProtocolNumber = tcpip.TransportProtocolNumber(t.Proto)
	pkt.NetworkHeader().Consume(header.IPv4MinimumSize)
	pkt.TransportHeader().Consume(header.TCPMinimumSize)
	return pkt
}
