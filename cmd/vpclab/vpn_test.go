package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	wgnetstack "golang.zx2c4.com/wireguard/tun/netstack"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVPNKeygenAndConfig(t *testing.T) {
	dir := t.TempDir()
	gwKey := filepath.Join(dir, "gw.key")
	gwPub, _, code, err := runVPCLab(t, "vpn", "keygen", "--private-key-file", gwKey)
	require.NoError(t, err)
	require.Zero(t, code)
	_, _, code, _ = runVPCLab(t, "vpn", "keygen", "--private-key-file", gwKey)
	require.Equal(t, 2, code, "keygen must not overwrite a key")
	st, err := os.Stat(gwKey)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	pair, _, code, err := runVPCLab(t, "vpn", "keygen")
	require.NoError(t, err)
	require.Zero(t, code)
	var peerPriv, peerPub string
	_, err = fmt.Sscanf(pair, "private_key: %s\npublic_key: %s\n", &peerPriv, &peerPub)
	require.NoError(t, err)
	require.Len(t, peerPriv, 44)
	require.Len(t, peerPub, 44)

	file := filepath.Join(dir, "vpn.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
vpn_gateways:
  - {name: office, vswitch: web, listen: "127.0.0.1:51820", client_cidr: 10.99.0.0/24, private_key_file: gw.key,
     peers: [{name: laptop, public_key: %s, address: 10.99.0.2}]}
`, peerPub)), 0o644))

	want := func(priv string) string {
		return fmt.Sprintf(`# wg-quick configuration of VPN peer laptop, gateway office (%s)
[Interface]
Address = 10.99.0.2/32
PrivateKey = %s
MTU = 1420

[Peer]
PublicKey = %s
Endpoint = 127.0.0.1:51820
AllowedIPs = 10.0.0.0/16
PersistentKeepalive = 25
`, file, priv, strings.TrimSpace(gwPub))
	}
	out, _, code, err := runVPCLab(t, "vpn", "config", file, "laptop")
	require.NoError(t, err)
	require.Zero(t, code)
	require.Equal(t, want("<the private key of laptop, whose public key is "+peerPub+">"), out)

	peerKey := filepath.Join(dir, "laptop.key")
	require.NoError(t, os.WriteFile(peerKey, []byte(peerPriv+"\n"), 0o600))
	out, _, code, err = runVPCLab(t, "vpn", "config", file, "laptop", "--private-key-file", peerKey)
	require.NoError(t, err)
	require.Zero(t, code)
	require.Equal(t, want(peerPriv), out)

	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown peer", []string{"vpn", "config", file, "phone"}, `no VPN peer "phone" (peers: laptop)`},
		{"foreign key", []string{"vpn", "config", file, "laptop", "--private-key-file", gwKey}, "is not laptop's key"},
		{"bad file", []string{"vpn", "config", filepath.Join(dir, "none.yaml"), "laptop"}, "none.yaml"},
		{"keygen args", []string{"vpn", "keygen", "x"}, "want no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, code, err := runVPCLab(t, tc.args...)
			require.Equal(t, 2, code)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestVPNExplainFromPeer explains a connection from a VPN peer while
// something else holds the gateway's listen address (a running lab would):
// explain attaches the peers without starting WireGuard.
func TestVPNExplainFromPeer(t *testing.T) {
	held, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer held.Close()
	dir := t.TempDir()
	gwKey := filepath.Join(dir, "gw.key")
	_, _, code, err := runVPCLab(t, "vpn", "keygen", "--private-key-file", gwKey)
	require.NoError(t, err)
	require.Zero(t, code)
	file := writeOfficeVPN(t, dir, held.LocalAddr().String(), "")
	out, _, code, err := runVPCLab(t, "explain", file, "--from", "laptop", "--to", "web", "--port", "80")
	require.NoError(t, err)
	require.Zero(t, code)
	require.Contains(t, out, "VPN peer laptop reaches instance web")
	require.Contains(t, out, "sg-web")
}

// TestVPNUpWithWGQuickConfig is the tour: keys from vpn keygen, a
// topology with a VPN gateway, vpclab up, the peer's configuration from
// vpn config, and a real WireGuard peer (wireguard-go with a netstack TUN,
// configured from that wg-quick text) fetching the instance's page.
func TestVPNUpWithWGQuickConfig(t *testing.T) {
	dir := t.TempDir()
	gwKey, peerKey := filepath.Join(dir, "gw.key"), filepath.Join(dir, "laptop.key")
	_, _, code, err := runVPCLab(t, "vpn", "keygen", "--private-key-file", gwKey)
	require.NoError(t, err)
	require.Zero(t, code)
	peerPub, _, code, err := runVPCLab(t, "vpn", "keygen", "--private-key-file", peerKey)
	require.NoError(t, err)
	require.Zero(t, code)
	held, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	listen := held.LocalAddr().String()
	held.Close()
	file := filepath.Join(dir, "vpn.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`version: 1
name: vpn-tour
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - {name: sg-web, rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source: 10.99.0.0/24}]}
instances: [{name: web, vswitch: web, ip: 10.0.1.10, security_groups: [sg-web], services: [{kind: http, port: 80}]}]
vpn_gateways:
  - {name: office, vswitch: web, listen: "%s", client_cidr: 10.99.0.0/24, private_key_file: gw.key,
     peers: [{name: laptop, public_key: %s, address: 10.99.0.2}]}
expect:
  - {from: laptop, to: web, port: 80, result: allow}
`, listen, strings.TrimSpace(peerPub))), 0o644))

	wait, _ := runningUp(t, file)
	cfg, _, code, err := runVPCLab(t, "vpn", "config", file, "laptop", "--private-key-file", peerKey)
	require.NoError(t, err)
	require.Zero(t, code)

	// wg-quick text to wireguard-go's UAPI: keys in hex.
	kv := map[string]string{}
	for _, line := range strings.Split(cfg, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			kv[k] = v
		}
	}
	hexKey := func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
		return hex.EncodeToString(b)
	}
	addr := netip.MustParsePrefix(kv["Address"]).Addr()
	tdev, tnet, err := wgnetstack.CreateNetTUN([]netip.Addr{addr}, nil, 1420)
	require.NoError(t, err)
	dev := device.NewDevice(tdev, conn.NewStdNetBind(), device.NewLogger(device.LogLevelSilent, ""))
	defer dev.Close()
	require.NoError(t, dev.IpcSet(fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=%s\nallowed_ip=%s\npersistent_keepalive_interval=%s\n",
		hexKey(kv["PrivateKey"]), hexKey(kv["PublicKey"]), kv["Endpoint"], kv["AllowedIPs"], kv["PersistentKeepalive"])))
	require.NoError(t, dev.Up())
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: tnet.DialContext, DisableKeepAlives: true}}
	resp, err := cl.Get("http://10.0.1.10/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "web")

	out, _, code := wait()
	require.Zero(t, code, out)
	require.Contains(t, out, "VPN GATEWAY")
	require.Contains(t, out, "laptop 10.99.0.2")
	require.Contains(t, out, "1 passed, 0 failed")
}

// TestVPNTestBesideUp runs vpclab test on a file whose VPN gateway's listen
// address is taken (as by a running vpclab up of the same file): the
// expectations from the peer still run.
func TestVPNTestBesideUp(t *testing.T) {
	held, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer held.Close()
	dir := t.TempDir()
	_, _, code, err := runVPCLab(t, "vpn", "keygen", "--private-key-file", filepath.Join(dir, "gw.key"))
	require.NoError(t, err)
	require.Zero(t, code)
	file := writeOfficeVPN(t, dir, held.LocalAddr().String(), `expect:
  - {from: laptop, to: web, port: 80, result: allow}
  - {from: laptop, to: web, port: 22, result: block}
`)
	out, _, code, err := runVPCLab(t, "test", file)
	require.NoError(t, err, out)
	require.Zero(t, code, out)
	require.Contains(t, out, "2 passed")
}

// writeOfficeVPN writes dir/vpn.yaml: instance web with http on 80 open to
// the client CIDR, and gateway office (key dir/gw.key) listening on listen
// with peer laptop; extra is appended (expectations).
func writeOfficeVPN(t *testing.T, dir, listen, extra string) string {
	t.Helper()
	file := filepath.Join(dir, "vpn.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - {name: sg-web, rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source: 10.99.0.0/24}]}
instances: [{name: web, vswitch: web, security_groups: [sg-web], services: [{kind: http, port: 80}]}]
vpn_gateways:
  - {name: office, vswitch: web, listen: "%s", client_cidr: 10.99.0.0/24, private_key_file: gw.key,
     peers: [{name: laptop, public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=, address: 10.99.0.2}]}
`, listen)+extra), 0o644))
	return file
}
