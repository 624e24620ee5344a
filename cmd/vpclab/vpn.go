package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

func newVPNCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vpn",
		Short: "WireGuard keys and peer configurations for a topology's VPN gateways",
	}
	cmd.AddCommand(newVPNKeygenCmd(), newVPNConfigCmd())
	return cmd
}

func b64(k [32]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

func newVPNKeygenCmd() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a WireGuard key pair (base64, as wg genkey and wg pubkey write them)",
		Long: `Make a WireGuard key pair. Without --private-key-file it prints both keys;
with it, it writes the private key to the file (mode 0600, never over an
existing file) and prints the public key, ready for a peer's public_key or
for a gateway's private_key_file.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := netstack.NewVPNKey()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if keyFile == "" {
				fmt.Fprintf(out, "private_key: %s\npublic_key: %s\n", b64(priv), b64(pub))
				return nil
			}
			f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return usageError("%s exists; vpn keygen does not overwrite a key", keyFile)
				}
				return err
			}
			_, err = fmt.Fprintln(f, b64(priv))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(out, b64(pub))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "private-key-file", "", "write the private key to this new file and print only the public key")
	return cmd
}

func newVPNConfigCmd() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "config FILE PEER",
		Short: "Print a wg-quick configuration for a VPN peer of the topology",
		Long: `Print a wg-quick configuration for PEER: its address, the gateway's public
key and listen address as the endpoint, and the VPC CIDR as allowed IPs.
The private key is a placeholder unless --private-key-file gives the peer's
key, which must match the peer's public_key in FILE.`,
		Args: exactArgs(2, "FILE PEER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadTopology(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			gw, peer := t.VPNPeer(args[1])
			if peer == nil {
				return usageError("%s has no VPN peer %q (peers: %s)", args[0], args[1], vpnPeerNames(t))
			}
			gwPriv, err := t.VPNPrivateKey(gw)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("vpn gateway %s: %v", gw.Name, err)}
			}
			gwPub, err := netstack.VPNPublicKey(gwPriv)
			if err != nil {
				return err
			}
			privLine := fmt.Sprintf("<the private key of %s, whose public key is %s>", peer.Name, peer.PublicKey)
			if keyFile != "" {
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				priv, err := topology.ParseWGKey(string(b))
				if err != nil {
					return usageError("%s: %v", keyFile, err)
				}
				pub, _ := netstack.VPNPublicKey(priv)
				if b64(pub) != strings.TrimSpace(peer.PublicKey) {
					return usageError("%s is not %s's key: its public key is %s, the topology says %s", keyFile, peer.Name, b64(pub), peer.PublicKey)
				}
				privLine = b64(priv)
			}
			fmt.Fprintf(cmd.OutOrStdout(), `# wg-quick configuration of VPN peer %s, gateway %s (%s)
[Interface]
Address = %s/32
PrivateKey = %s
MTU = 1420

[Peer]
PublicKey = %s
Endpoint = %s
AllowedIPs = %s
PersistentKeepalive = 25
`, peer.Name, gw.Name, t.File, peer.Address, privLine, b64(gwPub), gw.Listen, t.VPC.CIDR)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "private-key-file", "", "the peer's private key, written into the configuration")
	return cmd
}

func vpnPeerNames(t *topology.Topology) string {
	var names []string
	for _, g := range t.VPNGateways {
		for _, p := range g.Peers {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "none defined"
	}
	return strings.Join(names, ", ")
}
