package netstack

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// newTestVPC returns a VPC 10.0.0.0/16 with vswitches vsw-a (10.0.1.0/24)
// and vsw-b (10.0.2.0/24), closed at the end of the test.
func newTestVPC(t testing.TB, cfg ...VPCConfig) *VPC {
	t.Helper()
	c := VPCConfig{Name: "vpc-test", CIDR: netip.MustParsePrefix("10.0.0.0/16")}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	v, err := NewVPC(c)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	require.NoError(t, v.AddVSwitch("vsw-a", netip.MustParsePrefix("10.0.1.0/24")))
	require.NoError(t, v.AddVSwitch("vsw-b", netip.MustParsePrefix("10.0.2.0/24")))
	return v
}

func addInstance(t testing.TB, v *VPC, spec InstanceSpec) *Instance {
	t.Helper()
	if spec.VSwitch == "" {
		spec.VSwitch = "vsw-a"
	}
	inst, err := v.AddInstance(spec)
	require.NoError(t, err)
	return inst
}

func addHost(t testing.TB, v *VPC, name, addr string) *Instance {
	t.Helper()
	h, err := v.AddInternetHost(name, netip.MustParseAddr(addr))
	require.NoError(t, err)
	return h
}

func createGroup(t testing.TB, v *VPC, g firewall.Group) {
	t.Helper()
	require.NoError(t, v.Firewall().CreateGroup(g))
}

func rule(dir firewall.Direction, policy firewall.Action, proto, ports, remote string) firewall.Rule {
	r := firewall.Rule{Direction: dir, Policy: policy, Protocol: proto}
	if ports != "" {
		p, err := firewall.ParsePorts(ports)
		if err != nil {
			panic(err)
		}
		r.Ports = p
	}
	if pfx, err := netip.ParsePrefix(remote); err == nil {
		r.Remote = pfx
	} else {
		r.RemoteGroup = remote
	}
	return r
}

func allowIn(proto, ports, src string) firewall.Rule {
	return rule(firewall.Ingress, firewall.Accept, proto, ports, src)
}

// echoAll starts TCP and UDP echo services on port on each instance.
func echoAll(t *testing.T, port uint16, insts ...*Instance) {
	t.Helper()
	for _, inst := range insts {
		serve(t, inst, ServiceSpec{Kind: ServiceEcho, Port: port})
		serve(t, inst, ServiceSpec{Kind: ServiceEcho, Port: port, Protocol: "udp"})
	}
}

// probe sends one round trip of proto ("tcp", "udp" or "icmp") from cli to
// to and returns nil if the answer came back within d.
func probe(cli *Instance, proto string, to netip.AddrPort, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if proto == "icmp" {
		_, err := cli.Ping(ctx, to.Addr(), 1)
		return err
	}
	c, err := cli.Dial(ctx, proto, to)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	msg := []byte("probe " + proto)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	return err
}

// isTimeout reports whether err is a probe that got no answer.
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

// drain empties a subscription.
func drain(sub *DropSubscription) {
	for {
		select {
		case <-sub.C:
		default:
			return
		}
	}
}

func ap(addr netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(addr, port) }
