package netstack

import (
	"fmt"
	"net/netip"

	"github.com/vpclab/vpclab/firewall"
)

// Steps of a Trace's hops.
const (
	HopPlatform = "platform" // platform blocks (docs/semantics.md §2.1)
	HopEgress   = "egress"   // the sending NIC's egress rules
	HopRoute    = "route"    // who owns the destination address
	HopNAT      = "nat"      // EIP, SNAT or DNAT translation
	HopIngress  = "ingress"  // the receiving NIC's ingress rules
	HopListener = "listener" // a socket on the destination port
)

// TraceSourcePort is the source port (ICMP: the echo id) of the packet a
// Trace follows: a real client picks an ephemeral port, and rules with a
// source_port_range may decide differently for another one.
const TraceSourcePort = 40000

// hopPassed is the code of the synthetic explanation of a route, NAT or
// listener hop that lets the packet on.
const hopPassed = "OK"

// Hop is one step of a Trace.
type Hop struct {
	Step    string // HopPlatform, HopEgress, HopRoute, HopNAT, HopIngress or HopListener
	Where   string // the NIC's instance, the gateway or the host the step happens at
	Allowed bool
	// Verdict is the firewall's verdict of a platform, egress or ingress
	// hop, and the code of a route or listener hop that blocks; nil for
	// route, NAT and listener hops that pass.
	Verdict     *firewall.Verdict
	Explanation firewall.Explanation
	// Before and After are the packet's header around a NAT hop, as
	// "tcp 10.0.1.5:40000 -> 203.0.113.9:443".
	Before, After string
	Note          string
}

// Trace is a static path explanation: the steps the first packet of a new
// connection would meet, in the order the data plane applies them, without
// sending anything and without touching conntrack, rule hit counters or
// NAT port tables.
type Trace struct {
	From, To string // names; To is "" when nobody owns Dst
	Proto    uint8
	Port     uint16     // destination port as given (0 for ICMP)
	Dst      netip.Addr // as given
	Hops     []Hop
	// Allowed reports whether every hop, the listener included, lets the
	// packet through.
	Allowed bool
	// Verdict is the deciding verdict: the first hop that blocks, else the
	// last firewall verdict that allowed (zero Code when no firewall step
	// applies, e.g. between two internet hosts). Final is its explanation
	// (for a path without firewall steps, the last hop's).
	Verdict firewall.Verdict
	Final   firewall.Explanation
	// Probe describes the connection for firewall.Diagnose, with the
	// addresses and port the deciding step saw.
	Probe firewall.Probe
}

// Trace explains, without sending it, the first packet of a new connection
// from the instance or internet host named from to dst (proto: an IP
// protocol number; port: the destination port, ignored for ICMP, which
// traces an echo request). The packet's source port is TraceSourcePort.
func (v *VPC) Trace(from string, dst netip.Addr, proto uint8, port uint16) (*Trace, error) {
	v.mu.Lock()
	se, ok := v.endpoints[from]
	if !ok {
		se, ok = v.vpnPeerLocked(from)
	}
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return nil, vpcErr(ErrVPCClosed, "vpc %s is closed", v.name)
	}
	if !ok {
		return nil, vpcErr(ErrInstanceNotFound, "trace: no instance or internet host %q", from)
	}
	x, ok := firewall.AddrToU32(dst)
	if !ok {
		return nil, fmt.Errorf("trace from %s: destination %v is not an IPv4 address", from, dst)
	}
	h := firewall.Header{Tuple: firewall.Tuple{Src: se.addr, Dst: x, Proto: proto}}
	switch proto {
	case firewall.ProtoTCP:
		h.SrcPort, h.DstPort, h.TCPFlags = TraceSourcePort, port, firewall.TCPSyn
	case firewall.ProtoUDP:
		h.SrcPort, h.DstPort = TraceSourcePort, port
	case firewall.ProtoICMP:
		h.Flags, h.ICMPType, h.ICMPID = firewall.FlagICMPEcho, firewall.ICMPEchoRequest, TraceSourcePort
		port = 0
	default:
		port = 0
	}
	tr := &tracer{v: v, rt: v.routes.Load(), h: h,
		t: &Trace{From: from, Proto: proto, Port: port, Dst: dst}}
	tr.t.To, _ = v.owner(x)
	tr.t.Probe = firewall.Probe{Proto: proto, Port: port, SrcName: from, DstName: tr.t.To}
	if se.nic != nil {
		tr.t.Probe.SrcGroups = v.fw.NICGroups(se.name)
		tr.fromInstance(se)
	} else {
		tr.t.Probe.FromInternet = se.kind == OwnerInternetHost
		tr.fromInternet(se)
	}
	tr.finish()
	return tr.t, nil
}

// tracer builds a Trace; h is the packet as the next step sees it.
type tracer struct {
	v     *VPC
	rt    *routeTable
	t     *Trace
	h     firewall.Header
	views []firewall.Tuple // the packet as each hop saw it
}

// fromInstance records the steps of a frame an instance sends: platform,
// egress, then the route plan's path — route, NAT, ingress, listener. The
// platform block and the egress rules decide before a missing route, as
// the data path's deadEnd has it.
func (tr *tracer) fromInstance(se *endpoint) {
	v, h := tr.v, &tr.h
	var p routePlan
	v.plan(tr.rt, se, h, &p)
	if p.kind == pathLocal {
		tr.local(se)
		return
	}
	tr.t.Probe.ToInternet = p.toInternet
	if p.kind == pathIntranet {
		tr.t.Probe.DstName, tr.t.Probe.DstGroups = p.to.name, v.fw.NICGroups(p.to.name)
	}

	if v.fw.PlatformBlocked(h, p.toInternet) {
		tr.verdict(HopPlatform, se.name, firewall.Verdict{Code: firewall.PlatformPortBlocked, Dir: firewall.Egress, Entry: -1}, "")
	} else {
		note := "no platform block applies"
		if !p.toInternet {
			note = "the packet stays inside the VPC: no platform block applies"
		}
		tr.pass(HopPlatform, se.name, "platform: "+note, "")
	}
	tr.verdict(HopEgress, se.name, v.fw.EvaluateDir(h, se.nic, firewall.Egress),
		fmt.Sprintf("egress rules of %s see %s (source port %d is a stand-in for the client's ephemeral port)", se.name, flowString(h), TraceSourcePort))

	switch p.kind {
	case pathIntranet:
		tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: %v is instance %s on vswitch %s, inside the VPC", u32Addr(h.Dst), p.to.name, p.to.vsw.name), "")
		tr.ingress(p.to)
		tr.listener(p.to)
	case pathToInternet:
		tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: %v is internet host %s, outside the VPC", u32Addr(h.Dst), p.to.name), "")
		before := flowString(h)
		if gw := p.gw; gw != nil {
			pt := gw.table(h.Proto)
			after := fmt.Sprintf("%s %v:[%d-%d] -> %v:%d", firewall.ProtoName(h.Proto), u32Addr(gw.eip), pt.lo, pt.hi, u32Addr(h.Dst), h.DstPort)
			if h.Proto == firewall.ProtoICMP {
				after = fmt.Sprintf("icmp %v -> %v (echo id from [%d-%d])", u32Addr(gw.eip), u32Addr(h.Dst), pt.lo, pt.hi)
			}
			h.Src = gw.eip
			tr.nat(gw.name, fmt.Sprintf("nat: SNAT through NAT gateway %s (%s has no EIP; vswitch %s is in the gateway's snat list)", gw.name, se.name, se.vsw.name), before, after,
				fmt.Sprintf("the public port is taken from the gateway's pool %d-%d when the flow starts (%d itself if free); this trace allocates none", pt.lo, pt.hi, TraceSourcePort))
		} else {
			applyTo(h, &p.rw)
			step := fmt.Sprintf("nat: the source becomes %s's EIP %v", se.name, u32Addr(p.rw.SrcAddr))
			where := se.name
			if p.rw.Flags&RewriteSrcPort != 0 {
				owner := tr.rt.gwIn[p.rw.SrcAddr]
				where = owner.name
				step = fmt.Sprintf("nat: %s answers from a DNAT target port: the source becomes NAT gateway %s's %v:%d", se.name, owner.name, u32Addr(p.rw.SrcAddr), p.rw.SrcPort)
			}
			tr.nat(where, step, before, flowString(h), "")
		}
		tr.listener(p.to)
	case pathToPeer:
		tr.t.Probe.DstName = p.to.name
		tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: %v is VPN peer %s: the frame leaves through its WireGuard tunnel; what listens on the peer is not known here", u32Addr(h.Dst), p.to.name), "")
	default:
		tr.noRoute(&p, se.name)
	}
}

// fromInternet records the steps of a new flow an internet host sends:
// route, NAT, ingress, listener. An internet host has no security groups
// and the platform blocks only outbound traffic.
func (tr *tracer) fromInternet(se *endpoint) {
	v, h := tr.v, &tr.h
	tr.t.Probe.Src = u32Addr(h.Src)
	var p routePlan
	v.plan(tr.rt, se, h, &p)
	switch p.kind {
	case pathLocal:
		tr.local(se)
	case pathInternet:
		tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: %v is internet host %s; no VPC step applies", u32Addr(h.Dst), p.to.name), "")
		tr.t.Probe.DstName = p.to.name
		tr.listener(p.to)
	case pathInbound:
		if se.kind == OwnerVPNPeer {
			tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: VPN peer %s reaches instance %s (%v) through its gateway, untranslated", se.name, p.to.name, u32Addr(h.Dst)), "")
			tr.ingress(p.to)
			tr.listener(p.to)
			return
		}
		before, pub := flowString(h), h.Dst
		applyTo(h, &p.rw)
		if gw := p.gw; gw != nil {
			tr.pass(HopRoute, gw.name, fmt.Sprintf("route: %v is NAT gateway %s; its DNAT entry %s %d forwards to %s", u32Addr(pub), gw.name, firewall.ProtoName(h.Proto), tr.t.Port, p.to.name), "")
			tr.nat(gw.name, fmt.Sprintf("nat: DNAT %s %d -> %s %v:%d", firewall.ProtoName(h.Proto), tr.t.Port, p.to.name, u32Addr(h.Dst), h.DstPort), before, flowString(h),
				"the ingress rules see the client's real address and the private port")
		} else {
			tr.pass(HopRoute, p.to.name, fmt.Sprintf("route: %v is the EIP of instance %s", u32Addr(pub), p.to.name), "")
			tr.nat(p.to.name, fmt.Sprintf("nat: EIP %v is translated to %s's private address %v", u32Addr(pub), p.to.name, u32Addr(h.Dst)), before, flowString(h),
				"the ingress rules see the client's real address")
		}
		tr.ingress(p.to)
		tr.listener(p.to)
	case pathGatewayReturn:
		// A new flow has no SNAT mapping to answer.
		np := noRoutePlan(firewall.NoRouteToDestination, noRouteNoDNAT, nil, p.gw, false)
		tr.noRoute(&np, se.name)
	default:
		tr.noRoute(&p, se.name)
	}
}

// local records a packet to the sender's own address: no VNIC, no rule.
func (tr *tracer) local(se *endpoint) {
	tr.t.Probe.DstName = se.name
	tr.pass(HopRoute, se.name, fmt.Sprintf("route: %v is %s's own address: its stack delivers the packet itself (loopback); no security group sees it", u32Addr(tr.h.Dst), se.name), "")
	tr.listener(se)
}

// noRoute adds the route hop of a plan that leads nowhere.
func (tr *tracer) noRoute(p *routePlan, from string) {
	where := tr.t.To
	switch {
	case p.why == noRouteNoTranslation:
		where = from
	case p.gw != nil:
		where = p.gw.name
	case p.to != nil:
		where = p.to.name
	}
	vd := firewall.Verdict{Code: p.code, Detail: uint8(p.why), Entry: -1}
	tr.verdict(HopRoute, where, vd, "")
	hop := &tr.t.Hops[len(tr.t.Hops)-1]
	hop.Explanation.Step, _ = tr.v.noRouteStep(vd, &tr.h, from)
}

// ingress adds the receiving NIC's ingress verdict.
func (tr *tracer) ingress(de *endpoint) {
	p := &tr.t.Probe
	p.DstName, p.DstGroups = de.name, tr.v.fw.NICGroups(de.name)
	tr.verdict(HopIngress, de.name, tr.v.fw.EvaluateDir(&tr.h, de.nic, firewall.Ingress),
		fmt.Sprintf("ingress rules of %s see %s", de.name, flowString(&tr.h)))
}

// listener adds whether the destination's stack would take the packet.
func (tr *tracer) listener(de *endpoint) {
	h := &tr.h
	switch h.Proto {
	case firewall.ProtoICMP:
		tr.pass(HopListener, de.name, "listener: the stack answers ICMP echo requests", "")
		return
	case firewall.ProtoTCP, firewall.ProtoUDP:
		name := firewall.ProtoName(h.Proto)
		var listening bool
		if de.inst != nil {
			listening = de.inst.Listening(name, h.DstPort)
		} else if known := de.shard.listening(de.name, name, h.DstPort, &listening); !known {
			tr.pass(HopListener, de.name, fmt.Sprintf("listener: %s runs on shard %d, which answers for its listeners", de.name, de.shard.Index()), "")
			return
		}
		if listening {
			tr.pass(HopListener, de.name, fmt.Sprintf("listener: %s listens on %s %d", de.name, name, h.DstPort), "")
			return
		}
		answer := "the stack answers with a TCP RST"
		if h.Proto == firewall.ProtoUDP {
			answer = "the stack answers with ICMP port unreachable"
		}
		tr.block(HopListener, de.name, firewall.NoListener, fmt.Sprintf("nothing listens on %s %d at %s: %s", name, h.DstPort, de.name, answer))
		return
	}
	tr.block(HopListener, de.name, firewall.NoListener, fmt.Sprintf("%s's stack has no handler for %s", de.name, firewall.ProtoName(h.Proto)))
}

// verdict adds a firewall hop.
func (tr *tracer) verdict(step, where string, vd firewall.Verdict, note string) {
	tr.add(Hop{Step: step, Where: where, Allowed: vd.Allowed(), Verdict: &vd, Explanation: firewall.Explain(vd), Note: note})
}

// block adds a route or listener hop that stops the packet with code.
func (tr *tracer) block(step, where string, code firewall.Code, note string) {
	tr.verdict(step, where, firewall.Verdict{Code: code, Entry: -1}, note)
}

// pass adds a hop that lets the packet on.
func (tr *tracer) pass(step, where, text, note string) {
	tr.add(Hop{Step: step, Where: where, Allowed: true, Note: note,
		Explanation: firewall.Explanation{Code: hopPassed, Allowed: true, Step: text, RuleIndex: -1}})
}

// nat adds a NAT hop.
func (tr *tracer) nat(where, text, before, after, note string) {
	tr.pass(HopNAT, where, text, note)
	hop := &tr.t.Hops[len(tr.t.Hops)-1]
	hop.Before, hop.After = before, after
}

func (tr *tracer) add(hop Hop) {
	tr.t.Hops = append(tr.t.Hops, hop)
	tr.views = append(tr.views, tr.h.Tuple)
}

// finish picks the deciding hop: the first that blocks, else the last with
// a firewall verdict, else the last; the probe takes the packet as that hop
// saw it.
func (tr *tracer) finish() {
	t := tr.t
	t.Allowed = true
	decide := -1
	for i := range t.Hops {
		hop := &t.Hops[i]
		if !hop.Allowed {
			t.Allowed = false
			decide = i
			break
		}
		if hop.Verdict != nil {
			decide = i
		}
	}
	if decide < 0 {
		decide = len(t.Hops) - 1
	}
	hop := &t.Hops[decide]
	t.Final = hop.Explanation
	if hop.Verdict != nil {
		t.Verdict = *hop.Verdict
	}
	view := tr.views[decide]
	p := &t.Probe
	p.Src, p.Dst = u32Addr(view.Src), u32Addr(view.Dst)
	if view.Proto == firewall.ProtoTCP || view.Proto == firewall.ProtoUDP {
		p.Port = view.DstPort
	}
}

// endpointAt returns the instance or internet host holding the address a,
// as the fabric routes it, or nil.
func (v *VPC) endpointAt(a uint32) *endpoint {
	if p := v.fab.lookup(a); p != nil {
		return p.Tag.(*endpoint)
	}
	return nil
}

// flowString renders a header as "tcp 10.0.1.5:40000 -> 203.0.113.9:443".
func flowString(h *firewall.Header) string {
	switch h.Proto {
	case firewall.ProtoTCP, firewall.ProtoUDP:
		return fmt.Sprintf("%s %v:%d -> %v:%d", firewall.ProtoName(h.Proto), u32Addr(h.Src), h.SrcPort, u32Addr(h.Dst), h.DstPort)
	case firewall.ProtoICMP:
		return fmt.Sprintf("icmp %v -> %v (echo id %d)", u32Addr(h.Src), u32Addr(h.Dst), h.ICMPID)
	}
	return fmt.Sprintf("%s %v -> %v", firewall.ProtoName(h.Proto), u32Addr(h.Src), u32Addr(h.Dst))
}

func u32Addr(a uint32) netip.Addr { return firewall.U32ToAddr(a) }
