package topology

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
)

// Lab is a running topology: the VPC built from it through the data plane's
// Go API, with its instances, internet hosts and NAT gateways.
type Lab struct {
	Topology *Topology
	VPC      *netstack.VPC

	vpnOffline bool
	// Shard is this process's link to the other shards of a sharded VPC
	// (Sharded), else nil.
	Shard *netstack.ShardLink
	shard *ShardConfig
	local map[string]bool // a shard's own instances
}

// BuildOption tunes Build.
type BuildOption func(*buildOptions)

type buildOptions struct {
	vpnOffline   bool
	memoryBudget int64
	progress     func(done, total int)
	shard        *ShardConfig
}

// MemoryBudget makes Build refuse, before building anything, a topology
// whose MemoryEstimate exceeds bytes, with a *MemoryBudgetError; 0 or less
// is no limit (the default). DefaultMemoryBudget is half the machine.
func MemoryBudget(bytes int64) BuildOption {
	return func(o *buildOptions) { o.memoryBudget = bytes }
}

// VPNOffline makes Build attach VPN peers without starting WireGuard:
// explanations and probes from a peer (a stand-in at its gateway) work,
// real peers cannot connect, and no listen address is taken, so such a
// lab runs beside one that holds it.
func VPNOffline() BuildOption {
	return func(o *buildOptions) { o.vpnOffline = true }
}

// OnProgress makes Build report how far it got: fn(done, total) is called
// with done rising from 0 to total, on Build's goroutine, at most about
// 100 times whatever the size (each time done crosses another percent of
// total, and at total). done and total count steps: plugging an instance
// into the fabric and starting its services are one step each, an
// internet host and a NAT gateway one step. fn must not call the lab.
func OnProgress(fn func(done, total int)) BuildOption {
	return func(o *buildOptions) { o.progress = fn }
}

// progress throttles a Build's progress reports to one per percent.
type progress struct {
	fn          func(done, total int)
	done, total int
	reported    int // the percent reported last; -1: none yet
}

func newProgress(fn func(done, total int), total int) *progress {
	p := &progress{fn: fn, total: total, reported: -1}
	p.step(0)
	return p
}

// step counts n more steps done, and reports when the percent changed.
func (p *progress) step(n int) {
	if p == nil || p.fn == nil {
		return
	}
	p.done += n
	pct := 100
	if p.total > 0 {
		pct = p.done * 100 / p.total
	}
	if pct != p.reported || p.done == p.total && n > 0 {
		p.reported = pct
		p.fn(p.done, p.total)
	}
}

// Build brings a loaded topology up: vswitches, security groups, instances
// with their services, internet hosts and NAT gateways. On error nothing is
// left running.
func Build(t *Topology, opts ...BuildOption) (*Lab, error) {
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := t.CheckMemory(o.memoryBudget); err != nil {
		return nil, err
	}
	if err := t.checkShard(o.shard); err != nil {
		return nil, err
	}
	vpc, err := netstack.NewVPC(netstack.VPCConfig{
		Name: t.VPC.Name,
		CIDR: t.VPC.CIDR,
		Firewall: firewall.Config{
			Quotas:            t.Quotas.Firewall(),
			AllowOutboundSMTP: !t.Platform.BlockOutboundSMTP,
			Conntrack:         t.Conntrack.Firewall(),
		},
		// A frame between shards crosses WireGuard whole: no super-segments.
		NoOffload: o.shard != nil,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: vpc: %w", t.File, err)
	}
	lab := &Lab{Topology: t, VPC: vpc, shard: o.shard}
	var pr *progress
	if o.progress != nil {
		pr = newProgress(o.progress, 2*len(t.Instances)+len(t.Internet.Hosts)+len(t.NATGateways))
	}
	lab.vpnOffline = o.vpnOffline
	if err := lab.build(pr); err != nil {
		lab.Close()
		return nil, fmt.Errorf("%s: %w", t.File, err)
	}
	return lab, nil
}

func (l *Lab) build(pr *progress) error {
	t, vpc := l.Topology, l.VPC
	for _, vs := range t.VSwitches {
		if err := vpc.AddVSwitch(vs.Name, vs.CIDR); err != nil {
			return fmt.Errorf("vswitch %s: %w", vs.Name, err)
		}
	}
	// Groups go in one transaction: their references may point at each
	// other in any order.
	if err := vpc.Firewall().Update(func(tx *firewall.Tx) error {
		var errs []error
		for i := range t.SecurityGroups {
			errs = append(errs, tx.CreateGroup(t.SecurityGroups[i].Firewall()))
		}
		return errors.Join(errs...)
	}); err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	// One batch: the firewall compiles the policies once, not once per
	// instance.
	specs := make([]netstack.InstanceSpec, len(t.Instances))
	for i, in := range t.Instances {
		specs[i] = netstack.InstanceSpec{Name: in.Name, VSwitch: in.VSwitch, Addr: in.IP, Groups: in.SecurityGroups, EIP: in.EIP}
	}
	var plugged func(int)
	if pr != nil {
		plugged = func(int) { pr.step(1) }
	}
	insts, err := l.addInstances(specs, plugged)
	if err != nil {
		return fmt.Errorf("instances: %w", err)
	}
	for i, in := range t.Instances {
		if insts[i] == nil { // another shard runs it
			pr.step(1)
			continue
		}
		if err := serve(insts[i], in.Services); err != nil {
			return fmt.Errorf("instance %s: %w", in.Name, err)
		}
		pr.step(1)
	}
	for i := range t.Internet.Hosts {
		h := &t.Internet.Hosts[i]
		if err := l.addInternetHost(h); err != nil {
			return fmt.Errorf("internet host %s: %w", h.Name, err)
		}
		pr.step(1)
	}
	for _, gw := range t.NATGateways {
		spec := netstack.NATGatewaySpec{Name: gw.Name, VSwitch: gw.VSwitch, EIP: gw.EIP, SNAT: gw.SNAT}
		for _, d := range gw.DNAT {
			spec.DNAT = append(spec.DNAT, netstack.DNATEntry{
				Protocol: d.Protocol, PublicPort: uint16(d.PublicPort), Instance: d.Instance, Port: uint16(d.Port),
			})
		}
		if err := vpc.AddNATGateway(spec); err != nil {
			return fmt.Errorf("nat gateway %s: %w", gw.Name, err)
		}
		pr.step(1)
	}
	for i := range t.VPNGateways {
		g := &t.VPNGateways[i]
		if err := l.addVPNGateway(g); err != nil {
			return fmt.Errorf("vpn gateway %s: %w", g.Name, err)
		}
	}
	return nil
}

// addVPNGateway starts gateway g's WireGuard device with its peers.
func (l *Lab) addVPNGateway(g *VPNGateway) error {
	priv, err := l.Topology.VPNPrivateKey(g)
	if err != nil {
		return err
	}
	listen, err := ParseListen(g.Listen)
	if err != nil {
		return err
	}
	spec := netstack.VPNGatewaySpec{Name: g.Name, VSwitch: g.VSwitch, Listen: listen, ClientCIDR: g.ClientCIDR, PrivateKey: priv, Offline: l.vpnOffline}
	for _, p := range g.Peers {
		pub, err := ParseWGKey(p.PublicKey)
		if err != nil {
			return fmt.Errorf("peer %s: %v", p.Name, err)
		}
		spec.Peers = append(spec.Peers, netstack.VPNPeerSpec{Name: p.Name, PublicKey: pub, Addr: p.Address})
	}
	_, err = l.VPC.AddVPNGateway(spec)
	return err
}

func serve(inst *netstack.Instance, services []Service) error {
	for _, s := range services {
		port := uint16(s.Port)
		if s.Port == AllPorts {
			port = netstack.AllPorts
		}
		for _, proto := range s.Protocols() {
			err := inst.Serve(netstack.ServiceSpec{Kind: s.Kind, Port: port, Protocol: proto, Text: s.Text})
			if err != nil {
				return fmt.Errorf("service %s %s/%s: %w", s.Kind, s.PortText(), proto, err)
			}
		}
	}
	return nil
}

// Close stops every instance and goroutine of the lab.
func (l *Lab) Close() error {
	if l.Shard != nil {
		l.Shard.Close()
	}
	return l.VPC.Close()
}

// Endpoint is one side of a probe, resolved.
type Endpoint struct {
	Name     string     // instance or host name ("" for a bare address)
	Addr     netip.Addr // the address the probe targets
	Internet bool       // an internet host
}

// instance returns the named instance's spec, or nil.
func (t *Topology) instance(name string) *Instance {
	for i := range t.Instances {
		if t.Instances[i].Name == name {
			return &t.Instances[i]
		}
	}
	return nil
}

// host returns the named internet host's spec, or nil.
func (t *Topology) host(name string) *Host {
	for i := range t.Internet.Hosts {
		if t.Internet.Hosts[i].Name == name {
			return &t.Internet.Hosts[i]
		}
	}
	return nil
}

// Target resolves an expectation's `to` as seen from `from`
// (docs/topology.md): a name seen from the internet means the instance's EIP
// (its private address when it has none, which has no route); from inside
// the VPC, its private address. An internet host's name is its public
// address; an address is taken as it is.
func (t *Topology) Target(from, to string) (netip.Addr, error) {
	return t.target(from, to, topologyScan{t})
}

// target is Target with the names looked up in names.
func (t *Topology) target(from, to string, names nameLookup) (netip.Addr, error) {
	if a, err := netip.ParseAddr(to); err == nil {
		return a, nil
	}
	fromInternet := names.host(from) != nil
	if in := names.instance(to); in != nil {
		if fromInternet && in.EIP.IsValid() {
			return in.EIP, nil
		}
		return in.IP, nil
	}
	if h := names.host(to); h != nil {
		return h.IP, nil
	}
	if _, pe := t.VPNPeer(to); pe != nil {
		return pe.Address, nil
	}
	return netip.Addr{}, fmt.Errorf("no instance, internet host or VPN peer %q", to)
}
