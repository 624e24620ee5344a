package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// udpIdleOption checks --udp-idle-timeout and turns it into the option's
// value: the flag's 0 (never) is the option's negative, as its 0 is the
// default.
func udpIdleOption(idle time.Duration) (time.Duration, error) {
	switch {
	case idle < 0:
		return 0, usageError("--udp-idle-timeout %v: must not be negative (0: never)", idle)
	case idle == 0:
		return -1, nil
	}
	return idle, nil
}

// exposedListen is an exposed port's host address as up lists it:
// "127.0.0.1:8080", or "127.0.0.1:5353/udp".
func exposedListen(p topology.ExposedPort) string {
	if p.Protocol == "udp" {
		return p.Listen.String() + "/udp"
	}
	return p.Listen.String()
}

// busyPort names the host port an exposure could not listen on: "8080",
// or "5353/udp".
func busyPort(e *topology.PortInUseError) string {
	if e.Protocol == "udp" {
		return fmt.Sprintf("%d/udp", e.Listen.Port())
	}
	return fmt.Sprint(e.Listen.Port())
}

// splitExposeStats sums an exposure's counters per protocol: TCP ports
// count connections, UDP ports flows and datagrams.
func splitExposeStats(s topology.ExposeStats) (tcp, udp topology.ExposeStats) {
	for _, p := range s.Ports {
		into := &tcp
		if p.Protocol == "udp" {
			into = &udp
		}
		into.Ports = append(into.Ports, p)
		c := &into.ExposeCounters
		c.Accepted += p.Accepted
		c.Active += p.Active
		c.RefusedOverCap += p.RefusedOverCap
		c.BlockedByGroups += p.BlockedByGroups
		c.DialFailed += p.DialFailed
		c.AcceptErrors += p.AcceptErrors
		c.IdleClosed += p.IdleClosed
		c.DatagramsIn += p.DatagramsIn
		c.DatagramsOut += p.DatagramsOut
		c.DatagramsBlocked += p.DatagramsBlocked
		c.DatagramsRefused += p.DatagramsRefused
		c.DatagramsOverCap += p.DatagramsOverCap
	}
	return tcp, udp
}

// udpExposeSummary lists the datagrams of exposed UDP ports that went
// nowhere, "" when none did. Flows ending idle are how UDP ends, not a
// failure, and are not listed.
func udpExposeSummary(s topology.ExposeStats) string {
	var parts []string
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{s.DatagramsBlocked, "blocked by security groups"},
		{s.DatagramsRefused, "answered port unreachable (nothing listens)"},
		{s.DatagramsOverCap, "dropped over the flow cap"},
		{s.DialFailed, "failed to open a flow"},
		{s.AcceptErrors, "failed host reads"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" (of %s from %s)",
		count(int(s.DatagramsIn+s.DatagramsOverCap), "datagram"), count(int(s.Accepted), "client flow"))
}
