package netstack

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsPublic(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"47.100.0.10", true},
		{"203.0.113.7", true}, // documentation ranges count as public
		{"198.51.100.1", true},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"127.0.0.1", false},
		{"169.254.1.1", false},
		{"224.0.0.1", false},
		{"0.1.2.3", false},
		{"::1", false},
		{"::ffff:47.0.0.1", true},
	} {
		assert.Equal(t, tc.want, IsPublic(netip.MustParseAddr(tc.addr)), tc.addr)
	}
}

func TestIsPrivateRange(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		want bool
	}{
		{"10.0.0.0/16", true},
		{"10.0.0.0/8", true},
		{"8.0.0.0/7", false},
		{"172.16.0.0/12", true},
		{"172.0.0.0/8", false},
		{"192.168.0.0/24", true},
		{"47.0.0.0/16", false},
	} {
		assert.Equal(t, tc.want, IsPrivateRange(netip.MustParsePrefix(tc.cidr)), tc.cidr)
	}
}

func TestReservedAndNextFree(t *testing.T) {
	p := netip.MustParsePrefix("10.0.1.0/29")
	first, last := AssignableRange(p)
	assert.Equal(t, "10.0.1.1", first.String())
	assert.Equal(t, "10.0.1.4", last.String())
	for a, want := range map[string]bool{"10.0.1.0": true, "10.0.1.1": false, "10.0.1.4": false, "10.0.1.5": true, "10.0.1.7": true} {
		assert.Equal(t, want, Reserved(p, netip.MustParseAddr(a)), a)
	}
	taken := map[netip.Addr]bool{netip.MustParseAddr("10.0.1.1"): true, netip.MustParseAddr("10.0.1.3"): true}
	isTaken := func(a netip.Addr) bool { return taken[a] }
	a, ok := NextFree(p, netip.Addr{}, isTaken)
	require.True(t, ok)
	assert.Equal(t, "10.0.1.2", a.String())
	a, ok = NextFree(p, netip.MustParseAddr("10.0.1.3"), isTaken)
	require.True(t, ok)
	assert.Equal(t, "10.0.1.4", a.String())
	_, ok = NextFree(p, netip.MustParseAddr("10.0.1.5"), isTaken)
	assert.False(t, ok, "only reserved addresses are left")
}

// TestVPCRefusesNonPublicAddresses checks the data plane applies the same
// address rules the loader does: an EIP, NAT address or internet host must
// be public, and a VPC's CIDR private.
func TestVPCRefusesNonPublicAddresses(t *testing.T) {
	_, err := NewVPC(VPCConfig{Name: "v", CIDR: netip.MustParsePrefix("47.0.0.0/16")})
	assertCode(t, err, ErrInvalidCIDR)

	v := newTestVPC(t)
	addInstance(t, v, InstanceSpec{Name: "a"})
	assertCode(t, v.AssociateEIP("a", netip.MustParseAddr("192.168.0.5")), ErrInvalidEIP)
	_, err = v.AddInternetHost("h", netip.MustParseAddr("127.0.0.2"))
	assertCode(t, err, ErrInvalidEIP)
	assertCode(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: netip.MustParseAddr("100.64.0.9")}), ErrInvalidEIP)
	require.NoError(t, v.AssociateEIP("a", netip.MustParseAddr("47.0.0.9")))
}

// TestInbound checks the public side's resolution through EIPs and DNAT
// entries, which the scenario runner uses to match drop events.
func TestInbound(t *testing.T) {
	v := newTestVPC(t)
	addInstance(t, v, InstanceSpec{Name: "pub", Addr: netip.MustParseAddr("10.0.1.5"), EIP: webEIP})
	addInstance(t, v, InstanceSpec{Name: "db", Addr: netip.MustParseAddr("10.0.2.5"), VSwitch: "vsw-b"})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP,
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 2222, Instance: "db", Port: 22}}}))
	for _, tc := range []struct {
		dst   netip.Addr
		proto uint8
		port  uint16
		inst  string
		priv  string
	}{
		{webEIP, 6, 443, "pub", "10.0.1.5:443"},
		{webEIP, 17, 53, "pub", "10.0.1.5:53"},
		{gwEIP, 6, 2222, "db", "10.0.2.5:22"},
		{gwEIP, 17, 2222, "", ""},
		{gwEIP, 6, 22, "", ""},
		{client1, 6, 80, "", ""},
		{netip.MustParseAddr("10.0.1.5"), 6, 80, "", ""},
	} {
		inst, priv, ok := v.Inbound(tc.dst, tc.proto, tc.port)
		assert.Equal(t, tc.inst != "", ok, "%v %d %d", tc.dst, tc.proto, tc.port)
		if ok {
			assert.Equal(t, tc.inst, inst)
			assert.Equal(t, tc.priv, priv.String())
		}
	}
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	var ve *Error
	if assert.ErrorAs(t, err, &ve) {
		assert.Equal(t, code, ve.Code, ve.Msg)
	}
}
