package topology

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestRunVPNPeerExpectations runs expectations with a VPN peer as from and
// as to: the peer reaches web on 80, a rule dropping the client CIDR
// blocks db (the drop event names it), and web's egress rule blocks a
// connection to the peer.
func TestRunVPNPeerExpectations(t *testing.T) {
	dir := t.TempDir()
	priv, _, err := netstack.NewVPNKey()
	require.NoError(t, err)
	_, peerPub, err := netstack.NewVPNKey()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gw.key"), []byte(base64.StdEncoding.EncodeToString(priv[:])+"\n"), 0o600))
	file := filepath.Join(dir, "vpn.yaml")
	yaml := fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.99.0.0/24}
      - {direction: egress, policy: drop, protocol: tcp, port_range: 22/22, destination: 10.99.0.0/24}
  - name: sg-db
    rules:
      - {direction: ingress, policy: drop, priority: 1, protocol: tcp, port_range: 5432/5432, source: 10.99.0.0/24, description: no VPN clients}
      - {direction: ingress, priority: 2, protocol: tcp, port_range: 5432/5432, source: 0.0.0.0/0}
instances:
  - {name: web, vswitch: web, security_groups: [sg-web], services: [{kind: http, port: 80}]}
  - {name: db, vswitch: web, security_groups: [sg-db], services: [{kind: echo, port: 5432}]}
vpn_gateways:
  - name: office
    vswitch: web
    listen: 127.0.0.1:%d
    client_cidr: 10.99.0.0/24
    private_key_file: gw.key
    peers: [{name: laptop, public_key: %s, address: 10.99.0.2}]
expect:
  - {from: laptop, to: web, port: 80, result: allow}
  - {from: laptop, to: web, port: 81, result: block}
  - {from: laptop, to: db, port: 5432, result: block}
  - {from: web, to: laptop, port: 22, result: block}
`, freeUDPPort(t), base64.StdEncoding.EncodeToString(peerPub[:]))
	require.NoError(t, os.WriteFile(file, []byte(yaml), 0o644))
	topo, err := LoadFile(file)
	require.NoError(t, err)
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	results := lab.Run(context.Background(), RunOptions{})
	for _, r := range results {
		t.Logf("%s: %s %s", r.Label(), r.Observed, r.Detail)
	}
	for _, r := range results {
		require.True(t, r.Pass, "%s: observed %s: %s", r.Label(), r.Observed, r.Detail)
	}
	require.NotNil(t, results[2].Why)
	require.Equal(t, "SG_RULE_DROP", results[2].Why.Code)
	require.Equal(t, "no VPN clients", results[2].Why.Description)
	require.Equal(t, "sg-db", results[2].Why.Group)
}
