package vpntest_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	wgnetstack "golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/vpclab/vpclab/firewall"
	. "github.com/vpclab/vpclab/netstack"
)

// bulk sends n bytes over c and waits until the far side (a discard
// service that answers with one byte at the end, or an echo) consumed
// them: it reports b.N * chunk bytes through the connection.
func bulkWrite(b *testing.B, c net.Conn, chunk []byte) {
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVPNBulk is bulk TCP from a WireGuard peer (wireguard-go with a
// netstack TUN, in this process, over loopback UDP) to an instance:
//   - impl=gateway: through the VPN gateway into the VPC, with the
//     instance's ingress rules and conntrack deciding;
//   - impl=wireguard-go: two wireguard-go devices with netstack TUNs and
//     nothing else, the ceiling of the same transport.
//
// The receiver reads and discards; the benchmark counts the sender's bytes,
// and waits for the receiver to have read them all.
func BenchmarkVPNBulk(b *testing.B) {
	chunk := make([]byte, 64<<10)
	b.Run("impl=gateway", func(b *testing.B) {
		f := newVPNFixture(b, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "1/100", "10.99.0.0/24")}})
		l, err := f.web.Listen(9)
		require.NoError(b, err)
		defer l.Close()
		got := sinkOne(l)
		peer := newWGPeer(b, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
		c, err := peer.tnet.DialContext(context.Background(), "tcp", "10.0.1.10:9")
		require.NoError(b, err)
		bulkWrite(b, c, chunk)
		c.Close()
		require.Equal(b, int64(b.N*len(chunk)), <-got)
	})
	b.Run("impl=wireguard-go", func(b *testing.B) {
		privA, pubA, err := NewVPNKey()
		require.NoError(b, err)
		privB, pubB, err := NewVPNKey()
		require.NoError(b, err)
		addrA, addrB := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
		tunA, netA, err := wgnetstack.CreateNetTUN([]netip.Addr{addrA}, nil, 1420)
		require.NoError(b, err)
		devA := device.NewDevice(tunA, conn.NewStdNetBind(), device.NewLogger(device.LogLevelSilent, ""))
		require.NoError(b, devA.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/32\n",
			hex.EncodeToString(privA[:]), hex.EncodeToString(pubB[:]), addrB)))
		require.NoError(b, devA.Up())
		defer devA.Close()
		portA := listenPort(b, devA)
		peer := newWGPeer(b, privB, addrB, pubA, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), portA), netip.PrefixFrom(addrA, 32))
		l, err := netA.ListenTCP(&net.TCPAddr{Port: 9})
		require.NoError(b, err)
		defer l.Close()
		got := sinkOne(l)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := peer.tnet.DialContext(ctx, "tcp", "10.99.0.1:9")
		require.NoError(b, err)
		bulkWrite(b, c, chunk)
		c.Close()
		require.Equal(b, int64(b.N*len(chunk)), <-got)
	})
}

// sinkOne accepts one connection on l, reads it to the end and sends
// how many bytes came (0 if none was accepted).
func sinkOne(l net.Listener) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	return got
}

// listenPort reads a device's UDP port from its configuration.
func listenPort(b *testing.B, dev *device.Device) uint16 {
	cfg, err := dev.IpcGet()
	require.NoError(b, err)
	var port uint16
	for _, line := range strings.Split(cfg, "\n") {
		if _, err := fmt.Sscanf(line, "listen_port=%d", &port); err == nil {
			return port
		}
	}
	b.Fatal("no listen_port")
	return 0
}
