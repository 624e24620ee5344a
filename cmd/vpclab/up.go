package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// upReport is what `vpclab up` prints once the VPC is up; -o json prints it
// as one JSON document.
type upReport struct {
	File        string                 `json:"file"`
	Name        string                 `json:"name,omitempty"`
	VPC         string                 `json:"vpc,omitempty"`
	CIDR        string                 `json:"cidr"`
	Instances   []upInstance           `json:"instances"`
	Hosts       []upInstance           `json:"internet_hosts"`
	NATGateways []upNAT                `json:"nat_gateways"`
	Exposed     []topology.ExposedPort `json:"exposed"`
	VPNGateways []upVPN                `json:"vpn_gateways,omitempty"`
	Results     []topology.Result      `json:"results"`
	Passed      int                    `json:"passed"`
	Failed      int                    `json:"failed"`
}

type upInstance struct {
	Name     string   `json:"name"`
	VSwitch  string   `json:"vswitch,omitempty"`
	IP       string   `json:"ip"`
	EIP      string   `json:"eip,omitempty"`
	Groups   []string `json:"security_groups,omitempty"`
	Services []string `json:"services,omitempty"`
}

type upVPN struct {
	Name       string      `json:"name"`
	VSwitch    string      `json:"vswitch"`
	Listen     string      `json:"listen"`
	ClientCIDR string      `json:"client_cidr"`
	Peers      []upVPNPeer `json:"peers"`
}

type upVPNPeer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type upNAT struct {
	Name    string   `json:"name"`
	VSwitch string   `json:"vswitch"`
	EIP     string   `json:"eip"`
	SNAT    []string `json:"snat,omitempty"`
	DNAT    []string `json:"dnat,omitempty"`
}

func newUpCmd() *cobra.Command {
	var (
		output   string
		duration time.Duration
		timeout  time.Duration
		maxConns int
		idle     time.Duration
		udpIdle  time.Duration
		budget   memoryBudget
		control  controlFlags
		metrics  upMetrics
		pcap     pcapFlags
		shard    shardFlags
	)
	cmd := &cobra.Command{
		Use:   "up [FILE]",
		Short: "Bring a VPC up (no FILE: the embedded default topology) and run until interrupted",
		Long: `Up builds the VPC of FILE (no FILE: the embedded default topology, a three-tier
shop with an EIP, SNAT, a DNAT port forward and the port-25 block), prints its
instances, addresses, services, NAT gateways, VPN gateways and exposed host
ports, runs every expect line and prints the reachability summary, then runs
until interrupted
(SIGINT or SIGTERM) or until --duration has passed, and tears everything down.

Exposed ports listen on 127.0.0.1 of the host. A connection to one is dialled
from the internet host with address internet.host_client (added as
"host-client" when the file has no host with that address) to the instance's
EIP through the data plane, so the security groups apply: a port the groups do
not open (or where nothing listens) accepts on the host, then resets the
connection as soon as the client has sent its first bytes (at most half a
second later), so every client sees the same thing: curl says "Connection
reset by peer". The drop is logged on stderr. Each exposed port carries at
most --max-conns-per-port connections at once (a connection over it is reset
at once) and closes a connection on which nothing moved either way for
--idle-timeout; on exit, up prints on stderr how many connections were
refused, blocked, failed or closed idle, when any were. An exposed UDP port
(listed as 127.0.0.1:PORT/udp) gives each client address its own flow, ended
after --udp-idle-timeout of silence; a datagram the groups drop is dropped,
and counted on exit.

Exit status: 0 when every expect line passed, 1 when one failed or a host port
could not be listened on (busy: the error names the port and the instance),
2 when FILE is invalid.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if duration < 0 {
				return usageError("--duration %v: must not be negative (0 runs until interrupted)", duration)
			}
			if err := checkTimeout(timeout); err != nil {
				return err
			}
			if err := metrics.check(); err != nil {
				return err
			}
			xo, err := exposeOptions(maxConns, idle)
			if err != nil {
				return err
			}
			if xo.UDPIdleTimeout, err = udpIdleOption(udpIdle); err != nil {
				return err
			}
			if err := pcap.check(); err != nil {
				return err
			}
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			t, err := loadTopology(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := budget.check(t); err != nil {
				return err
			}
			sc, names, err := shard.config(t) // after the file: its cluster: section
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runUp(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), t, upOptions{output: output, duration: duration,
				timeout: timeout, expose: xo, control: control, metrics: &metrics, pcap: &pcap, shard: sc, shardNames: names})
		},
	}
	addOutputFlag(cmd, &output)
	addShardFlags(cmd, &shard)
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (for tests and CI); 0 runs until interrupted")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "fallback timeout of a probe that meets no drop event")
	cmd.Flags().IntVar(&maxConns, "max-conns-per-port", topology.DefaultMaxConnsPerPort,
		"connections one exposed port carries at once; one over it is reset at once (0: no cap)")
	cmd.Flags().DurationVar(&idle, "idle-timeout", topology.DefaultIdleTimeout,
		"close an exposed connection on which nothing moved either way for this long (0: never)")
	cmd.Flags().DurationVar(&udpIdle, "udp-idle-timeout", topology.DefaultUDPIdleTimeout,
		"end an exposed UDP flow on which no datagram moved either way for this long (0: never)")
	addMemoryBudgetFlag(cmd, &budget)
	addMaxFileSizeFlag(cmd)
	addControlFlags(cmd, &control)
	metrics.addFlag(cmd)
	addPcapFlags(cmd, &pcap)
	return cmd
}

// exposeOptions checks up's expose flags and turns them into options: a
// flag's 0 (no cap, never) is the options' negative value, as their 0 is
// the default.
func exposeOptions(maxConns int, idle time.Duration) (topology.ExposeOptions, error) {
	if maxConns < 0 {
		return topology.ExposeOptions{}, usageError("--max-conns-per-port %d: must not be negative (0: no cap)", maxConns)
	}
	if idle < 0 {
		return topology.ExposeOptions{}, usageError("--idle-timeout %v: must not be negative (0: never)", idle)
	}
	xo := topology.ExposeOptions{MaxConnsPerPort: maxConns, IdleTimeout: idle}
	if maxConns == 0 {
		xo.MaxConnsPerPort = -1
	}
	if idle == 0 {
		xo.IdleTimeout = -1
	}
	return xo, nil
}

// lockedWriter serializes writes: the exposure's goroutines log on stderr
// while up writes its progress there.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// upOptions are up's flags once checked.
type upOptions struct {
	output            string
	duration, timeout time.Duration
	expose            topology.ExposeOptions
	control           controlFlags
	metrics           *upMetrics            // nil or no address: no metrics
	pcap              *pcapFlags            // nil or no file: no capture
	shard             *topology.ShardConfig // nil: not sharded
	shardNames        map[int]*peerName     // shards given by host name, looked up again while silent
}

// up runs runUp with the default expose options, no metrics and no capture.
func up(ctx context.Context, stdout, stderr io.Writer, t *topology.Topology, output string, duration, timeout time.Duration) error {
	return runUp(ctx, stdout, stderr, t, upOptions{output: output, duration: duration, timeout: timeout})
}

// runUp brings t up, reports, serves until ctx ends (or --duration, or
// `vpclab down`), and tears down.
func runUp(ctx context.Context, stdout, stderr io.Writer, t *topology.Topology, o upOptions) error {
	output, duration, timeout, xo, cf, mx, pc := o.output, o.duration, o.timeout, o.expose, o.control, o.metrics, o.pcap
	buildOpts, endProgress := buildProgress(stderr, "vpclab up", t) // a bar only on a terminal
	if o.shard != nil {
		buildOpts = append(buildOpts, topology.Sharded(*o.shard))
	}
	stderr = &lockedWriter{w: stderr}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lab, err := topology.Build(t, buildOpts...)
	endProgress()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer lab.Close()
	stopReresolve := startReresolve(ctx, lab, o.shardNames, log)
	defer stopReresolve()
	ctx, stopControl, err := startControl(ctx, lab, cf, stderr, log, mx.record)
	if err != nil {
		return err
	}
	defer stopControl()
	capture, err := pc.start(lab, log)
	if err != nil {
		return err
	}
	defer capture.close(io.Discard)
	xo.Logger = log
	x, err := lab.Expose(xo)
	if err != nil {
		var busy *topology.PortInUseError
		if errors.As(err, &busy) {
			return &exitError{code: 1, err: fmt.Errorf("host port %s for %s:%d is not available: %w",
				busyPort(busy), busy.Instance, busy.Port, busy.Err)}
		}
		return &exitError{code: 1, err: err}
	}
	defer x.Close()
	if err := mx.start(lab, x, stderr); err != nil {
		return err
	}
	defer mx.close()

	rep := newUpReport(t, x)
	waitShards(ctx, lab, stderr)
	rep.Results = lab.RunLocal(ctx, topology.RunOptions{Timeout: timeout})
	mx.record(rep.Results...)
	for _, r := range rep.Results {
		if r.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	if output == "json" {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printUpReport(stdout, rep)
	}

	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
		fmt.Fprintf(stderr, "vpclab up: %s is up for %v\n", rep.File, duration)
	} else {
		fmt.Fprintf(stderr, "vpclab up: %s is up; press Ctrl-C to stop\n", rep.File)
	}
	<-ctx.Done()
	stopReresolve()
	mx.close()
	stopControl()
	x.Close()
	lab.Close()
	captureErr := capture.close(stderr)
	tcpStats, udpStats := splitExposeStats(x.Stats())
	if line := exposeSummary(tcpStats); line != "" {
		fmt.Fprintln(stderr, "vpclab up: exposed ports: "+line)
	}
	if line := udpExposeSummary(udpStats); line != "" {
		fmt.Fprintln(stderr, "vpclab up: exposed UDP ports: "+line)
	}
	fmt.Fprintln(stderr, "vpclab up: torn down")
	if rep.Failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %s failed", rep.Failed, count(len(rep.Results), "expectation"))}
	}
	if captureErr != nil {
		return &exitError{code: 1, err: captureErr}
	}
	return nil
}

func newUpReport(t *topology.Topology, x *topology.Exposure) *upReport {
	rep := &upReport{File: t.File, Name: t.Name, VPC: t.VPC.Name, CIDR: t.VPC.CIDR.String(),
		Instances: []upInstance{}, Hosts: []upInstance{}, NATGateways: []upNAT{}, Exposed: x.Ports}
	if rep.Exposed == nil {
		rep.Exposed = []topology.ExposedPort{}
	}
	for _, in := range t.Instances {
		u := upInstance{Name: in.Name, VSwitch: in.VSwitch, IP: in.IP.String(), Groups: in.SecurityGroups,
			Services: upServices(in.Services)}
		if len(u.Groups) == 0 {
			u.Groups = []string{"default"}
		}
		if in.EIP.IsValid() {
			u.EIP = in.EIP.String()
		}
		rep.Instances = append(rep.Instances, u)
	}
	for _, h := range t.Internet.Hosts {
		rep.Hosts = append(rep.Hosts, upInstance{Name: h.Name, IP: h.IP.String(), Services: upServices(h.Services)})
	}
	for _, p := range x.Ports { // the host client, when Expose added it
		if !slices.ContainsFunc(rep.Hosts, func(h upInstance) bool { return h.Name == p.Client }) {
			rep.Hosts = append(rep.Hosts, upInstance{Name: p.Client, IP: p.ClientIP.String()})
		}
	}
	for _, gw := range t.NATGateways {
		n := upNAT{Name: gw.Name, VSwitch: gw.VSwitch, EIP: gw.EIP.String(), SNAT: gw.SNAT}
		for _, d := range gw.DNAT {
			n.DNAT = append(n.DNAT, fmt.Sprintf("%s %d → %s:%d", d.Protocol, d.PublicPort, d.Instance, d.Port))
		}
		rep.NATGateways = append(rep.NATGateways, n)
	}
	for _, g := range t.VPNGateways {
		u := upVPN{Name: g.Name, VSwitch: g.VSwitch, Listen: g.Listen, ClientCIDR: g.ClientCIDR.String(), Peers: []upVPNPeer{}}
		for _, p := range g.Peers {
			u.Peers = append(u.Peers, upVPNPeer{Name: p.Name, Address: p.Address.String()})
		}
		rep.VPNGateways = append(rep.VPNGateways, u)
	}
	return rep
}

// upServices renders services as "http/80", "echo/7/udp".
func upServices(ss []topology.Service) []string {
	var out []string
	for _, s := range ss {
		v := s.Kind + "/" + s.PortText()
		if s.Protocol == "udp" {
			v += "/udp"
		}
		out = append(out, v)
	}
	return out
}

func upDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printUpReport(w io.Writer, rep *upReport) {
	title := rep.File
	if rep.Name != "" {
		title = rep.Name + " (" + rep.File + ")"
	}
	fmt.Fprintf(w, "%s: VPC %s %s\n\n", title, upDash(rep.VPC), rep.CIDR)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tVSWITCH\tPRIVATE IP\tEIP\tGROUPS\tSERVICES")
	for _, in := range rep.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.VSwitch, in.IP, upDash(in.EIP),
			strings.Join(in.Groups, ","), upDash(strings.Join(in.Services, " ")))
	}
	tw.Flush()
	if len(rep.Hosts) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "INTERNET HOST\tADDRESS\tSERVICES")
		for _, h := range rep.Hosts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Name, h.IP, upDash(strings.Join(h.Services, " ")))
		}
		tw.Flush()
	}
	if len(rep.NATGateways) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "NAT GATEWAY\tVSWITCH\tEIP\tSNAT\tDNAT")
		for _, n := range rep.NATGateways {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.VSwitch, n.EIP,
				upDash(strings.Join(n.SNAT, ",")), upDash(strings.Join(n.DNAT, ", ")))
		}
		tw.Flush()
	}
	if len(rep.VPNGateways) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "VPN GATEWAY\tVSWITCH\tLISTEN (UDP)\tCLIENT CIDR\tPEERS")
		for _, g := range rep.VPNGateways {
			peers := make([]string, len(g.Peers))
			for i, p := range g.Peers {
				peers[i] = p.Name + " " + p.Address
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Name, g.VSwitch, g.Listen, g.ClientCIDR, upDash(strings.Join(peers, ", ")))
		}
		tw.Flush()
	}
	if len(rep.Exposed) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "EXPOSED\tINSTANCE\tVIA\tFROM")
		for _, p := range rep.Exposed {
			fmt.Fprintf(tw, "%s\t%s:%d\t%v\t%s (%v)\n", exposedListen(p), p.Instance, p.Port, p.Target, p.Client, p.ClientIP)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nreachability: %d passed, %d failed\n", rep.Passed, rep.Failed)
	printResults(w, rep.Results)
}

// exposeSummary lists the exposed connections that were refused, blocked,
// failed or closed idle, "" when none was.
func exposeSummary(s topology.ExposeStats) string {
	var parts []string
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{s.RefusedOverCap, "reset over the connection cap"},
		{s.BlockedByGroups, "blocked by security groups"},
		{s.DialFailed, "failed to reach the instance"},
		{s.AcceptErrors, "failed accepts"},
		{s.IdleClosed, "closed idle"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" (of %s accepted)", count(int(s.Accepted), "connection"))
}
