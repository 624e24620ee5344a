package netstack

import (
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// vpcRouter is the VPC's Router: it runs the firewall and the internet
// mapping on every frame (semantics.md §2 and §5).
type vpcRouter struct{ v *VPC }

// Verdict.Detail of a NO_ROUTE_TO_INTERNET drop when the NAT gateway had no
// free public port (ours: the cloud reports it as a NAT metric).
const detailSNATExhausted = 1

// Route implements Router. Per frame and without NAT it parses the headers,
// looks up the destination port and asks the firewall, allocating nothing.
func (r vpcRouter) Route(src *Port, ip []byte, size int) (*Port, Rewrite) {
	v := r.v
	se, _ := src.Tag.(*endpoint)
	if se == nil {
		return nil, Rewrite{}
	}
	var h firewall.Header
	if perr := firewall.ParseHeaders(ip, size, &h); perr != firewall.ParseOK {
		code := firewall.MalformedFrame
		if perr == firewall.ErrIPv6 {
			code = firewall.IPv6NotSupported
		}
		v.drop(se, se, nil, &h, firewall.Verdict{Code: code, Detail: uint8(perr), Entry: -1})
		return nil, Rewrite{}
	}
	dst := v.fab.lookup(h.Dst)
	var de *endpoint
	if dst != nil {
		de = dst.Tag.(*endpoint)
	}
	if se.nic != nil { // from an instance
		switch {
		case de != nil && de.nic != nil: // to an instance: both NICs' rules
			vd := v.fw.Decide(&h, firewall.Path{Src: se.nic, Dst: de.nic})
			if !vd.Allowed() {
				v.drop(nil, se, de, &h, vd)
				return nil, Rewrite{}
			}
			return dst, Rewrite{}
		case de != nil || !v.inVPC(h.Dst):
			return v.toInternet(se, de, &h)
		}
		v.deadEnd(se, nil, &h, false, firewall.NoRouteToDestination)
		return nil, Rewrite{}
	}
	// From an internet host: no security group of its own.
	if de != nil && de.nic == nil {
		return dst, Rewrite{}
	}
	if de == nil && !v.inVPC(h.Dst) {
		rt := v.routes.Load()
		if ep := rt.eipIn[h.Dst]; ep != nil {
			return v.fromEIP(se, ep, &h)
		}
		if gw := rt.gwIn[h.Dst]; gw != nil {
			return v.fromGateway(se, gw, &h)
		}
	}
	// A private address, or a public one nobody owns.
	v.drop(se, se, de, &h, firewall.Verdict{Code: firewall.NoRouteToDestination, Entry: -1})
	return nil, Rewrite{}
}

// toInternet carries a frame from instance se to a public address (de: the
// internet host owning it, or nil): egress rules first, on the private view,
// then the source translation — the instance's EIP, else the DNAT entry it
// answers for, else the SNAT of its vswitch (semantics.md §5.3–§5.4).
func (v *VPC) toInternet(se, de *endpoint, h *firewall.Header) (*Port, Rewrite) {
	rw, gw, ok := v.routes.Load().outbound(se, h)
	if !ok {
		v.deadEnd(se, de, h, true, firewall.NoRouteToInternet)
		return nil, Rewrite{}
	}
	if de == nil {
		v.deadEnd(se, nil, h, true, firewall.NoRouteToDestination)
		return nil, Rewrite{}
	}
	vd := v.fw.Decide(h, firewall.Path{Src: se.nic, ToInternet: true})
	if !vd.Allowed() {
		v.drop(se, se, de, h, vd)
		return nil, Rewrite{}
	}
	if gw != nil {
		rw = Rewrite{Flags: RewriteSrcAddr, SrcAddr: gw.eip}
		if !h.Has(firewall.FlagLaterFragment) {
			k := snatKey{h.Src, h.SrcPort}
			if h.Proto == firewall.ProtoICMP {
				k.port = h.ICMPID
			}
			pub, ok := gw.table(h.Proto).out(k)
			if !ok {
				if vd.Code != firewall.ConntrackEstablished {
					v.fw.Conntrack().Delete(h)
				}
				v.drop(se, se, de, h, firewall.Verdict{Code: firewall.NoRouteToInternet, Detail: detailSNATExhausted, Entry: -1})
				return nil, Rewrite{}
			}
			rw.Flags |= RewriteSrcPort
			rw.SrcPort = pub
		}
	}
	return de.port, rw
}

// outbound chooses the source translation of a frame from instance se to
// the internet (semantics.md §5.3–§5.4): the instance's EIP; else, for a
// DNAT target answering from its private port (or an ICMP error about such
// a flow), the gateway's EIP and public port; else the SNAT gateway gw of
// its vswitch, whose public port is allocated only once the firewall allows
// the frame. ok is false when nothing translates it: NO_ROUTE_TO_INTERNET.
// It is pure: Route and Trace share it.
func (rt *routeTable) outbound(se *endpoint, h *firewall.Header) (rw Rewrite, gw *natGateway, ok bool) {
	icmpErr := h.Has(firewall.FlagICMPError)
	switch eip := se.eip.Load(); {
	case eip != 0:
		rw = Rewrite{Flags: RewriteSrcAddr, SrcAddr: eip}
		if icmpErr {
			rw.Flags |= RewriteInnerDst
			rw.InnerDstAddr = eip
		}
	case icmpErr:
		// An error about a flow that came in through a DNAT entry.
		o, found := rt.dnatOut[dnatRevKey{h.Inner.Proto, h.Inner.Dst, h.Inner.DstPort}]
		if !found {
			return Rewrite{}, nil, false
		}
		rw = Rewrite{Flags: RewriteSrcAddr | RewriteInnerDst, SrcAddr: o.gw.eip, InnerDstAddr: o.gw.eip, InnerDstPort: o.port}
	default:
		if o, found := rt.dnatOut[dnatRevKey{h.Proto, h.Src, h.SrcPort}]; found && !h.Has(firewall.FlagLaterFragment) {
			return Rewrite{Flags: RewriteSrcAddr | RewriteSrcPort, SrcAddr: o.gw.eip, SrcPort: o.port}, nil, true
		}
		gw = rt.snat[se.vsw]
		if gw == nil || gw.table(h.Proto) == nil || h.Proto == firewall.ProtoICMP && !h.Has(firewall.FlagICMPEcho) {
			return Rewrite{}, nil, false
		}
	}
	return rw, gw, true
}

// fromEIP carries a frame from the internet to an instance's EIP: the EIP
// is translated first, then the instance's ingress rules see the client's
// real public address (semantics.md §5.2).
func (v *VPC) fromEIP(se, ep *endpoint, h *firewall.Header) (*Port, Rewrite) {
	eip := h.Dst
	h.Dst = ep.addr
	rw := Rewrite{Flags: RewriteDstAddr, DstAddr: ep.addr}
	if h.Has(firewall.FlagICMPError) && h.Inner.Src == eip {
		h.Inner.Src = ep.addr
		rw.Flags |= RewriteInnerSrc
		rw.InnerSrcAddr = ep.addr
	}
	vd := v.fw.Decide(h, firewall.Path{Dst: ep.nic})
	if !vd.Allowed() {
		v.drop(ep, se, ep, h, vd)
		return nil, Rewrite{}
	}
	return ep.port, rw
}

// fromGateway carries a frame from the internet to a NAT gateway's EIP: a
// DNAT entry forwards it to its instance, whose ingress rules decide; else
// it must answer a flow an SNAT mapping sent out (it is then tracked).
func (v *VPC) fromGateway(se *endpoint, gw *natGateway, h *firewall.Header) (*Port, Rewrite) {
	noRoute := func(to *endpoint) (*Port, Rewrite) {
		v.drop(se, se, to, h, firewall.Verdict{Code: firewall.NoRouteToDestination, Entry: -1})
		return nil, Rewrite{}
	}
	if h.Has(firewall.FlagICMPError) {
		// An error about a flow an instance sent out through the gateway.
		in := &h.Inner
		t := gw.table(in.Proto)
		if t == nil || in.Src != gw.eip {
			return noRoute(nil)
		}
		if d, ok := gw.dnat[dnatKey{in.Proto, in.SrcPort}]; ok {
			in.Src, in.SrcPort = d.addr, d.port
		} else {
			k, ok := t.in(in.SrcPort)
			if !ok {
				return noRoute(nil)
			}
			in.Src, in.SrcPort = k.addr, k.port
		}
		if in.Proto == firewall.ProtoICMP {
			in.DstPort = in.SrcPort // an echo's id stands for both ports
		}
		to := v.fab.lookup(in.Src)
		if to == nil || !v.fw.Conntrack().Lookup(h) {
			return noRoute(nil)
		}
		h.Dst = in.Src
		return to, Rewrite{Flags: RewriteDstAddr | RewriteInnerSrc, DstAddr: in.Src, InnerSrcAddr: in.Src, InnerSrcPort: in.SrcPort}
	}
	if h.Has(firewall.FlagLaterFragment) {
		return noRoute(nil) // ours: fragments are not reassembled at the gateway
	}
	if d, ok := gw.dnat[dnatKey{h.Proto, h.DstPort}]; ok {
		h.Dst, h.DstPort = d.addr, d.port
		vd := v.fw.Decide(h, firewall.Path{Dst: d.ep.nic})
		if !vd.Allowed() {
			v.drop(d.ep, se, d.ep, h, vd)
			return nil, Rewrite{}
		}
		return d.ep.port, Rewrite{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: d.addr, DstPort: d.port}
	}
	t := gw.table(h.Proto)
	pub := h.DstPort
	if h.Proto == firewall.ProtoICMP {
		if !h.Has(firewall.FlagICMPEcho) {
			return noRoute(nil)
		}
		pub = h.ICMPID
	}
	if t == nil {
		return noRoute(nil)
	}
	k, ok := t.in(pub)
	if !ok {
		return noRoute(nil)
	}
	h.Dst = k.addr
	if h.Proto == firewall.ProtoICMP {
		h.ICMPID = k.port
	} else {
		h.DstPort = k.port
	}
	to := v.fab.lookup(k.addr)
	if to == nil || !v.fw.Conntrack().Lookup(h) {
		return noRoute(nil)
	}
	return to, Rewrite{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: k.addr, DstPort: k.port}
}

// deadEnd drops a frame from instance se that has nowhere to go, with code
// — unless an earlier step would have dropped it: the platform block, then
// the sender's egress rules (semantics.md §5.3 evaluates them first). A
// dead end creates no conntrack entry.
func (v *VPC) deadEnd(se, de *endpoint, h *firewall.Header, toInternet bool, code firewall.Code) {
	vd := firewall.Verdict{Code: code, Entry: -1}
	switch {
	case v.fw.PlatformBlocked(h, toInternet):
		vd = firewall.Verdict{Code: firewall.PlatformPortBlocked, Dir: firewall.Egress, Entry: -1}
	case v.fw.Conntrack().Lookup(h):
	default:
		if ev := se.nic.Policy().Egress.Classify(&h.Tuple); !ev.Allowed() {
			vd = ev
		}
	}
	v.drop(se, se, de, h, vd)
}

// drop counts a dropped frame on the NIC it is charged to (nil: the
// sender's, or the receiver's for an ingress verdict) and, if anyone
// subscribes, publishes a drop event.
func (v *VPC) drop(charge, from, to *endpoint, h *firewall.Header, vd firewall.Verdict) {
	if charge == nil {
		charge = from
		if vd.Policy != nil && vd.Dir == firewall.Ingress && to != nil {
			charge = to
		}
	}
	if charge != nil && int(vd.Code) < len(charge.drops) {
		charge.drops[vd.Code].Add(1)
	}
	if !v.drops.active() {
		return
	}
	ev := DropEvent{Time: time.Now(), Flow: h.Tuple, Verdict: vd, Explanation: firewall.Explain(vd)}
	if from != nil {
		ev.From = from.name
	}
	if to != nil {
		ev.To = to.name
	}
	if vd.Code == firewall.NoRouteToInternet && vd.Detail == detailSNATExhausted {
		ev.Explanation.Step = "nat: the NAT gateway has no free public port for this protocol (SNAT ports exhausted)"
	}
	v.drops.publish(&ev)
}
