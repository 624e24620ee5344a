package netstack

import (
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// vpcRouter is the VPC's Router: it runs the firewall and the internet
// mapping on every frame (docs/semantics.md §2 and §5).
type vpcRouter struct{ v *VPC }

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
		v.drop(se, se, nil, &h, firewall.Verdict{Code: code, Detail: uint8(perr), Entry: -1}, ip, size)
		return nil, Rewrite{}
	}
	if se.shard != nil && se.nic == nil {
		return v.fromEdge(se, &h, ip, size)
	}
	rt := v.routes.Load()
	var p routePlan
	v.plan(rt, se, &h, &p)
	switch p.kind {
	case pathIntranet:
		if p.to.shard != nil || se.shard != nil {
			if !v.crossShard(se, p.to, &h, ip, size) {
				return nil, Rewrite{}
			}
		}
		vd := v.fw.Decide(&h, firewall.Path{Src: se.nic, Dst: p.to.nic})
		if !vd.Allowed() {
			v.drop(nil, se, p.to, &h, vd, ip, size)
			return nil, Rewrite{}
		}
		return p.to.port, Rewrite{}
	case pathToInternet:
		return v.toInternet(se, &p, &h, ip, size)
	case pathToPeer:
		vd := v.fw.Decide(&h, firewall.Path{Src: se.nic})
		if !vd.Allowed() {
			v.drop(se, se, p.to, &h, vd, ip, size)
			return nil, Rewrite{}
		}
		return p.to.port, Rewrite{}
	case pathInternet, pathLocal:
		return p.to.port, Rewrite{}
	case pathInbound:
		applyTo(&h, &p.rw)
		if p.to.shard != nil && !v.crossShard(se, p.to, &h, ip, size) {
			return nil, Rewrite{}
		}
		vd := v.fw.Decide(&h, firewall.Path{Dst: p.to.nic})
		if !vd.Allowed() {
			v.drop(p.to, se, p.to, &h, vd, ip, size)
			return nil, Rewrite{}
		}
		return p.to.port, p.rw
	case pathGatewayReturn:
		if to, rw, ok := v.gatewayReturn(p.gw, &h); ok {
			if te, _ := to.Tag.(*endpoint); te != nil && te.shard != nil && !v.crossShard(se, te, &h, ip, size) {
				return nil, Rewrite{}
			}
			return to, rw
		}
		p = noRoutePlan(firewall.NoRouteToDestination, noRouteNoDNAT, nil, p.gw, false)
	}
	if se.nic != nil {
		v.deadEnd(se, &p, &h, ip, size)
	} else {
		v.drop(se, se, p.to, &h, firewall.Verdict{Code: p.code, Detail: uint8(p.why), Entry: -1}, ip, size)
	}
	return nil, Rewrite{}
}

// toInternet carries a frame from instance se to internet host p.to: the
// egress rules decide first, on the private view, then the source is
// translated — by p.rw, or by a public port of the SNAT gateway p.gw,
// allocated only once the firewall allowed the frame (docs/semantics.md §5.3).
//
// In a sharded VPC, an internet host another shard (the edge) runs gets
// the frame untranslated, in the private view: the edge decides it again
// on its own conntrack and translates it there, where the SNAT tables are.
func (v *VPC) toInternet(se *endpoint, p *routePlan, h *firewall.Header, ip []byte, size int) (*Port, Rewrite) {
	if (p.to.shard != nil || se.shard != nil) && !v.crossShard(se, p.to, h, ip, size) {
		return nil, Rewrite{}
	}
	vd := v.fw.Decide(h, firewall.Path{Src: se.nic, ToInternet: true})
	if !vd.Allowed() {
		v.drop(se, se, p.to, h, vd, ip, size)
		return nil, Rewrite{}
	}
	if p.to.shard != nil {
		return p.to.port, Rewrite{}
	}
	rw := p.rw
	if gw := p.gw; gw != nil {
		rw = Rewrite{Flags: RewriteSrcAddr, SrcAddr: gw.eip}
		if !h.Has(firewall.FlagLaterFragment) {
			k := snatKey{h.Src, h.SrcPort}
			if h.Proto == firewall.ProtoICMP {
				k.port = h.ICMPID
			}
			pub, ok := gw.table(h.Proto).out(k)
			if !ok {
				forget := vd.Code != firewall.ConntrackEstablished
				if forget {
					v.fw.Conntrack().Delete(h)
				}
				v.dropForget(se, se, p.to, h, firewall.Verdict{Code: firewall.NoRouteToInternet, Detail: uint8(noRouteSNATExhausted), Entry: -1}, ip, size, forget)
				return nil, Rewrite{}
			}
			rw.Flags |= RewriteSrcPort
			rw.SrcPort = pub
		}
	}
	return p.to.port, rw
}

// fromEdge carries a frame that the edge shard of a sharded VPC sent from
// internet host se: the edge planned, translated and decided it (the
// instance's ingress on its conntrack, or the return of a SNAT flow), so
// it arrives in the private view, addressed to an instance of this shard.
// This shard decides it again on its own conntrack (its twin of the
// edge's) before delivery; anything else has no route here.
func (v *VPC) fromEdge(se *endpoint, h *firewall.Header, ip []byte, size int) (*Port, Rewrite) {
	de := v.endpointAt(h.Dst)
	if de == nil || de.nic == nil || de.shard != nil {
		v.drop(se, se, de, h, firewall.Verdict{Code: firewall.NoRouteToDestination, Entry: -1}, ip, size)
		return nil, Rewrite{}
	}
	vd := v.fw.Decide(h, firewall.Path{Dst: de.nic})
	if !vd.Allowed() {
		v.drop(de, se, de, h, vd, ip, size)
		return nil, Rewrite{}
	}
	return de.port, Rewrite{}
}

// outbound chooses the source translation of a frame from instance se to
// the internet (docs/semantics.md §5.3–§5.4): the instance's EIP; else, for a
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

// gatewayReturn carries a frame from the internet to NAT gateway gw's
// EIP that no DNAT entry forwards: an answer to a flow the gateway's SNAT
// sent out, or an ICMP error about one (or about a DNAT flow). The SNAT
// table gives the instance and conntrack must know the flow; ok is false
// otherwise.
func (v *VPC) gatewayReturn(gw *natGateway, fh *firewall.Header) (to *Port, rw Rewrite, ok bool) {
	h := *fh // fh keeps the public view for the drop event of an unknown flow
	if to, rw, ok = v.translateReturn(gw, &h); ok {
		*fh = h
	}
	return to, rw, ok
}

// translateReturn translates h for gatewayReturn.
func (v *VPC) translateReturn(gw *natGateway, h *firewall.Header) (to *Port, rw Rewrite, ok bool) {
	if h.Has(firewall.FlagICMPError) {
		in := &h.Inner
		t := gw.table(in.Proto)
		if t == nil || in.Src != gw.eip {
			return nil, Rewrite{}, false
		}
		if d, found := gw.dnat[dnatKey{in.Proto, in.SrcPort}]; found {
			in.Src, in.SrcPort = d.addr, d.port
		} else {
			k, found := t.in(in.SrcPort)
			if !found {
				return nil, Rewrite{}, false
			}
			in.Src, in.SrcPort = k.addr, k.port
		}
		if in.Proto == firewall.ProtoICMP {
			in.DstPort = in.SrcPort // an echo's id stands for both ports
		}
		to = v.fab.lookup(in.Src)
		if to == nil || !v.fw.Conntrack().Lookup(h) {
			return nil, Rewrite{}, false
		}
		h.Dst = in.Src
		return to, Rewrite{Flags: RewriteDstAddr | RewriteInnerSrc, DstAddr: in.Src, InnerSrcAddr: in.Src, InnerSrcPort: in.SrcPort}, true
	}
	t := gw.table(h.Proto)
	pub := h.DstPort
	if h.Proto == firewall.ProtoICMP {
		if !h.Has(firewall.FlagICMPEcho) {
			return nil, Rewrite{}, false
		}
		pub = h.ICMPID
	}
	if t == nil {
		return nil, Rewrite{}, false
	}
	k, found := t.in(pub)
	if !found {
		return nil, Rewrite{}, false
	}
	h.Dst = k.addr
	if h.Proto == firewall.ProtoICMP {
		h.ICMPID = k.port
	} else {
		h.DstPort = k.port
	}
	to = v.fab.lookup(k.addr)
	if to == nil || !v.fw.Conntrack().Lookup(h) {
		return nil, Rewrite{}, false
	}
	return to, Rewrite{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: k.addr, DstPort: k.port}, true
}

// deadEnd drops a frame from instance se that plan p sends nowhere — with
// p's code unless an earlier step would have dropped it: the platform
// block, then the sender's egress rules (docs/semantics.md §5.3 evaluates them
// first). A dead end creates no conntrack entry.
func (v *VPC) deadEnd(se *endpoint, p *routePlan, h *firewall.Header, ip []byte, size int) {
	vd := firewall.Verdict{Code: p.code, Detail: uint8(p.why), Entry: -1}
	switch {
	case v.fw.PlatformBlocked(h, p.toInternet):
		vd = firewall.Verdict{Code: firewall.PlatformPortBlocked, Dir: firewall.Egress, Entry: -1}
	case v.fw.Conntrack().Lookup(h):
	default:
		if ev := se.nic.Policy().Egress.Classify(&h.Tuple); !ev.Allowed() {
			vd = ev
		}
	}
	v.drop(se, se, p.to, h, vd, ip, size)
}

// drop counts a dropped frame on the NIC it is charged to (nil: the
// sender's, or the receiver's for an ingress verdict) and, if anyone
// subscribes, publishes a drop event; if a capture watches that NIC, it
// hands it the frame (ip, of size bytes) with the event.
//
// A frame another shard's endpoint sent is dropped on that shard too: a
// drop notice tells it (notifyDrop).
func (v *VPC) drop(charge, from, to *endpoint, h *firewall.Header, vd firewall.Verdict, ip []byte, size int) {
	v.dropForget(charge, from, to, h, vd, ip, size, false)
}

// dropForget is drop; forget says that the flow's conntrack entry was
// deleted, which a drop notice passes on.
func (v *VPC) dropForget(charge, from, to *endpoint, h *firewall.Header, vd firewall.Verdict, ip []byte, size int, forget bool) {
	if from != nil && from.shard != nil {
		v.notifyDrop(from, to, &vd, ip, size, forget)
	}
	if charge == nil {
		charge = from
		if vd.Policy != nil && vd.Dir == firewall.Ingress && to != nil {
			charge = to
		}
	}
	if charge != nil && int(vd.Code) < len(charge.drops) {
		charge.drops[vd.Code].Add(1)
	}
	captured := v.captures(charge)
	if !captured && !v.drops.active() {
		return
	}
	ev := DropEvent{Time: time.Now(), Flow: h.Tuple, Verdict: vd, Explanation: firewall.Explain(vd)}
	if from != nil {
		ev.From = from.name
	}
	switch name, kind := v.owner(h.Dst); {
	case to != nil:
		ev.To = to.name
	case kind != OwnerNone:
		ev.To = name
	default:
		ev.To = u32Addr(h.Dst).String()
	}
	if step, ok := v.noRouteStep(vd, h, ev.From); ok {
		ev.Explanation.Step = step
	}
	v.drops.publish(&ev)
	if captured {
		v.captureDrop(charge, ip, size, &ev)
	}
}
