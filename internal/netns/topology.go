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

// Build builds the instances of a loaded topology: their namespaces, their
// security groups as iptables, and their services. The internet side
// (hosts, EIPs, NAT gateways, expose) is left out, each named in Skipped;
// traffic inside the VPC does not depend on it. A catch-all service
// (port: all) listens on each port an expectation probes that no other
// service of the instance takes.
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
	if n := len(t.Internet.Hosts); n > 0 {
		tp.Skipped = append(tp.Skipped, fmt.Sprintf("%d internet host(s): the internet is not translated", n))
	}
	if n := len(t.NATGateways); n > 0 {
		tp.Skipped = append(tp.Skipped, fmt.Sprintf("%d NAT gateway(s): SNAT/DNAT are not translated", n))
	}
	addrs := make([]netip.Addr, len(t.Instances))
	for i, in := range t.Instances {
		addrs[i] = in.IP
		if in.EIP.IsValid() {
			tp.Skipped = append(tp.Skipped, fmt.Sprintf("instance %s: EIP %s not translated", in.Name, in.EIP))
		}
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
	// Ports each instance is probed on, for catch-all services.
	probed := map[string]map[[2]any]bool{}
	for _, e := range t.Expect {
		if name, ok := tp.target(e.To); ok && e.Port != 0 {
			if probed[name] == nil {
				probed[name] = map[[2]any]bool{}
			}
			probed[name][[2]any{e.Protocol, e.Port}] = true
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

// target resolves an expectation's to: an instance name or one of the
// instances' private addresses.
func (tp *Topo) target(to string) (string, bool) {
	if _, ok := tp.nodes[to]; ok {
		return to, true
	}
	for _, in := range tp.t.Instances {
		if in.Name == to {
			return to, true
		}
	}
	if a, err := netip.ParseAddr(to); err == nil {
		name, ok := tp.byAddr[a]
		return name, ok
	}
	return "", false
}

// Result is the kernel's answer to one expectation.
type Result struct {
	Observed, Detail string
	// Skip says why the expectation was not probed (it involves the
	// internet); Observed is then empty.
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

// ProbeExpect probes the topology's i-th expectation once.
func (tp *Topo) ProbeExpect(ctx context.Context, i int, timeout time.Duration) Result {
	e := tp.t.Expect[i]
	from, ok := tp.nodes[e.From]
	if !ok {
		return Result{Skip: "from " + e.From + ": an internet host"}
	}
	name, ok := tp.target(e.To)
	if !ok {
		return Result{Skip: "to " + e.To + ": outside the VPC (EIP, NAT or internet)"}
	}
	to := netip.AddrPortFrom(tp.nodes[name].Addr, uint16(e.Port))
	var r Result
	r.Observed, r.Detail = tp.Probe(ctx, from, e.Protocol, to, timeout)
	return r
}

// Probeable counts the expectations of t that stay inside the VPC (from an
// instance to an instance's name or private address): the ones Build's
// namespaces can answer.
func Probeable(t *topology.Topology) int {
	inst := map[string]bool{}
	for _, in := range t.Instances {
		inst[in.Name] = true
		inst[in.IP.String()] = true
	}
	n := 0
	for _, e := range t.Expect {
		if inst[e.From] && inst[e.To] {
			n++
		}
	}
	return n
}
