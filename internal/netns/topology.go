package netns

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// Topo is a topology built as namespaces.
type Topo struct {
	*Lab
	t      *topology.Topology
	nodes  map[string]Node // instance name → node
	byAddr map[netip.Addr]string
	// Skipped lists what the translation leaves out of this topology, one
	// line each (internet hosts, NAT gateways, EIPs).
	Skipped []string
}

// Build builds a loaded topology: its instances' namespaces, their
// security groups as iptables and their services, and its internet side —
// the internet hosts, and a gateway namespace translating EIPs, NAT
// gateways' SNAT and DNAT with iptables' nat table (GatewayTables). VPN
// peers and expose are left out, each named in Skipped. A catch-all
// service (port: all) listens on each port an expectation probes that no
// other service of the instance takes.
func Build(t *topology.Topology) (*Topo, error) {
	lab, err := New(t.VPC.CIDR)
	if err != nil {
		return nil, err
	}
	tp := &Topo{Lab: lab, t: t, nodes: map[string]Node{}, byAddr: map[netip.Addr]string{}}
	if err := tp.build(); err != nil {
		lab.Close()
		return nil, err
	}
	return tp, nil
}

func (tp *Topo) build() error {
	t := tp.t
	for _, g := range t.VPNGateways {
		tp.Skipped = append(tp.Skipped, fmt.Sprintf("VPN gateway %s: %d peer(s) not translated", g.Name, len(g.Peers)))
	}
	addrs := make([]netip.Addr, len(t.Instances))
	for i, in := range t.Instances {
		addrs[i] = in.IP
	}
	nodes, err := tp.AddNodes(addrs)
	if err != nil {
		return err
	}
	pol := NewPolicy(t)
	for i, in := range t.Instances {
		tp.nodes[in.Name] = nodes[i]
		tp.byAddr[in.IP] = in.Name
		if err := tp.SetRules(nodes[i], pol.Table(in)); err != nil {
			return fmt.Errorf("instance %s: %w", in.Name, err)
		}
	}
	if hasInternet(t) {
		hosts, err := tp.buildInternet(nodes)
		if err != nil {
			return fmt.Errorf("internet: %w", err)
		}
		for i, h := range t.Internet.Hosts {
			tp.nodes[h.Name] = hosts[i]
			for _, s := range h.Services {
				if s.Port == topology.AllPorts {
					tp.Skipped = append(tp.Skipped, fmt.Sprintf("internet host %s: service %s on every port not translated", h.Name, s.Kind))
					continue
				}
				for _, proto := range s.Protocols() {
					if err := tp.Serve(hosts[i], s.Kind, proto, s.Port, serviceText(h.Name, s)); err != nil {
						return fmt.Errorf("internet host %s: service %s %d/%s: %w", h.Name, s.Kind, s.Port, proto, err)
					}
				}
			}
		}
	}
	// Ports each instance is probed on, for catch-all services.
	probed := map[string]map[[2]any]bool{}
	for _, e := range t.Expect {
		to, err := t.Target(e.From, e.To)
		if err != nil || e.Port == 0 {
			continue
		}
		if name, port := tp.destination(e, to); name != "" {
			if probed[name] == nil {
				probed[name] = map[[2]any]bool{}
			}
			probed[name][[2]any{e.Protocol, port}] = true
		}
	}
	for i, in := range t.Instances {
		taken := map[[2]any]bool{}
		for _, s := range in.Services {
			if s.Port == topology.AllPorts {
				continue
			}
			for _, proto := range s.Protocols() {
				taken[[2]any{proto, s.Port}] = true
				if err := tp.Serve(nodes[i], s.Kind, proto, s.Port, serviceText(in.Name, s)); err != nil {
					return fmt.Errorf("instance %s: service %s %d/%s: %w", in.Name, s.Kind, s.Port, proto, err)
				}
			}
		}
		for _, s := range in.Services {
			if s.Port != topology.AllPorts {
				continue
			}
			for _, proto := range s.Protocols() {
				for k := range probed[in.Name] {
					if k[0] != proto || taken[k] {
						continue
					}
					taken[k] = true
					if err := tp.Serve(nodes[i], s.Kind, proto, k[1].(int), serviceText(in.Name, s)); err != nil {
						return fmt.Errorf("instance %s: service %s %d/%s: %w", in.Name, s.Kind, k[1], proto, err)
					}
				}
			}
		}
	}
	return nil
}

func serviceText(name string, s topology.Service) string {
	if s.Text != "" {
		return s.Text
	}
	return name
}

// Result is the kernel's answer to one expectation.
type Result struct {
	Observed, Detail string
	// Skip says why the expectation was not probed (it involves a VPN
	// peer); Observed is then empty.
	Skip string
}

// Run probes every expectation of the topology, concurrently (at most 32
// at once); a blocked probe takes timeout.
func (tp *Topo) Run(ctx context.Context, timeout time.Duration) []Result {
	out := make([]Result, len(tp.t.Expect))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range tp.t.Expect {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = tp.ProbeExpect(ctx, i, timeout)
		}()
	}
	wg.Wait()
	return out
}

// ProbeExpect probes the topology's i-th expectation once, from the
// namespace of its from (an instance or an internet host) to the address
// vpclab's runner resolves its to to (topology.Topology.Target: an
// instance's EIP from the internet, else its private address; a host's
// public address; an address as written).
func (tp *Topo) ProbeExpect(ctx context.Context, i int, timeout time.Duration) Result {
	e := tp.t.Expect[i]
	from, ok := tp.nodes[e.From]
	if !ok {
		return Result{Skip: "from " + e.From + ": a VPN peer (not translated)"}
	}
	to, err := tp.t.Target(e.From, e.To)
	if err != nil {
		return Result{Skip: "to " + e.To + ": " + err.Error()}
	}
	if _, pe := tp.t.VPNPeer(e.To); pe != nil {
		return Result{Skip: "to " + e.To + ": a VPN peer (not translated)"}
	}
	var r Result
	r.Observed, r.Detail = tp.Probe(ctx, from, e.Protocol, netip.AddrPortFrom(to, uint16(e.Port)), timeout)
	return r
}

// Probeable counts the expectations of t that Build's namespaces can
// answer: from an instance or an internet host, to anything but a VPN
// peer.
func Probeable(t *topology.Topology) int {
	from := map[string]bool{}
	for _, in := range t.Instances {
		from[in.Name] = true
	}
	for _, h := range t.Internet.Hosts {
		from[h.Name] = true
	}
	n := 0
	for _, e := range t.Expect {
		if _, pe := t.VPNPeer(e.To); pe != nil || !from[e.From] {
			continue
		}
		if _, err := t.Target(e.From, e.To); err == nil {
			n++
		}
	}
	return n
}
