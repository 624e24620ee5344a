package netstack

import (
	"fmt"
	randv2 "math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Booting an instance is building its gVisor stack. Three phases, so that
// a batch boots in time linear in its size and on every core:
//
//  1. stackOptions, in parallel: the parts of stack.New that need no stack
//     (statistics counters, a random source).
//  2. buildStacks, on one goroutine with GOMAXPROCS lowered to 1 once per
//     bootChunk stacks (see buildStacks).
//  3. configure, in parallel: TCP options, the NIC, the address, the route.

// bootChunk is how many stacks buildStacks makes per GOMAXPROCS window.
// A window costs two stop-the-worlds (measured 40–350 µs per pair at
// GOMAXPROCS 2–64 on the 2-core test machine, loaded) and holds the
// process to one processor for about 50 µs of CPU per stack: 256 stacks
// amortize the pauses to 1.4 µs per instance at worst and keep a window
// near 13 ms of CPU.
const bootChunk = 256

// tcpProcessorsMu serializes buildStacks' windows of GOMAXPROCS 1.
var tcpProcessorsMu sync.Mutex

// buildStacks makes the stacks of opts into out, with GOMAXPROCS lowered
// to 1 for the call: gVisor starts a stack's TCP processors when its TCP
// protocol is made, one per runtime.GOMAXPROCS(0)
// (transport/tcp/protocol.go), and has no option for it, so an idle
// instance cost 16 goroutines and 81 KiB at GOMAXPROCS=16 against 2 and
// 41 KiB at 2. An instance is one small VM: one processor serves its
// connections (the fabric delivers its frames on one goroutine anyway) and
// bulk TCP between two instances measured the same at GOMAXPROCS=2 with 1
// or 2 processors. While the window is open the whole process runs on one
// processor; a GOMAXPROCS set by another goroutine during it is lost.
func buildStacks(opts []stack.Options, out []*stack.Stack) {
	tcpProcessorsMu.Lock()
	defer tcpProcessorsMu.Unlock()
	if prev := runtime.GOMAXPROCS(1); prev != 1 {
		defer runtime.GOMAXPROCS(prev)
	}
	for i := range opts {
		out[i] = stack.New(opts[i])
	}
}

var (
	// ipv4Protocol is the IPv4 protocol factory all instances share.
	// ipv4.NewProtocol makes a factory per stack, which reads 2,049 random
	// words from the kernel for the IP identification counters and keeps
	// 8 KiB of them per stack. One factory shares the counters, as Linux
	// shares ip_idents across a host: a datagram's counter is picked by
	// hashing its source, destination and protocol, and no two instances
	// have the same source. The counters are atomics.
	ipv4Protocol = sync.OnceValue(func() stack.NetworkProtocolFactory {
		return ipv4.NewProtocolWithOptions(ipv4.Options{})
	})
	// transportProtocols are an instance's transport protocols. stack.New
	// only reads the slice.
	transportProtocols = []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4}
)

// stackOptions returns the options of a new instance's stack: IPv4 with
// ICMP, TCP and UDP; traffic to the instance's own address stays inside
// the stack, as it does inside a VM. What stack.New would otherwise make
// in buildStacks' window of one processor is made here: the statistics
// counters and the random source.
//
// The stack's iptables are an empty, never-enabled set. gVisor's default
// (stack.DefaultTables: accept-all chains in 8 tables, 7 KiB and 60
// allocations per stack) is skipped on every frame until a table is
// replaced, exactly as the empty set is; vpclab's firewall, not gVisor's
// iptables, enforces the security groups. The empty set has no clock for
// conntrack: to configure gVisor's iptables, replace them whole
// (stack.Stack.SetIPTables with stack.DefaultTables), as bench does.
func stackOptions() stack.Options {
	return stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4Protocol()},
		TransportProtocols: transportProtocols,
		HandleLocal:        true,
		Stats:              newStats(),
		RandSource:         newPCGSource(),
		IPTables:           new(stack.IPTables),
	}
}

// statCounterOffsets are the offsets in tcpip.Stats of its *StatCounter
// fields, nested structs included.
var statCounterOffsets = sync.OnceValue(func() []uintptr {
	var offs []uintptr
	var walk func(t reflect.Type, base uintptr)
	walk = func(t reflect.Type, base uintptr) {
		for f := range t.Fields() {
			switch {
			case f.Type == reflect.TypeFor[*tcpip.StatCounter]():
				offs = append(offs, base+f.Offset)
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, base+f.Offset)
			}
		}
	}
	walk(reflect.TypeFor[tcpip.Stats](), 0)
	return offs
})

// newStats returns a stack's statistics with every counter in one array
// (170 of them) where tcpip.Stats.FillIn allocates each by reflection. The
// few counter maps are left to stack.New's FillIn.
func newStats() tcpip.Stats {
	var s tcpip.Stats
	offs := statCounterOffsets()
	counters := make([]tcpip.StatCounter, len(offs))
	for i, off := range offs {
		*(**tcpip.StatCounter)(unsafe.Add(unsafe.Pointer(&s), off)) = &counters[i]
	}
	return s
}

// pcgSource is a stack's non-cryptographic random source (ephemeral ports,
// hash seeds): math/rand/v2's PCG, 16 bytes of state, behind a mutex as
// stack.Options.RandSource must be safe for concurrent use. gVisor's
// default seeds a math/rand source per stack: 4.9 KiB of state and about
// 600 seeding rounds.
type pcgSource struct {
	mu  sync.Mutex
	pcg randv2.PCG
}

// newPCGSource returns a source seeded from the runtime's random generator.
func newPCGSource() *pcgSource {
	s := &pcgSource{}
	s.pcg.Seed(randv2.Uint64(), randv2.Uint64())
	return s
}

// Uint64 implements math/rand.Source64.
func (s *pcgSource) Uint64() uint64 {
	s.mu.Lock()
	v := s.pcg.Uint64()
	s.mu.Unlock()
	return v
}

// Int63 implements math/rand.Source.
func (s *pcgSource) Int63() int64 { return int64(s.Uint64() >> 1) }

// Seed implements math/rand.Source.
func (s *pcgSource) Seed(seed int64) {
	s.mu.Lock()
	s.pcg.Seed(uint64(seed), 0)
	s.mu.Unlock()
}

// NewInstances builds the instances of cfgs as NewInstance builds one, in
// chunks, on every core (see the phases above). On error no instance is
// left running.
func NewInstances(cfgs []Config) ([]*Instance, error) {
	return newInstances(cfgs, nil)
}

// newInstances is NewInstances; progress, when not nil, is called with
// 1..len(cfgs) on the caller's goroutine as instances are built.
func newInstances(cfgs []Config, progress func(done int)) ([]*Instance, error) {
	for _, cfg := range cfgs {
		if !cfg.Addr.Is4() {
			return nil, fmt.Errorf("instance %s: address %v is not IPv4", cfg.Name, cfg.Addr)
		}
	}
	insts := make([]*Instance, len(cfgs))
	opts := make([]stack.Options, min(bootChunk, len(cfgs)))
	stacks := make([]*stack.Stack, len(opts))
	errs := make([]error, len(opts))
	for start := 0; start < len(cfgs); start += bootChunk {
		chunk := cfgs[start:min(start+bootChunk, len(cfgs))]
		opts, stacks, errs := opts[:len(chunk)], stacks[:len(chunk)], errs[:len(chunk)]
		clear(errs)
		inParallel(len(chunk), func(i int) { opts[i] = stackOptions() })
		buildStacks(opts, stacks)
		clear(opts) // the counters and tables now belong to the stacks
		inParallel(len(chunk), func(i int) {
			cfg := chunk[i]
			inst := &Instance{name: cfg.Name, addr: cfg.Addr, stack: stacks[i], nic: NewVNIC(cfg.MTU, !cfg.NoOffload)}
			if err := inst.configure(); err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", cfg.Name, err)
				return
			}
			insts[start+i] = inst
		})
		for _, err := range errs {
			if err != nil {
				for i, s := range stacks {
					if insts[start+i] == nil {
						s.Destroy()
					}
				}
				closeInstances(insts[:start+len(chunk)])
				return nil, err
			}
		}
		clear(stacks)
		if progress != nil {
			for i := range chunk {
				progress(start + i + 1)
			}
		}
	}
	return insts, nil
}

// closeInstances closes the instances of insts that are not nil.
func closeInstances(insts []*Instance) {
	inParallel(len(insts), func(i int) {
		if insts[i] != nil {
			insts[i].Close()
		}
	})
}

// inParallel calls f(i) for every i in [0, n) on up to one goroutine per
// usable core and returns when every call has.
func inParallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), runtime.NumCPU(), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
