package topology

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
)

// Results of a probe (docs/topology.md).
const (
	Allow  = "allow"
	Block  = "block"
	Refuse = "refuse"
	Failed = "error" // the probe could not run (not a verdict)
)

// RunOptions tune the scenario runner.
type RunOptions struct {
	// Timeout bounds a probe that neither completes nor meets a drop event
	// (default 2 s). Blocked probes are normally known from the data
	// plane's drop event within milliseconds.
	Timeout time.Duration
	// Parallel bounds the probes in flight (default 32).
	Parallel int
}

// Result is the outcome of one expectation.
type Result struct {
	Index    int    `json:"index"`
	Name     string `json:"name,omitempty"`
	From     string `json:"from"`
	To       string `json:"to"`
	Target   string `json:"target"` // the address probed
	Protocol string `json:"protocol"`
	Port     int    `json:"port,omitempty"`
	Expected string `json:"expected"`
	Observed string `json:"observed"`
	Pass     bool   `json:"pass"`
	// Detail says what was seen: the reply, the refusal, the drop event or
	// the timeout.
	Detail string `json:"detail"`
	// TimedOut is set when block was concluded from the timeout alone, with
	// no drop event.
	TimedOut bool `json:"timed_out,omitempty"`
	// Why explains the verdict of the data plane: the drop event's
	// explanation for a blocked probe, else the static path analysis.
	Why *firewall.Explanation `json:"why,omitempty"`
	// Origin is where the rule or group of Why came from, for an imported
	// one: "main.tf:12:3 alicloud_security_group_rule.ssh" (see OriginOf).
	Origin    string  `json:"origin,omitempty"`
	ElapsedMs float64 `json:"elapsed_ms"`
}

// Label is the expectation's name, or a generated one.
func (r *Result) Label() string {
	if r.Name != "" {
		return r.Name
	}
	p := r.Protocol
	if r.Port != 0 {
		p += fmt.Sprintf("/%d", r.Port)
	}
	return fmt.Sprintf("%s → %s %s", r.From, r.To, p)
}

// Run checks every expectation of the topology with a real probe through
// the data plane, concurrently (bounded), and returns the results in file
// order.
func (l *Lab) Run(ctx context.Context, opts RunOptions) []Result {
	return l.RunExpects(ctx, l.Topology.Expect, opts)
}

// RunExpects probes the given expectations.
func (l *Lab) RunExpects(ctx context.Context, expects []Expect, opts RunOptions) []Result {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 32
	}
	run := &run{
		lab:     l,
		timeout: opts.Timeout,
		drops:   newDispatcher(l.VPC.SubscribeDrops(4096)),
		keys:    &keyedMutex{m: map[probeKey]*keyLock{}},
		names:   newNameIndex(l.Topology),
	}
	defer run.drops.close()

	// A fixed set of workers takes the expectations in file order: a
	// worker's stack has grown to the depth of the data plane once, where a
	// goroutine per probe would grow (copy) it on every probe.
	results := make([]Result, len(expects))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.Parallel, len(expects)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(expects) {
					return
				}
				results[i] = run.probe(ctx, i, expects[i])
			}
		})
	}
	wg.Wait()
	return results
}

// run is the state the probes of one RunExpects share.
type run struct {
	lab     *Lab
	timeout time.Duration
	drops   *dispatcher
	keys    *keyedMutex
	names   *nameIndex
}

func (rn *run) probe(ctx context.Context, idx int, e Expect) (r Result) {
	l, timeout, d, keys := rn.lab, rn.timeout, rn.drops, rn.keys
	r = Result{Index: idx, Name: e.Name, From: e.From, To: e.To, Protocol: e.Protocol, Port: e.Port, Expected: e.Result}
	start := time.Now()
	defer func() {
		r.Pass = r.Observed == r.Expected
		r.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	}()
	t := l.Topology
	target, err := t.target(e.From, e.To, rn.names)
	if err != nil {
		r.Observed, r.Detail = Failed, err.Error()
		return r
	}
	r.Target = target.String()
	inst := l.VPC.Instance(e.From)
	if inst == nil {
		if _, pe := t.VPNPeer(e.From); pe != nil {
			// A VPN peer probes from a stack standing in for it at its
			// gateway: the same port, route and rules as its tunnel.
			pinst, release, err := l.VPC.VPNProbe(ctx, e.From)
			if err != nil {
				r.Observed, r.Detail = Failed, err.Error()
				return r
			}
			defer release()
			inst = pinst
		}
	}
	if inst == nil {
		r.Observed, r.Detail = Failed, fmt.Sprintf("no instance, internet host or VPN peer %q", e.From)
		return r
	}
	proto := protoNumber(e.Protocol)
	dsts := l.flowDsts(target, e.Protocol, e.Port)

	// Probes that a drop event could be confused with run one at a time:
	// same source, protocol and destination (as a drop event sees it).
	var keyBuf [2]probeKey
	lockKeys := keyBuf[:0]
	for _, d := range dsts {
		lockKeys = append(lockKeys, probeKey{from: e.From, proto: proto, dst: d})
	}
	unlock := keys.lockAll(lockKeys)
	defer unlock()

	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dropped *netstack.DropEvent
	var dropMu sync.Mutex
	onDrop := func(ev netstack.DropEvent) {
		dropMu.Lock()
		if dropped == nil {
			dropped = &ev
		}
		dropMu.Unlock()
		cancel()
	}
	stop := d.wait(func(ev *netstack.DropEvent) bool {
		if ev.From != e.From || ev.Flow.Proto != proto || ev.Time.Before(start) {
			return false
		}
		dst := netip.AddrPortFrom(firewall.U32ToAddr(ev.Flow.Dst), ev.Flow.DstPort)
		for _, d := range dsts {
			if d.Addr() == dst.Addr() && (proto == firewall.ProtoICMP || d.Port() == dst.Port()) {
				return true
			}
		}
		return false
	}, onDrop)
	defer stop()

	svc := l.service(target, e.Protocol, e.Port, rn.names)
	var observed, detail string
	switch e.Protocol {
	case "udp":
		observed, detail = probeUDP(pctx, inst, netip.AddrPortFrom(target, uint16(e.Port)), svc)
	case "icmp":
		observed, detail = probeICMP(pctx, inst, target, uint16(idx))
	default:
		observed, detail = probeTCP(pctx, inst, netip.AddrPortFrom(target, uint16(e.Port)), svc)
	}
	stop()
	dropMu.Lock()
	ev := dropped
	dropMu.Unlock()
	switch {
	case ev != nil && observed != Allow:
		x := ev.Explanation
		r.Observed, r.Why = Block, &x
		r.Detail = fmt.Sprintf("dropped: %s (drop event, %s → %s)", x.String(), orAddr(ev.From), orAddr(ev.To))
	case observed == Block:
		r.Observed, r.TimedOut = Block, true
		r.Detail = fmt.Sprintf("no answer within %v and no drop event (timeout fallback): %s", timeout, detail)
	default:
		r.Observed, r.Detail = observed, detail
	}
	if !r.Pass && r.Why == nil && r.Observed != Failed {
		r.Why = l.why(e, target)
	}
	r.Origin = t.OriginOf(r.Why).String()
	return r
}

// why explains a probe the data plane let through (or never answered) with
// the firewall's verdicts for the path, when they can be computed.
func (l *Lab) why(e Expect, target netip.Addr) *firewall.Explanation {
	tr, err := l.VPC.Trace(e.From, target, protoNumber(e.Protocol), uint16(e.Port))
	if err != nil {
		return nil
	}
	x := tr.Final
	return &x
}

func orAddr(name string) string {
	if name == "" {
		return "?"
	}
	return name
}

// flowDsts returns the destinations a drop event of this probe may carry:
// the probed address and port and, behind an EIP or a DNAT entry, the
// instance's private address and port (inbound translation comes first),
// as the data plane's route plan resolves them.
func (l *Lab) flowDsts(target netip.Addr, proto string, port int) []netip.AddrPort {
	out := []netip.AddrPort{netip.AddrPortFrom(target, uint16(port))}
	if _, private, ok := l.VPC.Inbound(target, protoNumber(proto), uint16(port)); ok {
		out = append(out, private)
	}
	return out
}

// service returns the service that answers proto/port at addr, following
// EIPs and DNAT entries as the data plane does, or nil when none is known.
func (l *Lab) service(addr netip.Addr, proto string, port int, names nameLookup) *Service {
	name, _ := l.VPC.Owner(addr)
	if inst, private, ok := l.VPC.Inbound(addr, protoNumber(proto), uint16(port)); ok {
		name, port = inst, int(private.Port())
	}
	var ss []Service
	if in := names.instance(name); in != nil {
		ss = in.Services
	} else if h := names.host(name); h != nil {
		ss = h.Services
	}
	var all *Service // a catch-all answers where no service of the port does
	for i := range ss {
		switch {
		case ss[i].Port == port && ss[i].Port != AllPorts && ss[i].Protocol == proto:
			return &ss[i]
		case ss[i].Port == AllPorts && all == nil && slices.Contains(ss[i].Protocols(), proto):
			all = &ss[i]
		}
	}
	return all
}

func protoNumber(p string) uint8 {
	switch p {
	case "udp":
		return firewall.ProtoUDP
	case "icmp":
		return firewall.ProtoICMP
	}
	return firewall.ProtoTCP
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "refused")
}

// probeTCP connects and, when a known service listens, checks its reply.
func probeTCP(ctx context.Context, inst *netstack.Instance, to netip.AddrPort, svc *Service) (string, string) {
	c, err := inst.Dial(ctx, "tcp", to)
	if err != nil {
		if isRefused(err) {
			return Refuse, "connection refused (TCP RST)"
		}
		return Block, err.Error()
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if svc == nil {
		return Allow, "handshake completed"
	}
	switch svc.Kind {
	case "http":
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: vpclab\r\n\r\n"); err != nil {
			return Block, "handshake completed, request lost: " + err.Error()
		}
		resp, err := io.ReadAll(io.LimitReader(c, 1<<16))
		status, _, _ := strings.Cut(string(resp), "\r\n")
		body := string(resp)
		if i := strings.Index(body, "\r\n\r\n"); i >= 0 {
			body = body[i+4:]
		}
		if !strings.HasPrefix(status, "HTTP/1.") {
			return Block, fmt.Sprintf("handshake completed, no HTTP reply (%v)", err)
		}
		return Allow, fmt.Sprintf("%s, body %q", status, strings.TrimSpace(body))
	case "echo":
		const msg = "vpclab probe\n"
		if _, err := io.WriteString(c, msg); err != nil {
			return Block, "handshake completed, echo lost: " + err.Error()
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if line != msg {
			return Block, fmt.Sprintf("handshake completed, no echo (%v)", err)
		}
		return Allow, "echo came back"
	case "banner":
		// The first line is the greeting; the banner then holds the
		// connection open for the client's turn, so read no further.
		line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
		if len(line) == 0 {
			return Block, fmt.Sprintf("handshake completed, no banner (%v)", err)
		}
		return Allow, fmt.Sprintf("banner %q", strings.TrimSpace(line))
	}
	return Allow, "handshake completed"
}

// probeUDP sends one datagram and waits for the echo (or banner) or an ICMP
// port unreachable.
// udpErrorPoll is how often a UDP probe looks for an ICMP error.
const udpErrorPoll = 20 * time.Millisecond

func probeUDP(ctx context.Context, inst *netstack.Instance, to netip.AddrPort, svc *Service) (string, string) {
	c, err := inst.Dial(ctx, "udp", to)
	if err != nil {
		return Failed, err.Error()
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write([]byte("vpclab probe")); err != nil {
		if isRefused(err) {
			return Refuse, "ICMP port unreachable"
		}
		return Block, err.Error()
	}
	buf := make([]byte, 2048)
	// A blocked Read is not woken by an ICMP error that arrives after
	// Write returned (gVisor's UDP endpoint reports it to the next call
	// only): one process delivers it during Write, a shard link later. So
	// read in short slices up to the deadline.
	dl, hasDL := ctx.Deadline()
	for {
		slice := time.Now().Add(udpErrorPoll)
		if hasDL && dl.Before(slice) {
			slice = dl
		}
		c.SetReadDeadline(slice)
		n, err := c.Read(buf)
		switch {
		case err == nil:
			return Allow, fmt.Sprintf("reply %q", string(buf[:n]))
		case isRefused(err):
			return Refuse, "ICMP port unreachable"
		case ctx.Err() == nil && (!hasDL || time.Now().Before(dl)) && isTimeout(err):
			continue
		}
		return Block, err.Error()
	}
}

func probeICMP(ctx context.Context, inst *netstack.Instance, to netip.Addr, seq uint16) (string, string) {
	rtt, err := inst.Ping(ctx, to, seq)
	if err != nil {
		return Block, err.Error()
	}
	return Allow, fmt.Sprintf("echo reply in %v", rtt.Round(time.Microsecond))
}

// dispatcher hands drop events to the probes waiting for them.
type dispatcher struct {
	sub     *netstack.DropSubscription
	mu      sync.Mutex
	next    int
	waiters map[int]*waiter
	done    chan struct{}
}

type waiter struct {
	match func(*netstack.DropEvent) bool
	fn    func(netstack.DropEvent)
}

func newDispatcher(sub *netstack.DropSubscription) *dispatcher {
	d := &dispatcher{sub: sub, waiters: map[int]*waiter{}, done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) run() {
	defer close(d.done)
	for ev := range d.sub.C {
		d.mu.Lock()
		for id, w := range d.waiters {
			if w.match(&ev) {
				delete(d.waiters, id)
				w.fn(ev) // quick: records the event, cancels the probe
			}
		}
		d.mu.Unlock()
	}
}

// wait registers a waiter; the returned stop unregisters it.
func (d *dispatcher) wait(match func(*netstack.DropEvent) bool, fn func(netstack.DropEvent)) (stop func()) {
	d.mu.Lock()
	id := d.next
	d.next++
	d.waiters[id] = &waiter{match: match, fn: fn}
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.waiters, id)
		d.mu.Unlock()
	}
}

func (d *dispatcher) close() {
	d.sub.Close()
	<-d.done
}

// probeKey is what a drop event tells of a probe: its source, protocol
// and destination.
type probeKey struct {
	from  string
	proto uint8
	dst   netip.AddrPort
}

func (a probeKey) compare(b probeKey) int {
	if c := strings.Compare(a.from, b.from); c != 0 {
		return c
	}
	if c := int(a.proto) - int(b.proto); c != 0 {
		return c
	}
	return a.dst.Compare(b.dst)
}

// keyedMutex serializes probes with the same key.
type keyedMutex struct {
	mu sync.Mutex
	m  map[probeKey]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key probeKey) *keyLock {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return l
}

func (k *keyedMutex) unlock(key probeKey, l *keyLock) {
	l.Unlock()
	k.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}

// lockAll locks every key, in sorted order so that two probes never wait
// for each other. It sorts keys in place.
func (k *keyedMutex) lockAll(keys []probeKey) (unlock func()) {
	slices.SortFunc(keys, probeKey.compare)
	keys = slices.Compact(keys)
	var held [2]*keyLock
	locks := held[:0]
	if len(keys) > len(held) {
		locks = make([]*keyLock, 0, len(keys))
	}
	for _, key := range keys {
		locks = append(locks, k.lock(key))
	}
	return func() {
		for i := len(locks) - 1; i >= 0; i-- {
			k.unlock(keys[i], locks[i])
		}
	}
}
