package netstack

import (
	"fmt"
	"net/netip"

	"github.com/vpclab/vpclab/firewall"
)

// pathKind is where the route decision sends a frame.
type pathKind uint8

const (
	// pathNoRoute: nowhere. routePlan.code and routePlan.why say why.
	pathNoRoute pathKind = iota
	// pathIntranet: instance to instance; the sender's egress and the
	// receiver's ingress rules decide.
	pathIntranet
	// pathToInternet: instance to an internet host; the sender's egress
	// rules decide on the private view, then the source is translated
	// (routePlan.rw, or a public port of routePlan.gw's SNAT pool).
	pathToInternet
	// pathInternet: internet host to internet host; no VPC step applies.
	pathInternet
	// pathInbound: internet to an instance through its EIP or a DNAT
	// entry; routePlan.rw translates first, then the instance's ingress
	// rules decide.
	pathInbound
	// pathLocal: an endpoint to its own address. Its stack delivers such a
	// packet itself (loopback) and no VNIC or security group sees it; a
	// frame that reaches the fabric anyway goes back to its sender.
	pathLocal
	// pathGatewayReturn: internet to a NAT gateway's EIP with no DNAT
	// entry for it: only an answer to a flow the gateway's SNAT sent out
	// (or an ICMP error about one) goes on, which the SNAT table and
	// conntrack tell (state a Trace of a new flow does not have).
	pathGatewayReturn
	// pathToPeer: instance to a VPN peer; the sender's egress rules decide
	// and the frame leaves through the peer's tunnel.
	pathToPeer
)

// noRoute says which case of "no route" a frame met; a drop's
// Verdict.Detail carries it so that explanations can name the case.
type noRoute uint8

const (
	noRouteUnknown noRoute = iota
	// NO_ROUTE_TO_INTERNET: no EIP, no DNAT answer and no SNAT for the
	// sender's vswitch (or for the protocol).
	noRouteNoTranslation
	// NO_ROUTE_TO_INTERNET: the SNAT gateway had no free public port.
	noRouteSNATExhausted
	// An instance reached an EIP of its own VPC (hairpin, not supported).
	noRouteHairpinEIP
	// An instance reached a NAT gateway address of its own VPC.
	noRouteHairpinNAT
	// A public address that no host, EIP or gateway owns.
	noRoutePublicUnowned
	// A VPC address that no instance holds.
	noRoutePrivateUnheld
	// An internet host sent to a private address.
	noRouteInternetToPrivate
	// Internet to a NAT gateway port with no DNAT entry and no SNAT
	// mapping (or an ICMP error about no flow of the gateway).
	noRouteNoDNAT
	// A later fragment at a NAT gateway (ours: it reassembles nothing).
	noRouteGatewayFragment
	// A VPN peer sent to something other than an instance of the VPC.
	noRouteVPNOnlyVPC
	// The internet or another peer sent to a VPN peer's address.
	noRouteToVPNPeer
)

// routePlan is the route decision of one frame: the path, the endpoint
// that receives it, the translation known before any state, and the
// firewall steps the path takes (implied by kind). It is computed by
// VPC.plan, a pure function shared by the per-frame path (vpcRouter.Route,
// which adds conntrack, SNAT allocation and drop events) and by Trace
// (which records the hops).
type routePlan struct {
	kind pathKind
	// to is the receiving endpoint: the instance or internet host the
	// frame goes to; for pathNoRoute, the endpoint the address belongs to
	// if any (a hairpin EIP's instance, an instance's private address).
	to *endpoint
	// gw is the NAT gateway on the path: the SNAT gateway of
	// pathToInternet (nil when rw translates), the DNAT gateway of
	// pathInbound, the gateway of pathGatewayReturn and of a hairpin
	// through a NAT address.
	gw *natGateway
	// rw is the translation known before any state: an EIP, a DNAT entry,
	// a DNAT target's answer.
	rw Rewrite
	// toInternet reports that the frame leaves the VPC for the internet
	// (the platform blocks' scope, docs/semantics.md §2.1).
	toInternet bool
	code       firewall.Code // pathNoRoute: NoRouteToDestination or NoRouteToInternet
	why        noRoute       // pathNoRoute: the case
}

// plan decides the route of a frame that endpoint se sends, with header h
// as the sender's stack wrote it. It reads the fabric and the route table
// rt and changes nothing: no conntrack, no SNAT port, no counter.
func (v *VPC) plan(rt *routeTable, se *endpoint, h *firewall.Header, p *routePlan) {
	de := v.endpointAt(h.Dst)
	switch {
	case de == se:
		*p = routePlan{kind: pathLocal, to: se}
	case se.kind == OwnerVPNPeer:
		// A peer reaches the VPC's instances, as internet traffic reaches
		// an EIP but untranslated: the instance's ingress rules decide.
		if de != nil && de.nic != nil {
			*p = routePlan{kind: pathInbound, to: de}
		} else {
			*p = noRoutePlan(firewall.NoRouteToDestination, noRouteVPNOnlyVPC, de, nil, false)
		}
	case de != nil && de.kind == OwnerVPNPeer:
		if se.nic != nil {
			*p = routePlan{kind: pathToPeer, to: de}
		} else {
			*p = noRoutePlan(firewall.NoRouteToDestination, noRouteToVPNPeer, de, nil, false)
		}
	case se.nic != nil && de != nil && de.nic != nil:
		*p = routePlan{kind: pathIntranet, to: de}
	case se.nic != nil:
		*p = v.planFromInstance(rt, se, de, h)
	default:
		*p = v.planFromInternet(rt, de, h)
	}
}

func noRoutePlan(code firewall.Code, why noRoute, to *endpoint, gw *natGateway, toInternet bool) routePlan {
	return routePlan{kind: pathNoRoute, code: code, why: why, to: to, gw: gw, toInternet: toInternet}
}

// planFromInstance: to an internet host, the egress rules then the source
// translation; to an address of the VPC's own internet mapping, nowhere (no
// hairpin). (plan itself sends instance-to-instance frames to the intranet.)
func (v *VPC) planFromInstance(rt *routeTable, se, de *endpoint, h *firewall.Header) routePlan {
	switch {
	case de == nil && v.inVPC(h.Dst):
		return noRoutePlan(firewall.NoRouteToDestination, noRoutePrivateUnheld, nil, nil, false)
	case de == nil:
		// A public address: the VPC's own EIP or NAT address, or nobody's.
		if ep := rt.eipIn[h.Dst]; ep != nil {
			return noRoutePlan(firewall.NoRouteToDestination, noRouteHairpinEIP, ep, nil, true)
		}
		if gw := rt.gwIn[h.Dst]; gw != nil {
			return noRoutePlan(firewall.NoRouteToDestination, noRouteHairpinNAT, nil, gw, true)
		}
	}
	rw, gw, ok := rt.outbound(se, h)
	if !ok {
		return noRoutePlan(firewall.NoRouteToInternet, noRouteNoTranslation, de, nil, true)
	}
	if de == nil {
		return noRoutePlan(firewall.NoRouteToDestination, noRoutePublicUnowned, nil, nil, true)
	}
	return routePlan{kind: pathToInternet, to: de, gw: gw, rw: rw, toInternet: true}
}

// planFromInternet: to another internet host, straight; to an EIP or a
// DNAT entry, translated to the instance; to a NAT gateway otherwise, only
// as an answer (pathGatewayReturn); to a private address, nowhere.
func (v *VPC) planFromInternet(rt *routeTable, de *endpoint, h *firewall.Header) routePlan {
	switch {
	case de != nil && de.nic == nil:
		return routePlan{kind: pathInternet, to: de}
	case de != nil || v.inVPC(h.Dst):
		return noRoutePlan(firewall.NoRouteToDestination, noRouteInternetToPrivate, de, nil, false)
	}
	if ep := rt.eipIn[h.Dst]; ep != nil {
		rw := Rewrite{Flags: RewriteDstAddr, DstAddr: ep.addr}
		if h.Has(firewall.FlagICMPError) && h.Inner.Src == h.Dst {
			rw.Flags |= RewriteInnerSrc
			rw.InnerSrcAddr = ep.addr
		}
		return routePlan{kind: pathInbound, to: ep, rw: rw}
	}
	gw := rt.gwIn[h.Dst]
	switch {
	case gw == nil:
		return noRoutePlan(firewall.NoRouteToDestination, noRoutePublicUnowned, nil, nil, false)
	case h.Has(firewall.FlagICMPError):
		return routePlan{kind: pathGatewayReturn, gw: gw}
	case h.Has(firewall.FlagLaterFragment):
		return noRoutePlan(firewall.NoRouteToDestination, noRouteGatewayFragment, nil, gw, false)
	}
	if d, ok := gw.dnat[dnatKey{h.Proto, h.DstPort}]; ok {
		return routePlan{kind: pathInbound, to: d.ep, gw: gw,
			rw: Rewrite{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: d.addr, DstPort: d.port}}
	}
	return routePlan{kind: pathGatewayReturn, gw: gw}
}

// noRouteStep renders the deciding step of a NO_ROUTE verdict vd with the
// case it carries in Detail; ok is false for any other verdict.
func (v *VPC) noRouteStep(vd firewall.Verdict, h *firewall.Header, from string) (step string, ok bool) {
	why := noRoute(vd.Detail)
	if vd.Code != firewall.NoRouteToDestination && vd.Code != firewall.NoRouteToInternet || why == noRouteUnknown {
		return "", false
	}
	if why == noRouteSNATExhausted {
		return "nat: " + v.noRouteReason(why, h, from), true
	}
	return "route: " + v.noRouteReason(why, h, from), true
}

// noRouteReason says in one sentence why header h (as its sender wrote
// it) met no route. It is the slow path of explanations: Trace's route
// hop and drop events.
func (v *VPC) noRouteReason(why noRoute, h *firewall.Header, from string) string {
	dst := u32Addr(h.Dst)
	name, kind := v.owner(h.Dst)
	switch why {
	case noRouteNoTranslation:
		return fmt.Sprintf("%s has no EIP and its vswitch has no SNAT entry: nothing translates its private address to a public one", from)
	case noRouteSNATExhausted:
		return "the NAT gateway has no free public port for this protocol (SNAT ports exhausted)"
	case noRouteHairpinEIP:
		if ep := v.routes.Load().eipIn[h.Dst]; ep != nil {
			return fmt.Sprintf("%v is the EIP of instance %s in this VPC: traffic from inside the VPC does not loop back through it (no hairpin NAT); use its private address %v", dst, ep.name, u32Addr(ep.addr))
		}
	case noRouteHairpinNAT:
		return v.hairpinNATReason(h, name)
	case noRoutePublicUnowned:
		return fmt.Sprintf("nobody owns the public address %v: no internet host, EIP or NAT gateway has it", dst)
	case noRoutePrivateUnheld:
		return fmt.Sprintf("%v is a private address of the VPC that no instance holds", dst)
	case noRouteInternetToPrivate:
		if kind == OwnerInstance {
			return fmt.Sprintf("%v is the private address of instance %s: the internet cannot reach private addresses (give it an EIP or a DNAT entry)", dst, name)
		}
		return fmt.Sprintf("%v is a private address: the internet cannot reach private addresses", dst)
	case noRouteNoDNAT:
		return fmt.Sprintf("NAT gateway %s has no DNAT entry for %s %d; only answers to flows its SNAT sent out come back through it", name, firewall.ProtoName(h.Proto), h.DstPort)
	case noRouteVPNOnlyVPC:
		return fmt.Sprintf("%s is a VPN peer: it reaches the VPC's instances only, not %v", from, dst)
	case noRouteToVPNPeer:
		return fmt.Sprintf("%v is the VPN address of peer %s: only the VPC's instances reach it", dst, name)
	case noRouteGatewayFragment:
		return fmt.Sprintf("NAT gateway %s does not reassemble fragments: a later fragment has no ports to forward by (ours)", name)
	}
	return fmt.Sprintf("no route to %v", dst)
}

// hairpinNATReason names what to use instead of a NAT gateway's address
// from inside the VPC: the private address behind the matching DNAT entry.
func (v *VPC) hairpinNATReason(h *firewall.Header, gwName string) string {
	dst := u32Addr(h.Dst)
	rt := v.routes.Load()
	if gw := rt.gwIn[h.Dst]; gw != nil {
		if d, ok := gw.dnat[dnatKey{h.Proto, h.DstPort}]; ok {
			return fmt.Sprintf("%v is the address of NAT gateway %s in this VPC: traffic from inside the VPC does not loop back through it (no hairpin NAT); use %s's private address %v:%d", dst, gwName, d.ep.name, u32Addr(d.addr), d.port)
		}
	}
	return fmt.Sprintf("%v is the address of NAT gateway %s in this VPC: traffic from inside the VPC does not loop back through it (no hairpin NAT); use the private address of the instance you mean", dst, gwName)
}

// Inbound resolves what the internet reaches at public address dst with a
// new flow of proto to port: the instance behind an EIP or a DNAT entry
// and the private address and port its ingress rules see. ok is false
// when the route plan sends such a flow elsewhere or nowhere.
func (v *VPC) Inbound(dst netip.Addr, proto uint8, port uint16) (instance string, private netip.AddrPort, ok bool) {
	x, valid := firewall.AddrToU32(dst)
	if !valid {
		return "", netip.AddrPort{}, false
	}
	h := firewall.Header{Tuple: firewall.Tuple{Dst: x, Proto: proto, DstPort: port}}
	p := v.planFromInternet(v.routes.Load(), v.endpointAt(x), &h)
	if p.kind != pathInbound {
		return "", netip.AddrPort{}, false
	}
	applyTo(&h, &p.rw)
	return p.to.name, netip.AddrPortFrom(u32Addr(h.Dst), h.DstPort), true
}
