package topology

import (
	"net/netip"
	"sync/atomic"
)

// ExposeCounters count what the host listeners of an Exposure did since
// Expose. Every field but Active only grows. On a UDP port a flow (one host
// client address) stands for a connection: Accepted, Active, DialFailed and
// IdleClosed count flows, AcceptErrors failed reads of the host socket; the
// Datagrams fields are UDP's alone, RefusedOverCap and BlockedByGroups
// TCP's.
type ExposeCounters struct {
	// Accepted counts host connections accepted, those then refused over
	// the cap included.
	Accepted uint64 `json:"accepted"`
	// Active is the number of host connections being dialled or forwarded
	// now.
	Active int64 `json:"active"`
	// RefusedOverCap counts host connections reset at once because the
	// port already carried MaxConnsPerPort.
	RefusedOverCap uint64 `json:"refused_over_cap"`
	// BlockedByGroups counts connections the security groups dropped (a
	// drop event named their flow); the host connection was reset.
	BlockedByGroups uint64 `json:"blocked_by_groups"`
	// DialFailed counts connections the data plane could not make for
	// another reason: nothing listens (the instance's RST), or DialTimeout
	// passed. The host connection was reset.
	DialFailed uint64 `json:"dial_failed"`
	// AcceptErrors counts failed accepts on the host listener (EMFILE when
	// the process is out of file descriptors, for instance); each is
	// retried after a backoff of 5 ms doubling to 1 s.
	AcceptErrors uint64 `json:"accept_errors"`
	// IdleClosed counts connections closed because no byte moved in either
	// direction for IdleTimeout.
	IdleClosed uint64 `json:"idle_closed"`
	// DatagramsIn counts datagrams from host clients sent into the data
	// plane towards the instance.
	DatagramsIn uint64 `json:"datagrams_in"`
	// DatagramsOut counts datagrams from the instance passed on to host
	// clients.
	DatagramsOut uint64 `json:"datagrams_out"`
	// DatagramsBlocked counts datagrams of host clients the security
	// groups dropped (a drop event named their flow); the client hears
	// nothing, as on the network.
	DatagramsBlocked uint64 `json:"datagrams_blocked"`
	// DatagramsRefused counts datagrams the instance answered with ICMP
	// port unreachable: nothing listens on the port. A connected UDP
	// socket reports the error on its next use, so each is counted when
	// the flow's client sends again.
	DatagramsRefused uint64 `json:"datagrams_refused"`
	// DatagramsOverCap counts datagrams dropped because they came from a
	// client without a flow while the port carried MaxConnsPerPort flows.
	DatagramsOverCap uint64 `json:"datagrams_over_cap"`
}

// add sums o into c.
func (c *ExposeCounters) add(o ExposeCounters) {
	c.Accepted += o.Accepted
	c.Active += o.Active
	c.RefusedOverCap += o.RefusedOverCap
	c.BlockedByGroups += o.BlockedByGroups
	c.DialFailed += o.DialFailed
	c.AcceptErrors += o.AcceptErrors
	c.IdleClosed += o.IdleClosed
	c.DatagramsIn += o.DatagramsIn
	c.DatagramsOut += o.DatagramsOut
	c.DatagramsBlocked += o.DatagramsBlocked
	c.DatagramsRefused += o.DatagramsRefused
	c.DatagramsOverCap += o.DatagramsOverCap
}

// ExposedPortStats are the counters of one exposed port.
type ExposedPortStats struct {
	Listen   netip.AddrPort `json:"listen"`   // the host address
	Instance string         `json:"instance"` // the instance it reaches
	Port     int            `json:"port"`     // the instance's port
	Protocol string         `json:"protocol"` // "tcp" or "udp"
	ExposeCounters
}

// ExposeStats are the counters of an Exposure: the sums over its ports,
// then each port's own, in the order of Exposure.Ports.
type ExposeStats struct {
	ExposeCounters
	Ports []ExposedPortStats `json:"ports"`
}

// Stats returns the counters of every exposed port and their sums. It is
// safe to call at any time, during and after Close.
func (x *Exposure) Stats() ExposeStats {
	s := ExposeStats{Ports: make([]ExposedPortStats, 0, len(x.listeners))}
	for _, ln := range x.listeners {
		c := ln.counters.snapshot()
		s.Ports = append(s.Ports, ExposedPortStats{Listen: ln.port.Listen, Instance: ln.port.Instance,
			Port: ln.port.Port, Protocol: ln.port.Protocol, ExposeCounters: c})
		s.add(c)
	}
	return s
}

// portCounters are one listener's live counters.
type portCounters struct {
	accepted, refusedOverCap, blockedByGroups, dialFailed, acceptErrors, idleClosed atomic.Uint64
	datagramsIn, datagramsOut, datagramsBlocked, datagramsRefused, datagramsOverCap atomic.Uint64
	active                                                                          atomic.Int64
}

func (c *portCounters) snapshot() ExposeCounters {
	return ExposeCounters{
		Accepted:        c.accepted.Load(),
		Active:          c.active.Load(),
		RefusedOverCap:  c.refusedOverCap.Load(),
		BlockedByGroups: c.blockedByGroups.Load(),
		DialFailed:      c.dialFailed.Load(),
		AcceptErrors:    c.acceptErrors.Load(),
		IdleClosed:      c.idleClosed.Load(),

		DatagramsIn:      c.datagramsIn.Load(),
		DatagramsOut:     c.datagramsOut.Load(),
		DatagramsBlocked: c.datagramsBlocked.Load(),
		DatagramsRefused: c.datagramsRefused.Load(),
		DatagramsOverCap: c.datagramsOverCap.Load(),
	}
}
