package topology

import (
	"fmt"
	"net/netip"

	"github.com/vpclab/vpclab/netstack"
)

// Address assignment. As in Alibaba Cloud, the first address of every
// vswitch (the network address) and its last three are reserved, so a /24
// such as 10.0.1.0/24 offers 10.0.1.1..10.0.1.252: the rule is netstack's
// (netstack.Reserved, netstack.NextFree), which the data plane applies. Instances that give an ip keep it.
// The others get, in file order, the lowest free address of their vswitch
// (ours: the cloud picks at random). The result depends only on the file;
// adding an instance without an ip changes the addresses of those after it
// in the same vswitch, so give an ip to an instance whose address matters.

// AssignAddresses gives every instance without an IP the lowest free
// address of its vswitch (see the rule above), setting Instance.AutoIP. Load
// has already done this for a loaded topology; it is for topologies built in
// Go. It fails if a vswitch is unknown or has no free address left.
func AssignAddresses(t *Topology) error {
	errs := &errorList{file: t.File, pos: t.Pos}
	v := &validator{t: t, errs: errs, vswitches: map[string]int{}}
	for i := range t.VSwitches {
		if _, dup := v.vswitches[t.VSwitches[i].Name]; !dup {
			v.vswitches[t.VSwitches[i].Name] = i
		}
	}
	for i := range t.Instances {
		in := &t.Instances[i]
		if _, ok := v.vswitches[in.VSwitch]; !ok && !in.IP.IsValid() {
			errs.add(fmt.Sprintf("instances[%d].vswitch", i), "", fmt.Sprintf("no vswitch %q", in.VSwitch), names(v.vswitches))
		}
	}
	v.assign()
	if len(errs.errs) > 0 {
		return errs.errs.sort()
	}
	return nil
}

// assign fills the missing instance addresses.
func (v *validator) assign() {
	t := v.t
	used := map[netip.Addr]bool{}
	for i := range t.Instances {
		if a := t.Instances[i].IP; a.IsValid() {
			used[a] = true
		}
	}
	next := map[int]netip.Addr{} // vswitch index → next candidate
	full := map[int]bool{}
	for i := range t.Instances {
		in := &t.Instances[i]
		if in.IP.IsValid() {
			continue
		}
		vsi, ok := v.vswitches[in.VSwitch]
		if !ok || full[vsi] {
			continue
		}
		c := t.VSwitches[vsi].CIDR
		if !c.IsValid() || c.Bits() > netstack.MaxVSwitchBits || v.bad(fmt.Sprintf("vswitches[%d].cidr", vsi)) {
			continue
		}
		a, ok := netstack.NextFree(c, next[vsi], func(a netip.Addr) bool { return used[a] })
		if !ok {
			full[vsi] = true
			v.add(fmt.Sprintf("instances[%d].vswitch", i), "", fmt.Sprintf("vswitch %s (%s) has no free address left", in.VSwitch, c), "")
			continue
		}
		in.IP, in.AutoIP = a, true
		used[a] = true
		next[vsi] = a.Next()
	}
}
