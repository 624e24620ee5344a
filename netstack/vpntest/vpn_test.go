// Package vpntest_test drives a VPC's VPN gateway with real WireGuard
// peers: wireguard-go with its own netstack TUN, in the test process.
//
// It is a package of its own because wireguard-go's tun/netstack leaks a
// PacketBuffer reference per packet it injects (tun.go Write never calls
// DecRef), which the netstack package's gVisor leak check would report;
// here goleak still checks that every goroutine ends.
package vpntest_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	wgnetstack "golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/vpclab/vpclab/firewall"
	. "github.com/vpclab/vpclab/netstack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestVPC(t testing.TB) *VPC {
	t.Helper()
	v, err := NewVPC(VPCConfig{Name: "vpc-test", CIDR: netip.MustParsePrefix("10.0.0.0/16")})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	require.NoError(t, v.AddVSwitch("vsw-a", netip.MustParsePrefix("10.0.1.0/24")))
	return v
}

func rule(dir firewall.Direction, policy firewall.Action, proto, ports, remote string) firewall.Rule {
	r := firewall.Rule{Direction: dir, Policy: policy, Protocol: proto, Remote: netip.MustParsePrefix(remote)}
	if ports != "" {
		p, err := firewall.ParsePorts(ports)
		if err != nil {
			panic(err)
		}
		r.Ports = p
	}
	return r
}

func allowIn(proto, ports, src string) firewall.Rule {
	return rule(firewall.Ingress, firewall.Accept, proto, ports, src)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// waitDrop returns the first drop event matching code (and from/to, if not
// empty) within 2 s.
func waitDrop(t *testing.T, sub *DropSubscription, code firewall.Code, from, to string) DropEvent {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			if ev.Verdict.Code == code && (from == "" || ev.From == from) && (to == "" || ev.To == to) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no drop event %v from %q to %q", code, from, to)
			return DropEvent{}
		}
	}
}

// wgPeer is a real WireGuard peer in the test process: wireguard-go with
// its own netstack TUN, its own keys and a UDP socket on loopback.
type wgPeer struct {
	dev  *device.Device
	tnet *wgnetstack.Net
	bind *countingBind
}

func newWGPeer(t testing.TB, priv [32]byte, addr netip.Addr, gwPub [32]byte, endpoint netip.AddrPort, allowed netip.Prefix) *wgPeer {
	t.Helper()
	tdev, tnet, err := wgnetstack.CreateNetTUN([]netip.Addr{addr}, nil, 1420)
	require.NoError(t, err)
	bind := &countingBind{Bind: conn.NewStdNetBind()}
	dev := device.NewDevice(tdev, bind, device.NewLogger(device.LogLevelSilent, ""))
	cfg := fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=%s\nallowed_ip=%s\n",
		hex.EncodeToString(priv[:]), hex.EncodeToString(gwPub[:]), endpoint, allowed)
	require.NoError(t, dev.IpcSet(cfg))
	require.NoError(t, dev.Up())
	t.Cleanup(dev.Close)
	return &wgPeer{dev: dev, tnet: tnet, bind: bind}
}

// countingBind counts the UDP datagrams a peer receives.
type countingBind struct {
	conn.Bind
	received atomic.Int64
}

func (b *countingBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, p, err := b.Bind.Open(port)
	for i, fn := range fns {
		fns[i] = func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
			n, err := fn(packets, sizes, eps)
			b.received.Add(int64(n))
			return n, err
		}
	}
	return fns, p, err
}

func (p *wgPeer) get(url string, timeout time.Duration) (string, error) {
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: p.tnet.DialContext, DisableKeepAlives: true}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

type vpnFixture struct {
	v       *VPC
	gw      *VPNGateway
	web     *Instance
	gwPub   [32]byte
	peerKey [32]byte
}

// newVPNFixture builds a VPC with instance web (HTTP on 80, in group
// groups) and a VPN gateway with one peer, laptop at 10.99.0.2.
func newVPNFixture(t testing.TB, groups ...firewall.Group) *vpnFixture {
	t.Helper()
	v := newTestVPC(t)
	names := []string{}
	for _, g := range groups {
		require.NoError(t, v.Firewall().CreateGroup(g))
		names = append(names, g.Name)
	}
	web, err := v.AddInstance(InstanceSpec{Name: "web", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.10"), Groups: names})
	require.NoError(t, err)
	require.NoError(t, web.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 80}))
	require.NoError(t, web.Serve(ServiceSpec{Kind: ServiceEcho, Port: 7}))
	gwPriv, gwPub, err := NewVPNKey()
	require.NoError(t, err)
	peerPriv, peerPub, err := NewVPNKey()
	require.NoError(t, err)
	gw, err := v.AddVPNGateway(VPNGatewaySpec{
		Name: "office", VSwitch: "vsw-a", Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		ClientCIDR: netip.MustParsePrefix("10.99.0.0/24"), PrivateKey: gwPriv,
		Peers: []VPNPeerSpec{{Name: "laptop", PublicKey: peerPub, Addr: netip.MustParseAddr("10.99.0.2")}},
	})
	require.NoError(t, err)
	return &vpnFixture{v: v, gw: gw, web: web, gwPub: gwPub, peerKey: peerPriv}
}

func TestVPNPeerFetchesInstancePage(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "1/100", "10.99.0.0/24")}})
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	body, err := peer.get("http://10.0.1.10/", 10*time.Second)
	require.NoError(t, err)
	require.Contains(t, body, "web")
	require.NotZero(t, peer.bind.received.Load(), "the datagram count is live")

	// Bulk both ways through the echo service: GSO super-segments from
	// the instance must be cut to the tunnel MTU with real checksums, or
	// the peer's stack drops them.
	c, err := peer.tnet.DialContext(context.Background(), "tcp", "10.0.1.10:7")
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go c.Write(msg)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(msg, got), "echoed bytes differ")
}

func TestVPNWrongKeyGetsNothing(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.99.0.0/24")}})
	stranger, _, err := NewVPNKey()
	require.NoError(t, err)
	// Its UDP socket must see no answer at all: dial the gateway directly.
	peer := newWGPeer(t, stranger, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	_, err = peer.get("http://10.0.1.10/", 3*time.Second)
	require.Error(t, err)
	require.True(t, isTimeout(err), "want a timeout, got %v", err)
	require.Zero(t, peer.bind.received.Load(), "the gateway answered a peer it does not know")
}

func TestVPNRuleDropsClientCIDR(t *testing.T) {
	drop := rule(firewall.Ingress, firewall.Drop, "tcp", "80/80", "10.99.0.0/24")
	drop.Priority = 1
	drop.Description = "no VPN clients"
	allow := allowIn("tcp", "80/80", "0.0.0.0/0")
	allow.Priority = 50
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allow, drop}})
	sub := f.v.SubscribeDrops(64)
	defer sub.Close()
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	_, err := peer.get("http://10.0.1.10/", 2*time.Second)
	require.Error(t, err)
	ev := waitDrop(t, sub, firewall.SGRuleDrop, "laptop", "web")
	require.Equal(t, "sg-web", ev.Explanation.Group)
	require.Equal(t, 1, ev.Explanation.RuleIndex)
	require.Equal(t, "no VPN clients", ev.Explanation.Description)
	src, _ := firewall.AddrToU32(netip.MustParseAddr("10.99.0.2"))
	require.Equal(t, src, ev.Flow.Src)
}

func TestVPNPeerReachesInstancesOnly(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("all", "", "0.0.0.0/0")}})
	_, err := f.v.AddInternetHost("ext", netip.MustParseAddr("203.0.113.9"))
	require.NoError(t, err)
	sub := f.v.SubscribeDrops(64)
	defer sub.Close()
	// The peer's allowed IPs include the host, but the gateway routes it
	// nowhere.
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), netip.MustParsePrefix("0.0.0.0/0"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = peer.tnet.DialContext(ctx, "tcp", "203.0.113.9:80")
	require.Error(t, err)
	ev := waitDrop(t, sub, firewall.NoRouteToDestination, "laptop", "")
	require.Contains(t, ev.Explanation.Step, "VPN peer")
}

func TestVPNInstanceEgressToPeer(t *testing.T) {
	// The instance's egress rules decide frames to a peer; the peer's
	// answer comes back by conntrack.
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", "10.99.0.0/24"),
		rule(firewall.Egress, firewall.Drop, "tcp", "8080/8080", "10.99.0.0/24"),
	}})
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	for _, port := range []uint16{8080, 8081} {
		l, err := peer.tnet.ListenTCP(&net.TCPAddr{Port: int(port)})
		require.NoError(t, err)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("hi"))
				c.Close()
			}
		}()
	}
	// Bring the tunnel up from the peer's side first (a gateway only
	// knows a peer's endpoint once it spoke).
	_, err := peer.get("http://10.0.1.10/", 10*time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := f.web.Dial(ctx, "tcp", netip.MustParseAddrPort("10.99.0.2:8081"))
	require.NoError(t, err)
	b, _ := io.ReadAll(c)
	c.Close()
	require.Equal(t, "hi", string(b))
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = f.web.Dial(ctx2, "tcp", netip.MustParseAddrPort("10.99.0.2:8080"))
	require.Error(t, err)
}

// TestVPNSpoofedSourceDropped: a peer with the right key whose packets
// carry another source address (10.99.0.3, not its 10.99.0.2) gets no
// answer, and the gateway counts the drops.
func TestVPNSpoofedSourceDropped(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.99.0.0/24")}})
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.3"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	_, err := peer.get("http://10.0.1.10/", 2*time.Second)
	require.Error(t, err)
	require.True(t, isTimeout(err), "want a timeout, got %v", err)
	require.NotZero(t, f.gw.Stats().Spoofed)
}

// TestVPNProbeBesideRealPeer: a probe from a stand-in for the peer runs
// while the real peer has a connection open; both work, neither resets the
// other's connection.
func TestVPNProbeBesideRealPeer(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "1/100", "10.99.0.0/24")}})
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	c, err := peer.tnet.DialContext(context.Background(), "tcp", "10.0.1.10:7")
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	echo := func(msg string) {
		t.Helper()
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, msg, string(got))
	}
	echo("before")
	inst, release, err := f.v.VPNProbe(context.Background(), "laptop")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	pc, err := inst.Dial(ctx, "tcp", netip.MustParseAddrPort("10.0.1.10:80"))
	cancel()
	require.NoError(t, err)
	echo("during")
	_, err = pc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	pc.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(pc)
	require.NoError(t, err)
	require.Contains(t, string(b), "200 OK")
	pc.Close()
	release()
	echo("after")
}
