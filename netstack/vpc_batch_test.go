package netstack

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddInstancesBatch(t *testing.T) {
	v := newTestVPC(t)
	a := netip.MustParseAddr
	// An explicit address in the batch is skipped by the assignment of
	// the others, whatever their order.
	insts, err := v.AddInstances([]InstanceSpec{
		{Name: "auto-1", VSwitch: "vsw-a"},
		{Name: "fixed", VSwitch: "vsw-a", Addr: a("10.0.1.2")},
		{Name: "auto-2", VSwitch: "vsw-a"},
		{Name: "other", VSwitch: "vsw-b", EIP: a("47.0.0.9")},
	})
	require.NoError(t, err)
	require.Len(t, insts, 4)
	assert.Equal(t, a("10.0.1.1"), insts[0].Addr())
	assert.Equal(t, a("10.0.1.2"), insts[1].Addr())
	assert.Equal(t, a("10.0.1.3"), insts[2].Addr())
	assert.Equal(t, a("10.0.2.1"), insts[3].Addr())
	assert.Equal(t, a("47.0.0.9"), v.EIPOf("other"))

	// The batch is plugged in and the firewall knows every NIC: members of
	// the default group reach each other.
	serve(t, insts[2], ServiceSpec{Kind: ServiceEcho, Port: 7})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := insts[0].Dial(ctx, "tcp", netip.AddrPortFrom(insts[2].Addr(), 7))
	require.NoError(t, err)
	c.Close()
	// A later single add continues after the batch.
	next := addInstance(t, v, InstanceSpec{Name: "next"})
	assert.Equal(t, a("10.0.1.4"), next.Addr())

	// Any bad spec refuses the whole batch and changes nothing.
	for name, batch := range map[string][]InstanceSpec{
		"duplicate name in batch": {{Name: "x1", VSwitch: "vsw-a"}, {Name: "x1", VSwitch: "vsw-b"}},
		"existing name":           {{Name: "x1", VSwitch: "vsw-a"}, {Name: "fixed", VSwitch: "vsw-a"}},
		"duplicate address":       {{Name: "x1", VSwitch: "vsw-a", Addr: a("10.0.1.50")}, {Name: "x2", VSwitch: "vsw-a", Addr: a("10.0.1.50")}},
		"address in use":          {{Name: "x1", VSwitch: "vsw-a"}, {Name: "x2", VSwitch: "vsw-a", Addr: a("10.0.1.1")}},
		"duplicate eip":           {{Name: "x1", VSwitch: "vsw-a", EIP: a("47.0.0.1")}, {Name: "x2", VSwitch: "vsw-a", EIP: a("47.0.0.1")}},
		"eip in use":              {{Name: "x1", VSwitch: "vsw-a", EIP: a("47.0.0.9")}},
		"unknown group":           {{Name: "x1", VSwitch: "vsw-a"}, {Name: "x2", VSwitch: "vsw-a", Groups: []string{"sg-nope"}}},
		"unknown vswitch":         {{Name: "x1", VSwitch: "vsw-a"}, {Name: "x2", VSwitch: "vsw-z"}},
	} {
		_, err := v.AddInstances(batch)
		assert.Error(t, err, name)
		assert.Nil(t, v.Instance("x1"), name)
		assert.Nil(t, v.Instance("x2"), name)
		_, known := v.Firewall().NIC("x1")
		assert.False(t, known, name)
		assert.Equal(t, 5, v.Fabric().Ports(), name)
	}
}
