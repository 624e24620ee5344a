package firewall

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheck: Check reports what Update would, and changes nothing.
func TestCheck(t *testing.T) {
	fw := New(Config{})
	defer fw.Close()
	require.NoError(t, fw.CreateGroup(Group{Name: "sg-a"}))
	r := Rule{Direction: Ingress, Policy: Accept, Protocol: "tcp", Ports: Ports{22, 22}, RemoteGroup: "sg-none"}
	err := fw.Check(func(tx *Tx) error { return tx.AuthorizeRules("sg-a", "user", r) })
	require.ErrorContains(t, err, "referenced group does not exist")
	require.Error(t, fw.Check(func(tx *Tx) error { return tx.JoinGroup("nic-none", "sg-a") }))
	r.RemoteGroup = ""
	r.Remote = netip.MustParsePrefix("10.0.0.0/8")
	require.NoError(t, fw.Check(func(tx *Tx) error { return tx.AuthorizeRules("sg-a", "user", r) }))
	g, _ := fw.Group("sg-a")
	require.Zero(t, g.UserRules(), "Check changed the group")
	require.Zero(t, fw.AuditLen())
}
