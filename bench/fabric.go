package bench

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func init() {
	Register(Benchmark{
		Name: "fabric",
		Doc:  "bulk TCP through the VPC with a 500-rule policy on both NICs, against two stacks wired directly and against gVisor iptables with the same policy",
		Run:  runFabric,
	})
}

// The three paths between a client and a server instance.
const (
	pathVPC    = "vpc"             // a VPC, each NIC in five groups of 100 rules
	pathDirect = "direct"          // the two VNICs piped together: no fabric, no firewall
	pathGVisor = "gvisor-iptables" // piped, the same policy in each stack's iptables
)

var (
	benchCli  = netip.MustParseAddr("10.0.1.10")
	benchSrv  = netip.MustParseAddr("10.0.1.20")
	benchPort = uint16(5001)
)

// policy500 returns five groups of 100 rules for an instance, prefix
// naming them: ingress and egress, accept and drop, priorities 1..99,
// tcp, udp and icmp, remotes that the benchmark's traffic never comes
// from; the last group also lets tcp, udp and icmp in from the vswitch
// at priority 100, so that the traffic crosses every rule before it is
// accepted (the worst case for a first-match scan).
func policy500(prefix string) []firewall.Group {
	var groups []firewall.Group
	for g := range 5 {
		var rules []firewall.Rule
		for i := range 100 {
			r := firewall.Rule{
				Direction: firewall.Direction(i % 2),
				Policy:    firewall.Action(i / 2 % 2),
				Priority:  1 + i%99,
				Protocol:  []string{"tcp", "udp", "tcp", "icmp"}[i%4],
				Ports:     firewall.AnyPorts,
			}
			if r.Protocol != "icmp" {
				lo := 1 + (g*100+i)*7%4000
				r.Ports = firewall.Ports{Start: lo, End: lo + i%20}
			}
			if i%3 == 0 {
				r.Remote = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(g), byte(i)}), 32)
			} else {
				r.Remote = netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(g*20 + i%20), 0}), 24)
			}
			rules = append(rules, r)
		}
		if g == 4 {
			vsw := netip.MustParsePrefix("10.0.1.0/24")
			for k, proto := range []string{"icmp", "udp", "tcp"} {
				ports := firewall.Ports{Start: int(benchPort), End: int(benchPort)}
				if proto == "icmp" {
					ports = firewall.AnyPorts
				}
				rules[97+k] = firewall.Rule{Direction: firewall.Ingress, Policy: firewall.Accept, Priority: 100,
					Protocol: proto, Ports: ports, Remote: vsw}
			}
		}
		groups = append(groups, firewall.Group{Name: fmt.Sprintf("%s-%d", prefix, g), Rules: rules})
	}
	return groups
}

// gvPolicy translates an instance's groups into an iptables filter table,
// as a careful user writes it: each chain first accepts packets of
// established connections (-m conntrack --ctstate ESTABLISHED), then the
// rules of the direction in the cloud's order (priority 1 first, drop
// before accept at one priority), then the cloud's defaults (ingress
// dropped, egress accepted: basic groups).
func gvPolicy(groups []firewall.Group) stack.Table {
	type ordered struct {
		r   firewall.Rule
		seq int
	}
	var in, out []ordered
	for _, g := range groups {
		for _, r := range g.Rules {
			o := ordered{r, len(in) + len(out)}
			if r.Direction == firewall.Ingress {
				in = append(in, o)
			} else {
				out = append(out, o)
			}
		}
	}
	chain := func(rs []ordered, ingress bool) []stack.Rule {
		slices.SortStableFunc(rs, func(a, b ordered) int {
			if a.r.Priority != b.r.Priority {
				return a.r.Priority - b.r.Priority
			}
			if a.r.Policy != b.r.Policy {
				if a.r.Policy == firewall.Drop {
					return -1
				}
				return 1
			}
			return a.seq - b.seq
		})
		est := stack.Rule{Filter: stack.EmptyFilter4(), Matchers: []stack.Matcher{establishedMatcher{}}, Target: gvAccept}
		out := []stack.Rule{est}
		for _, o := range rs {
			r := o.r
			f := stack.EmptyFilter4()
			p := r.Remote.Masked()
			a := tcpip.AddrFrom4(p.Addr().As4())
			m := addr4(^uint32(0) << (32 - p.Bits()))
			if p.Bits() == 0 {
				m = addr4(0)
			}
			if ingress {
				f.Src, f.SrcMask = a, m
			} else {
				f.Dst, f.DstMask = a, m
			}
			var ms []stack.Matcher
			switch r.Protocol {
			case "tcp", "udp":
				f.CheckProtocol = true
				f.Protocol = 6
				if r.Protocol == "udp" {
					f.Protocol = 17
				}
				if r.Ports != firewall.AnyPorts {
					ms = []stack.Matcher{&portMatcher{src: firewall.AnyPort,
						dst: firewall.PortRange{Lo: uint16(r.Ports.Start), Hi: uint16(r.Ports.End)}}}
				}
			case "icmp":
				f.CheckProtocol, f.Protocol = true, 1
			case "gre":
				f.CheckProtocol, f.Protocol = true, 47
			}
			t := stack.Target(gvAccept)
			if r.Policy == firewall.Drop {
				t = gvDrop
			}
			out = append(out, stack.Rule{Filter: f, Matchers: ms, Target: t})
		}
		return out
	}
	return gvFilterTable(chain(in, true), gvDrop, chain(out, false), gvAccept)
}

// benchPair is a client and a server instance on one of the paths.
type benchPair struct {
	path     string
	cli, srv *netstack.Instance
	close    func()
}

func newBenchPair(path string) (*benchPair, error) {
	if path == pathVPC {
		v, err := netstack.NewVPC(netstack.VPCConfig{Name: "bench", CIDR: netip.MustParsePrefix("10.0.0.0/16")})
		if err != nil {
			return nil, err
		}
		p := &benchPair{path: path, close: func() { v.Close() }}
		if err := v.AddVSwitch("vsw", netip.MustParsePrefix("10.0.1.0/24")); err != nil {
			p.close()
			return nil, err
		}
		for _, inst := range []struct {
			name string
			addr netip.Addr
			to   **netstack.Instance
		}{{"cli", benchCli, &p.cli}, {"srv", benchSrv, &p.srv}} {
			var names []string
			for _, g := range policy500(inst.name) {
				if err := v.Firewall().CreateGroup(g); err != nil {
					p.close()
					return nil, err
				}
				names = append(names, g.Name)
			}
			i, err := v.AddInstance(netstack.InstanceSpec{Name: inst.name, VSwitch: "vsw", Addr: inst.addr, Groups: names})
			if err != nil {
				p.close()
				return nil, err
			}
			*inst.to = i
		}
		return p, nil
	}
	cli, err := netstack.NewInstance(netstack.Config{Name: "cli", Addr: benchCli})
	if err != nil {
		return nil, err
	}
	srv, err := netstack.NewInstance(netstack.Config{Name: "srv", Addr: benchSrv})
	if err != nil {
		cli.Close()
		return nil, err
	}
	p := &benchPair{path: path, cli: cli, srv: srv}
	var tables []*gvIPTables
	p.close = func() {
		cli.Close()
		srv.Close()
		for _, t := range tables {
			t.Close()
		}
	}
	if path == pathGVisor {
		for _, inst := range []*netstack.Instance{cli, srv} {
			t := newGVIPTables()
			tables = append(tables, t)
			t.ReplaceTable(stack.FilterID, gvPolicy(policy500(inst.Name())), false)
			inst.Stack().SetIPTables(t.IPTables)
		}
	}
	netstack.Pipe(cli.NIC(), srv.NIC())
	return p, nil
}

// bulk sends one TCP stream from client to server for d and returns
// Gbit/s, having checked that the server received every byte.
func (p *benchPair) bulk(ctx context.Context, d time.Duration) (float64, error) {
	l, err := p.srv.Listen(benchPort)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := p.cli.Dial(dctx, "tcp", netip.AddrPortFrom(p.srv.Addr(), benchPort))
	cancel()
	if err != nil {
		l.Close()
		<-got
		return 0, fmt.Errorf("%s: dial: %w", p.path, err)
	}
	buf := make([]byte, 1<<20)
	var sent int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			c.Close()
			<-got
			return 0, fmt.Errorf("%s: write: %w", p.path, err)
		}
	}
	el := time.Since(start)
	c.Close()
	select {
	case n := <-got:
		if n != sent {
			return 0, fmt.Errorf("%s: server received %d bytes, client sent %d", p.path, n, sent)
		}
	case <-time.After(10 * time.Second):
		l.Close()
		return 0, fmt.Errorf("%s: server still reading 10 s after the client closed", p.path)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(sent) * 8 / el.Seconds() / 1e9, nil
}

// withPairs builds a pair on every path, calls fn and closes them all.
func withPairs(fn func(pairs []*benchPair) error) error {
	var pairs []*benchPair
	defer func() {
		for _, p := range pairs {
			p.close()
		}
	}()
	for _, path := range []string{pathVPC, pathDirect, pathGVisor} {
		p, err := newBenchPair(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		pairs = append(pairs, p)
	}
	return fn(pairs)
}

// rounds measures every pair in turn, rounds times (so that a slow spell of
// a shared machine spreads over all paths), and keeps each path's best.
func rounds(ctx context.Context, pairs []*benchPair, n int, measure func(*benchPair) (float64, error)) ([]float64, error) {
	best := make([]float64, len(pairs))
	for range n {
		for i, p := range pairs {
			v, err := measure(p)
			if err != nil {
				return nil, err
			}
			best[i] = max(best[i], v)
		}
	}
	return best, ctx.Err()
}

func runFabric(ctx context.Context, opts Options) (*Result, error) {
	// Five rounds: with three, one path's best still fell 10% short of
	// what it reached in other runs now and then (a bulk transfer on two
	// shared cores moves with the scheduler), which alone swung the ratio
	// between 0.82 and 1.18 on the same build.
	d, n := 2*time.Second, 5
	if opts.Quick {
		d, n = 300*time.Millisecond, 1
	}
	res := &Result{Benchmark: "fabric"}
	err := withPairs(func(pairs []*benchPair) error {
		best, err := rounds(ctx, pairs, n, func(p *benchPair) (float64, error) {
			opts.progress("fabric: bulk TCP, %s", p.path)
			return p.bulk(ctx, d)
		})
		if err != nil {
			return err
		}
		res.Rows = append(res.Rows, pathRow("bulk TCP, 500-rule policy on both NICs", "Gbit/s", best,
			fmt.Sprintf("best of %d × %v; target ≥ 90%% of direct-wired (ratio ≥ 0.9)", n, d)))
		res.Series = append(res.Series, pathSeries("fabric-throughput", "Bulk TCP throughput per path", "Gbit/s", best)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// pathRow is a row of one figure per path: the VPC's, then the baselines'.
func pathRow(measure, unit string, v []float64, note string) Row {
	return Row{Measure: measure, Unit: unit, Ours: v[0], Better: "higher", Note: note,
		Baselines: []Baseline{
			{Name: "direct-wired", Value: v[1], Ratio: Ratio(v[0], v[1], "higher")},
			{Name: "gvisor-iptables", Value: v[2], Ratio: Ratio(v[0], v[2], "higher")},
		}}
}

// pathSeries draws one bar-like line per path (x is the path's index).
func pathSeries(chart, title, unit string, v []float64) []Series {
	var out []Series
	for i, name := range []string{pathVPC, pathDirect, pathGVisor} {
		out = append(out, Series{Chart: chart, Title: title, XLabel: "path", YLabel: unit,
			Name: name, X: []float64{float64(i)}, Y: []float64{v[i]}})
	}
	return out
}
