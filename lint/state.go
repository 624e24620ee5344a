package lint

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// State is the security-group state lint looks at: groups (their user
// rules, as the firewall holds them), NICs with their groups in order, and
// the quotas. Run takes it from a loaded file; a running sandbox gives its
// live one (StateOf).
type State struct {
	Quotas firewall.Quotas
	Groups []firewall.Group // user rules only; the default group's system rules are the firewall's
	NICs   []NIC
}

// NIC is one instance's network interface.
type NIC struct {
	Name   string
	Addr   netip.Addr
	Groups []string
}

// FileState is the state a loaded topology describes.
func FileState(t *topology.Topology) State {
	st := State{Quotas: t.Quotas.Firewall()}
	for i := range t.SecurityGroups {
		st.Groups = append(st.Groups, t.SecurityGroups[i].Firewall())
	}
	for _, in := range t.Instances {
		st.NICs = append(st.NICs, NIC{Name: in.Name, Addr: in.IP, Groups: in.SecurityGroups})
	}
	return st
}

// StateOf is the current state of a running firewall: rules added or
// removed and groups joined or left since start included. nics names the
// NICs to take, in order (the topology's instances).
func StateOf(fw *firewall.Firewall, nics []string) State {
	st := State{Quotas: fw.Quotas()}
	for _, name := range fw.Groups() {
		g, ok := fw.Group(name)
		if !ok {
			continue
		}
		user := g.Rules[:0:0]
		for _, r := range g.Rules {
			if !r.IsSystem() {
				user = append(user, r)
			}
		}
		g.Rules = user
		st.Groups = append(st.Groups, g)
	}
	for _, name := range nics {
		if n, ok := fw.NIC(name); ok {
			st.NICs = append(st.NICs, NIC{Name: name, Addr: n.Addr(), Groups: fw.NICGroups(name)})
		}
	}
	return st
}

// build makes a firewall holding st, plus one NIC per extra entry (a group
// alone, for groups without members). It builds the NICs' decision lists
// only (lint never classifies a packet): no matcher is compiled. The caller
// closes it.
func (st *State) build(extra ...NIC) (*firewall.Firewall, error) {
	fw := firewall.New(firewall.Config{Quotas: st.Quotas, DecisionListsOnly: true})
	err := fw.Update(func(tx *firewall.Tx) error {
		var errs []error
		for _, g := range st.Groups {
			errs = append(errs, tx.CreateGroup(g))
		}
		for _, n := range append(st.NICs[:len(st.NICs):len(st.NICs)], extra...) {
			_, err := tx.AddNIC(n.Name, n.Addr, n.Groups...)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		fw.Close()
		return nil, fmt.Errorf("security groups: %w", err)
	}
	return fw, nil
}
