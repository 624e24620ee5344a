package netstack

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// traceLab is the small VPC FuzzTrace explores: instances with and without
// an EIP, on a vswitch with SNAT and one without, a NAT gateway with DNAT
// entries (one to the port a trace's client uses, so that a trace takes
// the DNAT target's answer path), two internet hosts, groups that allow,
// drop and refer to each other, and services on some ports.
func traceLab(t testing.TB) *VPC {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", "0.0.0.0/0"),
		allowIn("tcp", "22/22", "203.0.113.0/24"),
		allowIn("icmp", "", "0.0.0.0/0"),
		rule(firewall.Egress, firewall.Drop, "tcp", "8080/8080", "0.0.0.0/0"),
		rule(firewall.Egress, firewall.Accept, "all", "", "0.0.0.0/0"),
	}})
	createGroup(t, v, firewall.Group{Name: "sg-db", Rules: []firewall.Rule{
		allowIn("tcp", "22/22", "sg-web"),
		allowIn("udp", "53/53", "0.0.0.0/0"),
		rule(firewall.Ingress, firewall.Drop, "tcp", "1/65535", "198.51.100.0/24"),
		allowIn("tcp", "1/65535", "0.0.0.0/0"),
	}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Addr: netip.MustParseAddr("10.0.1.5"), Groups: []string{"sg-web"}, EIP: webEIP})
	app := addInstance(t, v, InstanceSpec{Name: "app", Addr: netip.MustParseAddr("10.0.1.6"), Groups: []string{"sg-web"}})
	addInstance(t, v, InstanceSpec{Name: "plain", Addr: netip.MustParseAddr("10.0.1.7")})
	db := addInstance(t, v, InstanceSpec{Name: "db", VSwitch: "vsw-b", Addr: netip.MustParseAddr("10.0.2.9"), Groups: []string{"sg-db"}})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"},
		PortMin: 30000, PortMax: 50000, DNAT: []DNATEntry{
			{Protocol: "tcp", PublicPort: 2222, Instance: "db", Port: 22},
			{Protocol: "udp", PublicPort: 5353, Instance: "db", Port: 53},
			{Protocol: "tcp", PublicPort: 8443, Instance: "app", Port: TraceSourcePort},
		}}))
	c1 := addHost(t, v, "client1", client1.String())
	addHost(t, v, "client2", client2.String())
	require.NoError(t, web.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 80}))
	require.NoError(t, web.Serve(ServiceSpec{Kind: ServiceEcho, Port: 22}))
	require.NoError(t, app.Serve(ServiceSpec{Kind: ServiceEcho, Port: TraceSourcePort}))
	require.NoError(t, db.Serve(ServiceSpec{Kind: ServiceEcho, Port: 22}))
	require.NoError(t, db.Serve(ServiceSpec{Kind: ServiceEcho, Port: 53, Protocol: "udp"}))
	require.NoError(t, c1.Serve(ServiceSpec{Kind: ServiceEcho, Port: 443}))
	return v
}

var (
	plainEIP   = netip.MustParseAddr("47.0.0.99")
	traceFroms = []string{"web", "app", "plain", "db", "client1", "client2", "nobody"}
	traceDsts  = []netip.Addr{
		netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("10.0.1.6"), netip.MustParseAddr("10.0.1.7"),
		netip.MustParseAddr("10.0.2.9"), webEIP, gwEIP, client1, client2, plainEIP,
		netip.MustParseAddr("10.0.1.200"), // a VPC address no instance holds
		netip.MustParseAddr("10.0.2.0"),   // a vswitch's network address
		netip.MustParseAddr("8.8.8.8"),    // public, nobody's
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("224.0.0.1"),
	}
	traceProtos = []uint8{firewall.ProtoTCP, firewall.ProtoUDP, firewall.ProtoICMP, 47}
	tracePorts  = []uint16{22, 25, 53, 80, 443, 2222, 5353, 8080, 8443, TraceSourcePort, 0, 65535}
)

// traceFrame is the first packet a Trace follows, as a stack would send it.
func traceFrame(tr *Trace, src uint32, dst uint32) []byte {
	switch tr.Proto {
	case firewall.ProtoTCP:
		l4 := l4TCP(TraceSourcePort, tr.Port, 0, "")
		l4[13] = 0x02 // SYN
		return ipPacket(tr.Proto, 0, 0, src, dst, l4)
	case firewall.ProtoUDP:
		return ipPacket(tr.Proto, 0, 0, src, dst, l4UDP(TraceSourcePort, tr.Port, "probe"))
	case firewall.ProtoICMP:
		return ipPacket(tr.Proto, 0, 0, src, dst, l4Echo(firewall.ICMPEchoRequest, TraceSourcePort, "probe"))
	}
	return ipPacket(tr.Proto, 0, 0, src, dst, []byte("raw payload"))
}

// setLabState puts traceLab in one of the states the bits of state name:
// outbound SMTP blocked (1), web with its EIP (2), plain in sg-db too (4),
// plain with an EIP (8).
func setLabState(t *testing.T, v *VPC, state uint8) {
	v.fw.SetBlockOutboundSMTP(state&1 != 0)
	eip := func(name string, addr netip.Addr, want bool) {
		if has := v.EIPOf(name).IsValid(); has != want {
			var err error
			if want {
				err = v.AssociateEIP(name, addr)
			} else {
				err = v.UnassociateEIP(name)
			}
			require.NoError(t, err)
		}
	}
	eip("web", webEIP, state&2 != 0)
	eip("plain", plainEIP, state&8 != 0)
	in := false
	for _, g := range v.fw.NICGroups("plain") {
		in = in || g == "sg-db"
	}
	switch want := state&4 != 0; {
	case want && !in:
		require.NoError(t, v.fw.JoinGroup("plain", "sg-db"))
	case !want && in:
		require.NoError(t, v.fw.LeaveGroup("plain", "sg-db"))
	}
}

// forgetState flushes conntrack and the SNAT tables: every frame is the
// first of its flow, as a Trace assumes.
func forgetState(v *VPC) {
	v.fw.Conntrack().Flush()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, gw := range v.gateways {
		for _, t := range gw.tables {
			t.mu.Lock()
			clear(t.byPriv)
			clear(t.byPub)
			t.next = t.lo
			t.mu.Unlock()
		}
	}
}

// FuzzTrace traces random (from, to, proto, port) over traceLab and sends
// the same first packet through the data plane's Route: Trace never fails
// for a known sender and an IPv4 destination, always decides with a
// reason, agrees with the route plan, and agrees with Route — a packet the
// trace lets through every step before the listener reaches the same
// endpoint with the translation the NAT hop shows; one it blocks is
// dropped with the trace's verdict and reason.
func FuzzTrace(f *testing.F) {
	v := traceLab(f)
	sub := v.SubscribeDrops(64)
	f.Cleanup(sub.Close)
	for i := range traceFroms {
		for j := range traceDsts {
			f.Add(uint8(i), uint8(j), uint32(0), uint8((i+j)%len(traceProtos)), uint8((i*7+j)%len(tracePorts)), uint16(0), uint8(2|(i+j)%16))
		}
	}
	f.Add(uint8(4), uint8(255), uint32(0x2f000002), uint8(0), uint8(255), uint16(1234), uint8(2)) // a public address next to the EIPs
	f.Add(uint8(0), uint8(255), uint32(0x0a0001ff), uint8(1), uint8(255), uint16(9), uint8(3))    // the vswitch's broadcast address
	f.Fuzz(func(t *testing.T, fromSel, dstSel uint8, dstRaw uint32, protoSel, portSel uint8, portRaw uint16, state uint8) {
		setLabState(t, v, state)
		from := traceFroms[int(fromSel)%len(traceFroms)]
		dst := firewall.U32ToAddr(dstRaw)
		if int(dstSel) < len(traceDsts) {
			dst = traceDsts[dstSel]
		}
		proto := uint8(protoSel)
		if int(protoSel) < len(traceProtos) {
			proto = traceProtos[protoSel]
		}
		port := portRaw
		if int(portSel) < len(tracePorts) {
			port = tracePorts[portSel]
		}

		tr, err := v.Trace(from, dst, proto, port)
		if from == "nobody" {
			var ve *Error
			if !errors.As(err, &ve) || ve.Code != ErrInstanceNotFound {
				t.Fatalf("Trace from an unknown name: err = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Trace(%s, %v, %d, %d): %v", from, dst, proto, port, err)
		}
		checkTraceShape(t, tr)

		v.mu.Lock()
		se := v.endpoints[from]
		v.mu.Unlock()
		x, _ := firewall.AddrToU32(dst)
		checkTracePlan(t, v, tr, se, x)

		forgetState(v)
		drain(sub)
		frame := traceFrame(tr, se.addr, x)
		to, rw := vpcRouter{v}.Route(se.port, frame, len(frame))
		var ev *DropEvent
		select {
		case e := <-sub.C:
			ev = &e
		default:
		}
		checkTraceRoute(t, tr, frame, to, rw, ev)
	})
}

// checkTraceShape: every hop says what it is and why; the trace decides
// with a reason, and is allowed exactly when every hop is.
func checkTraceShape(t *testing.T, tr *Trace) {
	if len(tr.Hops) == 0 {
		t.Fatalf("trace %s -> %v: no hops", tr.From, tr.Dst)
	}
	allowed := true
	for i, h := range tr.Hops {
		if h.Step == "" || h.Explanation.Code == "" || h.Explanation.Step == "" {
			t.Fatalf("trace %s -> %v: hop %d has no step, code or reason: %+v", tr.From, tr.Dst, i, h)
		}
		if h.Allowed != h.Explanation.Allowed || h.Verdict != nil && h.Verdict.Allowed() != h.Allowed {
			t.Fatalf("trace %s -> %v: hop %d disagrees with itself: %+v", tr.From, tr.Dst, i, h)
		}
		allowed = allowed && h.Allowed
	}
	if tr.Allowed != allowed {
		t.Fatalf("trace %s -> %v: Allowed = %v, but the hops say %v", tr.From, tr.Dst, tr.Allowed, allowed)
	}
	if tr.Final.Code == "" || tr.Final.Step == "" {
		t.Fatalf("trace %s -> %v: no deciding reason: %+v", tr.From, tr.Dst, tr.Final)
	}
	if !tr.Allowed && tr.Verdict.Allowed() {
		t.Fatalf("trace %s -> %v: blocked, but its verdict %v allows", tr.From, tr.Dst, tr.Verdict.Code)
	}
}

// checkTracePlan: the trace's route hop is the route plan's decision.
func checkTracePlan(t *testing.T, v *VPC, tr *Trace, se *endpoint, dst uint32) {
	h := firewall.Header{Tuple: firewall.Tuple{Src: se.addr, Dst: dst, Proto: tr.Proto, SrcPort: TraceSourcePort, DstPort: tr.Port}}
	switch tr.Proto {
	case firewall.ProtoICMP:
		h.SrcPort, h.DstPort = 0, 0
		h.Flags, h.ICMPType, h.ICMPID = firewall.FlagICMPEcho, firewall.ICMPEchoRequest, TraceSourcePort
	case firewall.ProtoTCP:
		h.TCPFlags = firewall.TCPSyn
	case firewall.ProtoUDP:
	default:
		h.SrcPort, h.DstPort = 0, 0
	}
	var p routePlan
	v.plan(v.routes.Load(), se, &h, &p)
	var route *Hop
	for i := range tr.Hops {
		if tr.Hops[i].Step == HopRoute {
			route = &tr.Hops[i]
			break
		}
	}
	if route == nil {
		t.Fatalf("trace %s -> %v: no route hop", tr.From, tr.Dst)
	}
	switch p.kind {
	case pathNoRoute, pathGatewayReturn:
		code, why := p.code, p.why
		if p.kind == pathGatewayReturn { // a new flow answers nothing
			code, why = firewall.NoRouteToDestination, noRouteNoDNAT
		}
		if route.Allowed || route.Verdict == nil || route.Verdict.Code != code || noRoute(route.Verdict.Detail) != why {
			t.Fatalf("trace %s -> %v %s %d: the plan has no route (%v, case %d), the route hop says %+v", tr.From, tr.Dst, firewall.ProtoName(tr.Proto), tr.Port, code, why, route)
		}
	default:
		if !route.Allowed {
			t.Fatalf("trace %s -> %v: the plan routes to %s, the route hop blocks: %+v", tr.From, tr.Dst, p.to.name, route)
		}
		if p.gw == nil || p.kind != pathInbound {
			if route.Where != p.to.name {
				t.Fatalf("trace %s -> %v: the plan routes to %s, the route hop is at %q", tr.From, tr.Dst, p.to.name, route.Where)
			}
		}
	}
}

// checkTraceRoute: the data plane does what the trace says.
func checkTraceRoute(t *testing.T, tr *Trace, frame []byte, to *Port, rw Rewrite, ev *DropEvent) {
	through := true // every step before the listener lets the packet on
	var nat, listener *Hop
	for i := range tr.Hops {
		switch h := &tr.Hops[i]; h.Step {
		case HopListener:
			listener = h
		case HopNAT:
			nat = h
			through = through && h.Allowed
		default:
			through = through && h.Allowed
		}
	}
	name := tr.From + " -> " + tr.Dst.String() + " " + firewall.ProtoName(tr.Proto)
	if !through {
		if to != nil {
			t.Fatalf("%s %d: the trace blocks (%s: %s), Route sends the packet to %s", name, tr.Port, tr.Final.Code, tr.Final.Step, to.Tag.(*endpoint).name)
		}
		if ev == nil {
			t.Fatalf("%s %d: Route dropped the packet without a drop event", name, tr.Port)
		}
		if ev.Verdict.Code != tr.Verdict.Code || ev.Explanation.Code != tr.Final.Code || ev.Explanation.Step != tr.Final.Step {
			t.Fatalf("%s %d: the trace blocks with %s (%s), Route drops with %s (%s)", name, tr.Port, tr.Final.Code, tr.Final.Step, ev.Explanation.Code, ev.Explanation.Step)
		}
		return
	}
	if to == nil {
		reason := "no drop event"
		if ev != nil {
			reason = ev.Explanation.Code + ": " + ev.Explanation.Step
		}
		t.Fatalf("%s %d: the trace lets the packet through to the listener, Route drops it (%s)", name, tr.Port, reason)
	}
	if listener == nil || to.Tag.(*endpoint).name != listener.Where {
		t.Fatalf("%s %d: Route sends the packet to %s, the trace to %+v", name, tr.Port, to.Tag.(*endpoint).name, listener)
	}
	if nat == nil {
		if rw.Flags != 0 {
			t.Fatalf("%s %d: Route translates (%+v), the trace has no NAT hop", name, tr.Port, rw)
		}
		return
	}
	var h firewall.Header
	if perr := firewall.Parse(frame, &h); perr != firewall.ParseOK {
		t.Fatalf("%s: the probe frame does not parse: %v", name, perr)
	}
	applyTo(&h, &rw)
	got := flowString(&h)
	if strings.Contains(nat.After, "[") {
		// SNAT: the trace names the gateway's pool, Route took a port of it.
		if rw.Flags&RewriteSrcPort == 0 || !strings.Contains(nat.After, " "+u32Addr(h.Src).String()) {
			t.Fatalf("%s %d: Route translates to %s, the trace's NAT hop to %s", name, tr.Port, got, nat.After)
		}
		return
	}
	if got != nat.After {
		t.Fatalf("%s %d: Route translates to %s, the trace's NAT hop to %s", name, tr.Port, got, nat.After)
	}
}
