package firewall

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func listEntries(ct *Conntrack) []ConntrackEntry {
	var out []ConntrackEntry
	ct.Entries(func(e ConntrackEntry) bool { out = append(out, e); return true })
	slices.SortFunc(out, func(a, b ConntrackEntry) int {
		if c := a.A.Compare(b.A); c != 0 {
			return c
		}
		return a.B.Compare(b.B)
	})
	return out
}

func TestConntrackEntries(t *testing.T) {
	ct, clk := newTestCT(t, 0)
	a, b, c := uint32(0x0a000001), uint32(0x0a000002), uint32(0x0a000003)
	require.True(t, ct.Insert(tcpHdr(b, a, 80, 40000, TCPSyn))) // opened by the higher end
	require.True(t, ct.Insert(&Header{Tuple: Tuple{Src: a, Dst: c, SrcPort: 5000, DstPort: 53, Proto: ProtoUDP}}))
	require.True(t, ct.Insert(&Header{Tuple: Tuple{Src: c, Dst: b, Proto: ProtoICMP}, Flags: FlagICMPEcho, ICMPType: ICMPEchoRequest, ICMPID: 7}))
	clk.Advance(3 * time.Second)
	require.True(t, ct.Lookup(tcpHdr(a, b, 40000, 80, TCPAck|TCPFin))) // FIN from the lower end

	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	want := []ConntrackEntry{
		{Proto: ProtoUDP, A: ap("10.0.0.1:5000"), B: ap("10.0.0.3:53"), State: "open", Idle: 3},
		{Proto: ProtoTCP, A: ap("10.0.0.1:40000"), B: ap("10.0.0.2:80"), State: "fin-a", Idle: 0},
		{Proto: ProtoICMP, A: ap("10.0.0.2:7"), B: ap("10.0.0.3:7"), State: "open", Idle: 3},
	}
	assert.Equal(t, want, listEntries(ct))

	// Stopping early stops.
	n := 0
	ct.Entries(func(ConntrackEntry) bool { n++; return false })
	assert.Equal(t, 1, n)

	// Expired entries are not listed.
	clk.Advance(DefaultIdleTimeout + time.Second)
	assert.Empty(t, listEntries(ct))
}

func TestConntrackFlushAddr(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	// Many flows, so that the shards' tables grow and deletions shift
	// entries past the scan position.
	var kept, cut int
	for i := range 2000 {
		src, dst := uint32(0x0a000100+i%50), uint32(0x0a000200+i%7)
		if i%5 == 0 {
			dst = 0x0a0000ff
			cut++
		} else {
			kept++
		}
		require.True(t, ct.Insert(tcpHdr(src, dst, uint16(1024+i), 80, TCPSyn)))
	}
	assert.Equal(t, cut, ct.FlushAddr(netip.MustParseAddr("10.0.0.255")))
	assert.Equal(t, kept, ct.Len())
	for _, e := range listEntries(ct) {
		assert.NotEqual(t, "10.0.0.255", e.A.Addr().String())
		assert.NotEqual(t, "10.0.0.255", e.B.Addr().String())
	}
	// Every kept flow is still found (the deletions kept the probe runs intact).
	for i := range 2000 {
		if i%5 == 0 {
			continue
		}
		src, dst := uint32(0x0a000100+i%50), uint32(0x0a000200+i%7)
		assert.True(t, ct.Lookup(tcpHdr(src, dst, uint16(1024+i), 80, TCPAck)), "flow %d", i)
	}
	assert.Zero(t, ct.FlushAddr(netip.MustParseAddr("10.0.0.255")))
	assert.Zero(t, ct.FlushAddr(netip.Addr{}))
}

func TestAuditLenAndSince(t *testing.T) {
	fw := New(Config{})
	defer fw.Close()
	require.NoError(t, fw.CreateGroup(Group{Name: "sg"}))
	assert.Zero(t, fw.AuditLen())
	r := Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{Start: 80, End: 80}, Remote: netip.MustParsePrefix("10.0.0.0/8")}
	require.NoError(t, fw.AuthorizeRules("sg", "user", r))
	n := fw.AuditLen()
	assert.Equal(t, 1, n)
	require.NoError(t, fw.AuthorizeRules("sg", "user", r)) // identical: no change
	assert.Empty(t, fw.AuditSince(n))
	require.NoError(t, fw.RevokeRules("sg", "dms", r))
	got := fw.AuditSince(n)
	require.Len(t, got, 1)
	assert.Equal(t, "dms", got[0].Actor)
	assert.Equal(t, "revoke", got[0].Action)
	assert.Empty(t, fw.AuditSince(99))
}
