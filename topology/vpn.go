package topology

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vpclab/vpclab/netstack"
)

// WGKeyLen is the length of a WireGuard key (Curve25519).
const WGKeyLen = 32

// ParseWGKey decodes a WireGuard key as wg writes it: standard base64 of 32
// bytes (44 characters ending in "=").
func ParseWGKey(s string) ([WGKeyLen]byte, error) {
	var k [WGKeyLen]byte
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return k, fmt.Errorf("not base64: %v", err)
	}
	if len(b) != WGKeyLen {
		return k, fmt.Errorf("decodes to %d bytes, a WireGuard key has %d", len(b), WGKeyLen)
	}
	copy(k[:], b)
	return k, nil
}

// VPNPrivateKey reads gateway g's private key file, resolved against the
// topology file's directory.
func (t *Topology) VPNPrivateKey(g *VPNGateway) ([WGKeyLen]byte, error) {
	path := t.importPath(g.PrivateKeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return [WGKeyLen]byte{}, err
	}
	k, err := ParseWGKey(string(b))
	if err != nil {
		return k, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

// ParseListen checks a VPN gateway's listen address: an IPv4 or IPv6
// loopback address with a port.
func ParseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("%q is not address:port", s)
	}
	if !ap.Addr().IsLoopback() {
		return ap, fmt.Errorf("%s is not a loopback address: the gateway listens on the host's loopback only", ap.Addr())
	}
	if ap.Port() == 0 {
		return ap, fmt.Errorf("port 0: the listen port must be fixed so that peers can be configured")
	}
	return ap, nil
}

// VPNPeer finds a peer by name: its gateway and spec.
func (t *Topology) VPNPeer(name string) (*VPNGateway, *VPNPeer) {
	for i := range t.VPNGateways {
		g := &t.VPNGateways[i]
		for j := range g.Peers {
			if g.Peers[j].Name == name {
				return g, &g.Peers[j]
			}
		}
	}
	return nil, nil
}

// vpnGateways checks the VPN gateways and their peers.
func (v *validator) vpnGateways() {
	t := v.t
	gws := map[string]int{}
	listens := map[netip.AddrPort]string{}
	keys := map[string]string{}
	addrs := map[netip.Addr]string{}
	var clients []string // paths of valid client CIDRs
	for i := range t.VPNGateways {
		g := &t.VPNGateways[i]
		p := fmt.Sprintf("vpn_gateways[%d]", i)
		v.unique(gws, g.Name, p+".name", "VPN gateway", i, func(j int) string { return fmt.Sprintf("vpn_gateways[%d]", j) })
		if _, ok := v.vswitches[g.VSwitch]; g.VSwitch != "" && !ok && !v.bad(p+".vswitch") {
			v.add(p+".vswitch", "", fmt.Sprintf("no vswitch %q", g.VSwitch), names(v.vswitches))
		}
		if g.Listen != "" && !v.bad(p+".listen") {
			if ap, err := ParseListen(g.Listen); err != nil {
				v.add(p+".listen", "", err.Error(), "a loopback address and port, such as 127.0.0.1:51820")
			} else if first, dup := listens[ap]; dup {
				v.add(p+".listen", "", fmt.Sprintf("%s is already the listen address of %s", ap, t.named(first)), "")
			} else {
				listens[ap] = p
			}
		}
		if g.PrivateKeyFile != "" && !v.bad(p+".private_key_file") {
			if _, err := t.VPNPrivateKey(g); err != nil {
				v.add(p+".private_key_file", "", fmt.Sprintf("cannot read the private key: %v", err), "a file holding a key from vpclab vpn keygen or wg genkey")
			}
		}
		cc := g.ClientCIDR
		ccOK := cc.IsValid() && !v.bad(p+".client_cidr")
		if ccOK {
			switch {
			case !cc.Addr().Is4():
				v.add(p+".client_cidr", "", fmt.Sprintf("%s is not an IPv4 prefix", cc), "an IPv4 prefix such as 10.99.0.0/24")
				ccOK = false
			case t.VPC.CIDR.IsValid() && cc.Overlaps(t.VPC.CIDR):
				v.add(p+".client_cidr", netstack.ErrVSwitchOverlap, fmt.Sprintf("%s overlaps the VPC CIDR %s", cc, t.VPC.CIDR), "a range outside "+t.VPC.CIDR.String())
				ccOK = false
			default:
				for j := range t.VSwitches {
					if vs := t.VSwitches[j].CIDR; vs.IsValid() && cc.Overlaps(vs) {
						v.add(p+".client_cidr", netstack.ErrVSwitchOverlap, fmt.Sprintf("%s overlaps vswitch %s (%s)", cc, t.VSwitches[j].Name, vs), "")
						ccOK = false
						break
					}
				}
			}
			for _, q := range clients {
				if o := t.VPNGateways[indexOf(q)].ClientCIDR; ccOK && cc.Overlaps(o) {
					v.add(p+".client_cidr", netstack.ErrVSwitchOverlap, fmt.Sprintf("%s overlaps the client CIDR %s of %s", cc, o, t.named(q)), "")
					ccOK = false
				}
			}
			if ccOK {
				clients = append(clients, p)
			}
		}
		for j := range g.Peers {
			pe := &g.Peers[j]
			pp := fmt.Sprintf("%s.peers[%d]", p, j)
			if pe.Name != "" {
				if _, inst := v.instances[pe.Name]; inst {
					v.add(pp+".name", "", fmt.Sprintf("peer name %q is already used by instance %s", pe.Name, pe.Name), "")
				} else if _, host := v.hosts[pe.Name]; host {
					v.add(pp+".name", "", fmt.Sprintf("peer name %q is already used by internet host %s", pe.Name, pe.Name), "")
				} else {
					v.unique(v.peers, pe.Name, pp+".name", "peer", len(v.peerPaths), func(k int) string { return v.peerPaths[k] })
					v.peerPaths = append(v.peerPaths, pp)
				}
			}
			if pe.PublicKey != "" && !v.bad(pp+".public_key") {
				if _, err := ParseWGKey(pe.PublicKey); err != nil {
					v.add(pp+".public_key", "", fmt.Sprintf("malformed key: %v", err), "base64 of 32 bytes (44 characters), as wg pubkey or vpclab vpn keygen prints it")
				} else if first, dup := keys[strings.TrimSpace(pe.PublicKey)]; dup {
					v.add(pp+".public_key", "", fmt.Sprintf("the key is already the key of %s; each peer has its own key", t.named(first)), "")
				} else {
					keys[strings.TrimSpace(pe.PublicKey)] = pp
				}
			}
			a := pe.Address
			if !a.IsValid() || v.bad(pp+".address") {
				continue
			}
			switch {
			case !a.Is4():
				v.add(pp+".address", "", fmt.Sprintf("%s is not an IPv4 address", a), "an address inside "+cc.String())
			case ccOK && !cc.Contains(a):
				v.add(pp+".address", "", fmt.Sprintf("%s is outside the client CIDR %s", a, cc), "an address inside "+cc.String())
			case ccOK && (a == cc.Masked().Addr() || a == lastAddr(cc) && cc.Bits() < 31):
				v.add(pp+".address", "", fmt.Sprintf("%s is the network or broadcast address of %s", a, cc), "a host address inside "+cc.String())
			default:
				if owner, used := v.publics[a]; used {
					v.add(pp+".address", "", fmt.Sprintf("%s is already used by %s", a, t.named(owner)), "an address inside "+cc.String()+" that no host, EIP or NAT gateway has")
				} else if first, dup := addrs[a]; dup {
					v.add(pp+".address", netstack.ErrPrivateIPInUse, fmt.Sprintf("%s is already the address of %s", a, t.named(first)), "")
				} else {
					addrs[a] = pp
				}
			}
		}
	}
}

// indexOf returns the index in "vpn_gateways[N]".
func indexOf(path string) int {
	var i int
	fmt.Sscanf(path, "vpn_gateways[%d]", &i)
	return i
}
