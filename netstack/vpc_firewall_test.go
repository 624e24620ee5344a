package netstack

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

const (
	allowWait = 5 * time.Second
	blockWait = 300 * time.Millisecond
)

// TestVPCAllowAndBlock drives TCP, UDP and ICMP between two instances
// (docs/semantics.md §2.4, §2.6, §2.7): allowed traffic gets its answer back
// although the client's ingress denies everything (stateful replies, §2.8);
// blocked traffic times out on the client and the data plane publishes a
// drop event with the deciding code and rule.
func TestVPCAllowAndBlock(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-cli"}) // no ingress rule: default deny
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{
		allowIn("tcp", "7/7", "10.0.0.0/16"),
		allowIn("udp", "7/7", "10.0.0.0/16"),
		allowIn("icmp", "", "10.0.1.10/32"),
		rule(firewall.Ingress, firewall.Drop, "tcp", "8/8", "10.0.0.0/16"),
	}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg-cli"}})
	cli2 := addInstance(t, v, InstanceSpec{Name: "cli2", Addr: netip.MustParseAddr("10.0.1.11"), Groups: []string{"sg-cli"}})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", VSwitch: "vsw-b", Groups: []string{"sg-srv"}})
	echoAll(t, 7, srv)
	echoAll(t, 8, srv)
	echoAll(t, 9, srv)
	sub := v.SubscribeDrops(64)
	defer sub.Close()

	tests := []struct {
		name     string
		from     *Instance
		proto    string
		port     uint16
		wantCode firewall.Code // CodeNone: allowed
		wantRule string        // substring of the deciding rule
	}{
		{"tcp allowed", cli, "tcp", 7, firewall.CodeNone, ""},
		{"udp allowed", cli, "udp", 7, firewall.CodeNone, ""},
		{"icmp allowed", cli, "icmp", 0, firewall.CodeNone, ""},
		{"tcp rule drop", cli, "tcp", 8, firewall.SGRuleDrop, "ingress drop priority 1 tcp 8/8"},
		{"tcp default deny", cli, "tcp", 9, firewall.SGDefaultDeny, ""},
		{"udp default deny", cli, "udp", 9, firewall.SGDefaultDeny, ""},
		{"icmp from another source", cli2, "icmp", 0, firewall.SGDefaultDeny, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			drain(sub)
			if tc.wantCode == firewall.CodeNone {
				require.NoError(t, probe(tc.from, tc.proto, ap(srv.Addr(), tc.port), allowWait))
				return
			}
			err := probe(tc.from, tc.proto, ap(srv.Addr(), tc.port), blockWait)
			require.True(t, isTimeout(err), "want a timeout, got %v", err)
			ev := waitDrop(t, sub, tc.wantCode, tc.from.Name(), "srv")
			assert.Equal(t, firewall.Ingress, ev.Verdict.Dir)
			assert.Equal(t, tc.wantCode.String(), ev.Explanation.Code)
			if tc.wantRule != "" {
				assert.Contains(t, ev.Explanation.Rule, tc.wantRule)
				assert.Equal(t, "sg-srv", ev.Explanation.Group)
			}
			assert.Equal(t, srv.Addr(), firewall.U32ToAddr(ev.Flow.Dst))
		})
	}
	st, _ := v.NICStats("srv")
	assert.NotZero(t, st.Drops["SG_RULE_DROP"])
	assert.NotZero(t, st.Drops["SG_DEFAULT_DENY"])
	cst, _ := v.NICStats("cli")
	assert.Empty(t, cst.Drops, "replies to the client must not be dropped")
}

// TestVPCRefusedIsRelated checks that a RST and an ICMP port unreachable
// answering an allowed first packet cross the client's default-deny
// ingress: they belong to the tracked flow (docs/semantics.md §2.2).
func TestVPCRefusedIsRelated(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-cli"})
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{
		allowIn("tcp", "1/65535", "10.0.0.0/16"), allowIn("udp", "1/65535", "10.0.0.0/16"),
	}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-cli"}})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", Groups: []string{"sg-srv"}})
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	_, err := cli.Dial(ctxTimeout(t, allowWait), "tcp", ap(srv.Addr(), 81))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	c, err := cli.Dial(ctxTimeout(t, allowWait), "udp", ap(srv.Addr(), 9))
	require.NoError(t, err)
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(allowWait))
	_, err = c.Read(make([]byte, 8))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
	select {
	case ev := <-sub.C:
		t.Fatalf("unexpected drop: %+v", ev.Explanation)
	default:
	}
}

// TestVPCIntraGroup checks inner_access (docs/semantics.md §2.3, §2.5): accept
// lets members talk without rules; drop isolates them on ingress, one
// ingress rule re-allows, and a shared accept group wins over it.
func TestVPCIntraGroup(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-open"})
	createGroup(t, v, firewall.Group{Name: "sg-iso", InnerAccess: firewall.InnerDrop})
	createGroup(t, v, firewall.Group{Name: "sg-iso2", InnerAccess: firewall.InnerDrop})
	a := addInstance(t, v, InstanceSpec{Name: "a", Groups: []string{"sg-open"}})
	b := addInstance(t, v, InstanceSpec{Name: "b", Groups: []string{"sg-open"}})
	c := addInstance(t, v, InstanceSpec{Name: "c", Groups: []string{"sg-iso"}})
	d := addInstance(t, v, InstanceSpec{Name: "d", Groups: []string{"sg-iso"}})
	e := addInstance(t, v, InstanceSpec{Name: "e", Groups: []string{"sg-iso2", "sg-open"}})
	echoAll(t, 7, b, d, e)
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	require.NoError(t, probe(a, "tcp", ap(b.Addr(), 7), allowWait), "inner accept")
	require.NoError(t, probe(a, "udp", ap(b.Addr(), 7), allowWait), "inner accept")
	require.NoError(t, probe(a, "tcp", ap(e.Addr(), 7), allowWait), "shared accept group")

	require.True(t, isTimeout(probe(c, "tcp", ap(d.Addr(), 7), blockWait)), "inner drop")
	ev := waitDrop(t, sub, firewall.SGInnerDrop, "c", "d")
	assert.Equal(t, "sg-iso", ev.Explanation.Group)

	require.NoError(t, v.Firewall().AuthorizeRules("sg-iso", "user", allowIn("tcp", "7/7", "10.0.1.0/24")))
	require.NoError(t, probe(c, "tcp", ap(d.Addr(), 7), allowWait), "a rule re-allows inner-drop traffic")
}

// TestVPCEnterpriseEgress checks that an enterprise group denies egress by
// default (docs/semantics.md §2.6) and that an egress rule opens it.
func TestVPCEnterpriseEgress(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-ent", Type: firewall.Enterprise})
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{allowIn("tcp", "7/7", "10.0.0.0/16")}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-ent"}})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", Groups: []string{"sg-srv"}})
	echoAll(t, 7, srv)
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	require.True(t, isTimeout(probe(cli, "tcp", ap(srv.Addr(), 7), blockWait)))
	ev := waitDrop(t, sub, firewall.SGDefaultDeny, "cli", "srv")
	assert.Equal(t, firewall.Egress, ev.Verdict.Dir)
	st, _ := v.NICStats("cli")
	assert.NotZero(t, st.Drops["SG_DEFAULT_DENY"], "an egress drop counts on the sender")

	require.NoError(t, v.Firewall().AuthorizeRules("sg-ent", "user", rule(firewall.Egress, firewall.Accept, "tcp", "7/7", "10.0.0.0/16")))
	require.NoError(t, probe(cli, "tcp", ap(srv.Addr(), 7), allowWait))
}

// TestVPCDefaultGroup checks the system group of docs/semantics.md §3: SSH, RDP
// and ICMP in, everything else denied, egress open, members accept each
// other.
func TestVPCDefaultGroup(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-other"})
	srv := addInstance(t, v, InstanceSpec{Name: "srv"}) // no group: default
	peer := addInstance(t, v, InstanceSpec{Name: "peer"})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-other"}})
	assert.Equal(t, []string{firewall.DefaultGroupName}, v.Firewall().NICGroups("srv"))
	for _, port := range []uint16{22, 3389, 80} {
		serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: port})
	}
	tests := []struct {
		from    *Instance
		proto   string
		port    uint16
		allowed bool
	}{
		{cli, "tcp", 22, true},
		{cli, "tcp", 3389, true},
		{cli, "icmp", 0, true},
		{cli, "tcp", 80, false},
		{peer, "tcp", 80, true}, // intra-group accept
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tc.from.Name(), tc.proto, tc.port), func(t *testing.T) {
			err := probe(tc.from, tc.proto, ap(srv.Addr(), tc.port), map[bool]time.Duration{true: allowWait, false: blockWait}[tc.allowed])
			if tc.allowed {
				require.NoError(t, err)
			} else {
				require.True(t, isTimeout(err), "want a timeout, got %v", err)
			}
		})
	}
}

// TestVPCRuleChangeDuringTransfer revokes the rule that allowed a running
// TCP transfer: the transfer goes on (conntrack, docs/semantics.md §4.3) while a
// new connection obeys the new policy at once.
func TestVPCRuleChangeDuringTransfer(t *testing.T) {
	v := newTestVPC(t)
	r := allowIn("tcp", "7/7", "10.0.0.0/16")
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{r}})
	createGroup(t, v, firewall.Group{Name: "sg-cli"})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", Groups: []string{"sg-srv"}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-cli"}})
	echoAll(t, 7, srv)

	c, err := cli.Dial(ctxTimeout(t, allowWait), "tcp", ap(srv.Addr(), 7))
	require.NoError(t, err)
	defer c.Close()
	const chunk, rounds = 64 << 10, 40
	msg := make([]byte, chunk)
	got := make([]byte, chunk)
	for i := range rounds {
		if i == rounds/2 {
			require.NoError(t, v.Firewall().RevokeRules("sg-srv", "user", r))
			require.True(t, isTimeout(probe(cli, "tcp", ap(srv.Addr(), 7), blockWait)), "a new connection must obey the new rule")
		}
		c.SetDeadline(time.Now().Add(allowWait))
		_, err := c.Write(msg)
		require.NoError(t, err)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err, "round %d", i)
	}
}

// TestVPCGroupReferenceFollowsMembership checks that a source_group rule
// means the current members' addresses (docs/semantics.md §1.2): joining the
// group opens new connections, leaving closes them again.
func TestVPCGroupReferenceFollowsMembership(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-clients"})
	createGroup(t, v, firewall.Group{Name: "sg-base"})
	createGroup(t, v, firewall.Group{Name: "sg-db", Rules: []firewall.Rule{allowIn("tcp", "7/7", "sg-clients")}})
	db := addInstance(t, v, InstanceSpec{Name: "db", Groups: []string{"sg-db"}})
	app := addInstance(t, v, InstanceSpec{Name: "app", Groups: []string{"sg-base"}})
	echoAll(t, 7, db)
	fw := v.Firewall()

	require.True(t, isTimeout(probe(app, "tcp", ap(db.Addr(), 7), blockWait)))
	require.NoError(t, fw.JoinGroup("app", "sg-clients"))
	require.NoError(t, probe(app, "tcp", ap(db.Addr(), 7), allowWait))
	require.NoError(t, fw.LeaveGroup("app", "sg-clients"))
	require.True(t, isTimeout(probe(app, "tcp", ap(db.Addr(), 7), blockWait)))
}

// TestVPCPlatformSMTP checks the platform block (docs/semantics.md §2.1): TCP 25
// to the internet is dropped whatever the rules say, 465 is not, and 25
// inside the VPC is not; the block can be lifted.
func TestVPCPlatformSMTP(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-mail", Rules: []firewall.Rule{allowIn("tcp", "25/25", "0.0.0.0/0")}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-mail"}, EIP: netip.MustParseAddr("47.0.0.10")})
	relay := addInstance(t, v, InstanceSpec{Name: "relay", Groups: []string{"sg-mail"}})
	mx := addHost(t, v, "mx", "198.51.100.25")
	for _, port := range []uint16{25, 465} {
		serve(t, mx, ServiceSpec{Kind: ServiceEcho, Port: port})
	}
	serve(t, relay, ServiceSpec{Kind: ServiceEcho, Port: 25})
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	require.True(t, isTimeout(probe(cli, "tcp", ap(mx.Addr(), 25), blockWait)), "25 to the internet")
	ev := waitDrop(t, sub, firewall.PlatformPortBlocked, "cli", "mx")
	assert.Contains(t, ev.Explanation.Step, "platform")
	require.NoError(t, probe(cli, "tcp", ap(mx.Addr(), 465), allowWait), "465 to the internet")
	require.NoError(t, probe(cli, "tcp", ap(relay.Addr(), 25), allowWait), "25 inside the VPC")

	v.Firewall().SetBlockOutboundSMTP(false)
	require.NoError(t, probe(cli, "tcp", ap(mx.Addr(), 25), allowWait), "25 with the block lifted")
}

// TestVPCCountersAndCapture checks the per-NIC counters and the capture
// hook, which sees both directions on the VPC side of the NAT.
func TestVPCCountersAndCapture(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "0.0.0.0/0")}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Groups: []string{"sg-web"}, EIP: netip.MustParseAddr("47.0.0.80")})
	host := addHost(t, v, "client", "203.0.113.7")
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	type seen struct {
		dir      firewall.Direction
		src, dst netip.Addr
	}
	frames := make(chan seen, 1024)
	v.SetCapture("web", func(dir firewall.Direction, ip []byte) {
		if len(ip) < 20 || int(ip[2])<<8|int(ip[3]) != len(ip) {
			panic("capture: not a whole IPv4 packet")
		}
		select {
		case frames <- seen{dir, netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))}:
		default:
		}
	})
	_, body, err := httpGet(ctxTimeout(t, allowWait), host, netip.MustParseAddrPort("47.0.0.80:80"))
	require.NoError(t, err)
	assert.Equal(t, "web\n", body)
	v.SetCapture("web", nil)
	// A frame the hook was handling as it was removed may still arrive:
	// read what is there, never close the channel under a sender.
	var in, out int
	for len(frames) > 0 {
		f := <-frames
		switch f.dir {
		case firewall.Ingress:
			in++
			assert.Equal(t, web.Addr(), f.dst, "inbound frames are captured after the EIP translation")
			assert.Equal(t, host.Addr(), f.src)
		case firewall.Egress:
			out++
			assert.Equal(t, web.Addr(), f.src, "outbound frames are captured before the EIP translation")
		}
	}
	assert.NotZero(t, in)
	assert.NotZero(t, out)

	st, ok := v.NICStats("web")
	require.True(t, ok)
	assert.NotZero(t, st.RxFrames)
	assert.NotZero(t, st.TxFrames)
	assert.NotZero(t, st.RxBytes)
	assert.NotZero(t, st.TxBytes)

	// A denied probe counts on the receiver by code.
	require.True(t, isTimeout(probe(host, "tcp", netip.MustParseAddrPort("47.0.0.80:81"), blockWait)))
	st, _ = v.NICStats("web")
	assert.NotZero(t, st.Drops["SG_DEFAULT_DENY"])
}

// TestVPCDropSubscribersNeverBlock fills a subscription's buffer: the data
// path goes on, the overflow is counted as missed.
func TestVPCDropSubscribersNeverBlock(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-closed", InnerAccess: firewall.InnerDrop})
	a := addInstance(t, v, InstanceSpec{Name: "a", Groups: []string{"sg-closed"}})
	b := addInstance(t, v, InstanceSpec{Name: "b", Groups: []string{"sg-closed"}})
	sub := v.SubscribeDrops(1)
	defer sub.Close()
	for seq := range uint16(5) {
		_, err := a.Ping(ctxTimeout(t, 50*time.Millisecond), b.Addr(), seq)
		require.Error(t, err)
	}
	assert.Len(t, sub.C, 1)
	assert.NotZero(t, sub.Missed())
	sub.Close()
	sub.Close()
	_, open := <-sub.C
	for open {
		_, open = <-sub.C
	}
}

// TestVPCValidation checks refused VPC changes.
func TestVPCValidation(t *testing.T) {
	v := newTestVPC(t)
	addInstance(t, v, InstanceSpec{Name: "a", Addr: netip.MustParseAddr("10.0.1.5")})
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"vswitch outside", v.AddVSwitch("x", netip.MustParsePrefix("192.168.0.0/24")), ErrInvalidCIDR},
		{"vswitch overlap", v.AddVSwitch("x", netip.MustParsePrefix("10.0.1.128/25")), ErrVSwitchOverlap},
		{"duplicate name", errOf(v.AddInstance(InstanceSpec{Name: "a", VSwitch: "vsw-a"})), ErrInstanceExists},
		{"unknown vswitch", errOf(v.AddInstance(InstanceSpec{Name: "b", VSwitch: "nope"})), ErrVSwitchNotFound},
		{"address in use", errOf(v.AddInstance(InstanceSpec{Name: "b", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.5")})), ErrPrivateIPInUse},
		{"reserved address", errOf(v.AddInstance(InstanceSpec{Name: "b", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.255")})), ErrInvalidPrivateIP},
		{"private EIP", errOf(v.AddInstance(InstanceSpec{Name: "b", VSwitch: "vsw-a", EIP: netip.MustParseAddr("10.0.9.9")})), ErrInternetHostInVPC},
		{"host in VPC", errOf(v.AddInternetHost("h", netip.MustParseAddr("10.0.3.3"))), ErrInternetHostInVPC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e *Error
			require.True(t, errors.As(tc.err, &e), "err = %v", tc.err)
			assert.Equal(t, tc.code, e.Code)
		})
	}
	// An unknown group is refused by the firewall, and nothing is left behind.
	_, err := v.AddInstance(InstanceSpec{Name: "b", VSwitch: "vsw-a", Groups: []string{"sg-none"}})
	var fe *firewall.Error
	require.True(t, errors.As(err, &fe), "err = %v", err)
	assert.Equal(t, firewall.ErrGroupNotFound, fe.Code)
	assert.Nil(t, v.Instance("b"))
	// Assigned addresses skip the network address and what is taken.
	b := addInstance(t, v, InstanceSpec{Name: "b"})
	assert.Equal(t, "10.0.1.1", b.Addr().String())
	require.True(t, strings.HasPrefix(b.Addr().String(), "10.0.1."))
}

func errOf[T any](_ T, err error) error { return err }
