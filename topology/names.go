package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NameError reports a name that is neither an instance nor an internet host
// of a topology. It lists the valid names so that a user who mistyped one
// sees at once what to type.
type NameError struct {
	Name      string
	Suggest   string   // the closest valid name, or ""
	Instances []string // sorted
	Hosts     []string // internet hosts, sorted
	Address   bool     // an address is accepted as well as a name
}

func (e *NameError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no instance or internet host %q", e.Name)
	if e.Suggest != "" {
		fmt.Fprintf(&b, ", did you mean %q?", e.Suggest)
	}
	var allowed []string
	if len(e.Instances) > 0 {
		allowed = append(allowed, "instances: "+strings.Join(e.Instances, ", "))
	}
	if len(e.Hosts) > 0 {
		allowed = append(allowed, "internet hosts: "+strings.Join(e.Hosts, ", "))
	}
	if e.Address {
		allowed = append(allowed, "or an IPv4 address")
	}
	if len(allowed) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(allowed, "; "))
	}
	return b.String()
}

// CheckName returns nil when name is an instance or an internet host of t
// (or, with address set, an IP address), else a *NameError listing the
// valid names, instances first, then internet hosts, each sorted.
func (t *Topology) CheckName(name string, address bool) error {
	if t.instance(name) != nil || t.host(name) != nil {
		return nil
	}
	if _, p := t.VPNPeer(name); p != nil {
		return nil
	}
	if _, err := netip.ParseAddr(name); err == nil && address {
		return nil
	}
	e := &NameError{Name: name, Address: address, Instances: []string{}, Hosts: []string{}}
	for _, in := range t.Instances {
		e.Instances = append(e.Instances, in.Name)
	}
	for _, h := range t.Internet.Hosts {
		e.Hosts = append(e.Hosts, h.Name)
	}
	slices.Sort(e.Instances)
	slices.Sort(e.Hosts)
	e.Suggest = suggest(name, append(slices.Clone(e.Instances), e.Hosts...))
	return e
}
