package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// ShardWorkerEnv, set to 1 in its environment, makes a process started by
// the shard benchmark a shard worker: `vpclab bench shard-worker` and the
// bench package's test binary run ShardWorker on their stdin and stdout
// instead of anything else. A process that has it set starts no workers
// itself, so a binary without the hook cannot start workers without end.
const ShardWorkerEnv = "VPCLAB_BENCH_SHARD_WORKER"

// ShardWorkerArgs are the arguments the shard benchmark starts its own
// executable with: vpclab's hidden worker command. A test binary ignores
// them (its TestMain sees ShardWorkerEnv first).
var ShardWorkerArgs = []string{"bench", "shard-worker"}

// workerSetup is what a worker builds: one shard (or, with Count 1, the
// whole VPC) of a generated topology.
type workerSetup struct {
	Instances int    // of the boot topology; 0: the bulk pair
	Shard     int    // this worker's index
	Count     int    // shards; 1: unsharded
	Key       string // this shard's private key, base64
	Peers     []workerPeer
}

type workerPeer struct {
	Index     int
	PublicKey string
}

// workerEndpoints tells a built worker where the other shards' WireGuard
// sockets are (shard index → host:port).
type workerEndpoints struct {
	Endpoints map[int]string
}

// workerReport is a worker's line on stdout: "built" (with its port),
// "ready" (every handshake done, with its memory) or "error".
type workerReport struct {
	Event        string
	Port         uint16  `json:",omitempty"`
	BuildSeconds float64 `json:",omitempty"` // load and build, from the setup line on
	RSS          int64   `json:",omitempty"` // VmRSS when ready, bytes
	PeakRSS      int64   `json:",omitempty"` // VmHWM when ready, bytes
	Error        string  `json:",omitempty"`
}

// ShardWorker is one process of the shard benchmark: it reads a setup line
// on in, builds that shard, reports "built" with its WireGuard port on out,
// reads the other shards' endpoints, waits for their handshakes, reports
// "ready" with its memory, and then serves (the bulk pair's sink, when it
// runs it) until in ends or ctx does.
func ShardWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	fail := func(err error) error {
		enc.Encode(workerReport{Event: "error", Error: err.Error()})
		return err
	}
	var s workerSetup
	if err := dec.Decode(&s); err != nil {
		return fail(fmt.Errorf("shard worker: setup: %w", err))
	}
	start := time.Now()
	lab, err := s.build()
	if err != nil {
		return fail(err)
	}
	defer lab.Close()
	if s.Instances == 0 {
		// The bulk pair: the sink runs wherever its instance is.
		if inst := lab.VPC.Instance(pairSink); inst != nil {
			stop, err := serveSink(inst)
			if err != nil {
				return fail(err)
			}
			defer stop()
		}
	}
	built := workerReport{Event: "built", BuildSeconds: time.Since(start).Seconds()}
	if lab.Shard != nil {
		built.Port = lab.Shard.Port()
	}
	if err := enc.Encode(built); err != nil {
		return err
	}
	var eps workerEndpoints
	if err := dec.Decode(&eps); err != nil {
		return fail(fmt.Errorf("shard worker: endpoints: %w", err))
	}
	if err := connectShards(ctx, lab, eps.Endpoints); err != nil {
		return fail(err)
	}
	if err := enc.Encode(workerReport{Event: "ready", RSS: procStatusBytes("VmRSS"), PeakRSS: procStatusBytes("VmHWM")}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { // ends when in does: the parent closes it, or exits
		io.Copy(io.Discard, dec.Buffered())
		io.Copy(io.Discard, in)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// build loads the setup's topology and builds its shard.
func (s workerSetup) build() (*topology.Lab, error) {
	name, data := "pair.yaml", pairTopology()
	if s.Instances > 0 {
		name, data = fmt.Sprintf("boot-%d.yaml", s.Instances), bootTopology(s.Instances)
	}
	t, err := topology.Load(name, data)
	if err != nil {
		return nil, err
	}
	if s.Count <= 1 {
		return topology.Build(t)
	}
	c := topology.ShardConfig{Index: s.Shard, Count: s.Count}
	if c.PrivateKey, err = netstack.ParseShardKey(s.Key); err != nil {
		return nil, fmt.Errorf("shard worker: key: %w", err)
	}
	for _, p := range s.Peers {
		k, err := netstack.ParseShardKey(p.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("shard worker: peer %d: %w", p.Index, err)
		}
		c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: p.Index, PublicKey: k})
	}
	return topology.Build(t, topology.Sharded(c))
}

// connectShards points lab's link at the other shards and waits for a
// handshake with each (an unsharded lab has nothing to wait for).
func connectShards(ctx context.Context, lab *topology.Lab, endpoints map[int]string) error {
	if lab.Shard == nil {
		return nil
	}
	for j, ep := range endpoints {
		if err := lab.Shard.SetEndpoint(j, ep); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return lab.Shard.WaitReady(wctx)
}

// The bulk pair: the sender and the sink, on shards 0 and 1 of two (their
// names are picked so, see pairNames).
var pairSender, pairSink = pairNames()

const (
	pairSinkAddr = "10.1.0.20"
	pairPort     = 5001
)

// pairNames returns two instance names whose shards of two are 0 and 1.
// (FNV-1a modulo 2 is the parity of the name's bytes: the first "bulk-tx-"
// name of shard 0 and the first "bulk-rx-" one of shard 1.)
func pairNames() (sender, sink string) {
	first := func(prefix string, shard int) string {
		for i := 0; i < 100; i++ {
			if n := fmt.Sprintf("%s%d", prefix, i); topology.ShardOf(n, 2) == shard {
				return n
			}
		}
		panic("bench: no " + prefix + " name on shard " + fmt.Sprint(shard)) // the digits 0 and 1 differ in parity
	}
	return first("bulk-tx-", 0), first("bulk-rx-", 1)
}

// pairTopology is the bulk pair: a sender and a sink in one vswitch, the
// sink's group letting TCP in on pairPort from the VPC.
func pairTopology() []byte {
	return fmt.Appendf(nil, `version: 1
vpc: {name: shard-bulk, cidr: 10.0.0.0/8}
vswitches:
  - {name: vsw, cidr: 10.1.0.0/16}
security_groups:
  - name: sg-bulk
    rules:
      - {direction: ingress, protocol: tcp, port_range: %d/%d, source: 10.0.0.0/8}
instances:
  - {name: %s, vswitch: vsw, ip: 10.1.0.10, security_groups: [sg-bulk]}
  - {name: %s, vswitch: vsw, ip: %s, security_groups: [sg-bulk]}
`, pairPort, pairPort, pairSender, pairSink, pairSinkAddr)
}

// bootTopology is n idle instances in the default group, one vswitch per
// 60,000 (a vswitch is at most a /16).
func bootTopology(n int) []byte {
	b := []byte("version: 1\nvpc: {name: shard-boot, cidr: 10.0.0.0/8}\nvswitches:\n")
	const perVSwitch = 60_000
	for i := 0; i <= (n-1)/perVSwitch; i++ {
		b = fmt.Appendf(b, "  - {name: vsw-%d, cidr: 10.%d.0.0/16}\n", i, i+1)
	}
	b = append(b, "instances:\n"...)
	for i := range n {
		b = fmt.Appendf(b, "  - {name: vm-%d, vswitch: vsw-%d}\n", i, i/perVSwitch)
	}
	return b
}

// serveSink accepts TCP connections on inst's pairPort; each it reads to
// its end, then answers with the count of bytes it read (8 bytes, big
// endian) and closes. stop closes the listener and waits for every
// connection's goroutine.
func serveSink(inst *netstack.Instance) (stop func(), err error) {
	l, err := inst.Listen(pairPort)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				n, _ := io.Copy(io.Discard, c)
				c.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
			})
		}
	})
	return func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

// bulkTo sends one TCP stream from inst to the sink at to for d, closes
// its side and waits for the sink's count: Gbit/s over the time from the
// first write to the count, having checked that the sink read every byte.
func bulkTo(ctx context.Context, inst *netstack.Instance, to netip.AddrPort, d time.Duration) (float64, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := inst.Dial(dctx, "tcp", to)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("dial %v: %w", to, err)
	}
	defer c.Close()
	hc, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return 0, fmt.Errorf("dial %v: %T cannot close its sending side", to, c)
	}
	buf := make([]byte, 1<<20)
	var sent int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return 0, fmt.Errorf("write to %v after %d bytes: %w", to, sent, err)
		}
	}
	if err := hc.CloseWrite(); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return 0, fmt.Errorf("the sink's count: %w", err)
	}
	el := time.Since(start)
	if got := int64(binary.BigEndian.Uint64(count[:])); got != sent {
		return 0, fmt.Errorf("the sink read %d bytes, %d were sent", got, sent)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if sent == 0 {
		return 0, errors.New("nothing sent")
	}
	return float64(sent) * 8 / el.Seconds() / 1e9, nil
}
