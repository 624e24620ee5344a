package netstack

import (
	"bytes"
	"testing"

	"github.com/vpclab/vpclab/firewall"
)

// primeRoutes forgets all state, then sends the first packets of flows
// from app (SNAT) and db (a DNAT target) to client1 through Route, as
// their stacks would: the SNAT table and conntrack then know flows that
// answers and ICMP errors from the internet can match.
func primeRoutes(t *testing.T, v *VPC) {
	forgetState(v)
	v.mu.Lock()
	app, db := v.endpoints["app"], v.endpoints["db"]
	v.mu.Unlock()
	c1, _ := firewall.AddrToU32(client1)
	syn := l4TCP(TraceSourcePort, 443, 0, "")
	syn[13] = 0x02
	for _, p := range []struct {
		from  *endpoint
		frame []byte
	}{
		{app, ipPacket(6, 0, 0, app.addr, c1, syn)},
		{app, ipPacket(17, 0, 0, app.addr, c1, l4UDP(TraceSourcePort, 53, "query"))},
		{app, ipPacket(1, 0, 0, app.addr, c1, l4Echo(8, TraceSourcePort, "ping"))},
		{db, ipPacket(17, 0, 0, db.addr, c1, l4UDP(53, 5353, "an answer from the DNAT target's port"))},
	} {
		fixChecksums(p.frame, 3)
		if to, _ := (vpcRouter{v}).Route(p.from.port, p.frame, len(p.frame)); to == nil {
			t.Fatalf("priming: %s's frame was dropped", p.from.name)
		}
	}
}

// FuzzRoute sends arbitrary frames from any endpoint of traceLab through
// the data plane's Route, after flows that answers can match, and through
// rewriteFrame when Route translates: nothing panics, a translated frame
// is the reference translation with its checksums kept (checkRewrite), and
// it is addressed to the endpoint Route hands it to. own puts the sender's
// address in the frame, as its stack would; fix makes checksums valid.
func FuzzRoute(f *testing.F) {
	v := traceLab(f)
	gw, _ := firewall.AddrToU32(gwEIP)
	web, _ := firewall.AddrToU32(webEIP)
	c1, _ := firewall.AddrToU32(client1)
	// app's port 40000 is the target of the DNAT entry tcp 8443: its TCP
	// flow went out as the gateway's port 8443.
	synAck := l4TCP(443, 8443, 0, "")
	synAck[13] = 0x12
	const fromApp, fromDB, fromC1 = 1, 3, 4
	seeds := []struct {
		from  uint8
		frame []byte
	}{
		{fromC1, ipPacket(6, 0, 0, c1, gw, synAck)},                                                                               // an answer to app's flow
		{fromC1, ipPacket(1, 0, 0, c1, gw, l4Echo(0, TraceSourcePort, "ping"))},                                                   // an echo reply
		{fromC1, ipPacket(1, 0, 0, c1, gw, icmpError(3, 3, ipPacket(17, 0, 0, gw, c1, l4UDP(TraceSourcePort, 53, "query")), 28))}, // port unreachable
		{fromC1, ipPacket(1, 0, 0, c1, gw, icmpError(11, 0, ipPacket(1, 0, 0, gw, c1, l4Echo(8, TraceSourcePort, "ping")), 36))},  // time exceeded, echo
		{fromC1, ipPacket(1, 0, 0, c1, gw, icmpError(3, 4, ipPacket(17, 0, 0, gw, c1, l4UDP(5353, 5353, "answer")), 1000))},       // about the DNAT flow
		{fromC1, ipPacket(6, 0, 0, c1, gw, l4TCP(51000, 2222, 0, ""))},                                                            // DNAT in
		{fromC1, ipPacket(17, 0, 0, c1, gw, l4UDP(51000, 5353, "query"))},                                                         // DNAT in, udp
		{fromC1, ipPacket(6, 0, 0, c1, web, l4TCP(51000, 80, 2, "GET /"))},                                                        // EIP in
		{fromC1, ipPacket(1, 0, 0, c1, web, icmpError(3, 3, ipPacket(17, 0, 0, web, c1, l4UDP(9, 53, "")), 28))},                  // an error to an EIP
		{fromC1, ipPacket(17, 0, 185, c1, gw, []byte("a later fragment"))},
		{fromApp, ipPacket(6, 0, 0, 0, c1, l4TCP(TraceSourcePort, 443, 0, "more"))}, // SNAT out
		{fromApp, ipPacket(17, 0, 0x2000, 0, c1, l4UDP(TraceSourcePort, 53, "first fragment"))},
		{fromApp, ipPacket(17, 0, 185, 0, c1, []byte("later fragment"))},
		{fromDB, ipPacket(1, 0, 0, 0, c1, icmpError(3, 3, ipPacket(17, 0, 0, c1, 0x0a000209, l4UDP(51000, 53, "query")), 28))}, // error about a DNAT flow
		{0, ipPacket(17, 0, 0, 0, c1, l4UDP(5353, 53, "EIP out"))},
	}
	for i, s := range seeds {
		f.Add(s.from, s.frame, uint64(i*0x321), s.from != fromC1, uint8(7))
	}
	f.Fuzz(func(t *testing.T, fromSel uint8, frame []byte, cuts uint64, own bool, fix uint8) {
		v.mu.Lock()
		se := v.endpoints[traceFroms[int(fromSel)%(len(traceFroms)-1)]]
		v.mu.Unlock()
		frame = bytes.Clone(frame)
		if own && len(frame) >= 20 {
			frame[12], frame[13], frame[14], frame[15] = byte(se.addr>>24), byte(se.addr>>16), byte(se.addr>>8), byte(se.addr)
		}
		fixChecksums(frame, fix)
		primeRoutes(t, v)

		pkt := split(frame, cutSizes(cuts)...)
		defer pkt.DecRef()
		hdr, scratch := frameHeaders(pkt)
		defer releaseScratch(scratch)
		if len(hdr) < 20 || hdr[0]>>4 != 4 || int(hdr[0]&0x0f)*4 < 20 || len(hdr) < int(hdr[0]&0x0f)*4 {
			return // the fabric counts it malformed before any routing
		}
		to, rw := (vpcRouter{v}).Route(se.port, hdr, len(frame))
		if to == nil {
			if rw.Flags != 0 {
				t.Fatalf("Route dropped the frame but returned a translation %+v", rw)
			}
			return
		}
		var h firewall.Header
		if perr := firewall.Parse(frame, &h); perr != firewall.ParseOK {
			t.Fatalf("Route forwarded a frame the parser refuses (%v)", perr)
		}
		dst := h.Dst
		if rw.Flags&RewriteDstAddr != 0 {
			dst = rw.DstAddr
		}
		if de := to.Tag.(*endpoint); de.addr != dst {
			t.Fatalf("Route hands %s to %s (%v), the frame goes to %v after %+v", flowString(&h), de.name, u32Addr(de.addr), u32Addr(dst), rw)
		}
		if rw.Flags != 0 {
			checkRewrite(t, frame, cuts, rw, false)
		}
	})
}
