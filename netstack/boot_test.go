package netstack

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestNewStatsFillsEveryCounter checks newStats against tcpip.Stats.FillIn:
// every *StatCounter field is set, each to its own counter, and stack.New
// keeps them (its FillIn only fills what is nil).
func TestNewStatsFillsEveryCounter(t *testing.T) {
	s := newStats()
	seen := map[*tcpip.StatCounter]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, name := v.Field(i), path+"."+v.Type().Field(i).Name
			switch f.Type() {
			case reflect.TypeFor[*tcpip.StatCounter]():
				c := f.Interface().(*tcpip.StatCounter)
				if c == nil {
					t.Errorf("%s is nil", name)
				} else if other, dup := seen[c]; dup {
					t.Errorf("%s shares its counter with %s", name, other)
				} else {
					seen[c] = name
				}
			case reflect.TypeFor[*tcpip.IntegralStatCounterMap]():
				// stack.New's FillIn makes these.
			default:
				if f.Kind() != reflect.Struct {
					t.Fatalf("%s: unexpected field type %v", name, f.Type())
				}
				walk(f, name)
			}
		}
	}
	walk(reflect.ValueOf(s), "Stats")
	if len(seen) != len(statCounterOffsets()) || len(seen) < 100 {
		t.Errorf("%d counters set, %d offsets", len(seen), len(statCounterOffsets()))
	}

	opts := stackOptions()
	st := stack.New(opts)
	defer st.Destroy()
	assert.Same(t, opts.Stats.TCP.ActiveConnectionOpenings, st.Stats().TCP.ActiveConnectionOpenings)
	assert.NotNil(t, st.Stats().NICs.UnknownL4ProtocolRcvdPacketCounts, "the counter maps are filled in")
}

// goroutinesSettle returns runtime.NumGoroutine once it is want, or after
// 5 s: a goroutine that has signalled its WaitGroup (inParallel's workers)
// or ended a test still counts for a moment.
func goroutinesSettle(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPCGSource(t *testing.T) {
	a, b := newPCGSource(), newPCGSource()
	a.Seed(42)
	b.Seed(42)
	for range 1000 {
		x, y := a.Int63(), b.Int63()
		if x != y || x < 0 {
			t.Fatalf("same seed gave %d and %d (Int63 must be non-negative)", x, y)
		}
	}
	if newPCGSource().Uint64() == newPCGSource().Uint64() {
		t.Error("two new sources start alike")
	}
}

// TestNewInstancesAcrossChunks builds more instances than one chunk at
// GOMAXPROCS 4 and checks each has its address, one goroutine (its TCP
// processor, whatever GOMAXPROCS) and working TCP to an instance of
// another chunk.
func TestNewInstancesAcrossChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	n := bootChunk + bootChunk/2
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = Config{Name: fmt.Sprintf("vm-%d", i), Addr: netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})}
	}
	g0 := runtime.NumGoroutine()
	var done []int
	insts, err := newInstances(cfgs, func(d int) { done = append(done, d) })
	require.NoError(t, err)
	t.Cleanup(func() { closeInstances(insts) })
	require.Len(t, insts, n)
	assert.Equal(t, n, goroutinesSettle(g0+n)-g0, "goroutines per instance")
	assert.Equal(t, 4, runtime.GOMAXPROCS(0), "GOMAXPROCS restored")
	require.Len(t, done, n)
	for i, inst := range insts {
		assert.Equal(t, cfgs[i].Name, inst.Name())
		assert.Equal(t, cfgs[i].Addr, inst.Addr())
		assert.Equal(t, i+1, done[i])
	}

	fab := newFabric(t, nil)
	first, last := insts[0], insts[n-1]
	for _, inst := range []*Instance{first, last} {
		_, err := fab.Attach(inst.NIC(), inst.Addr(), nil)
		require.NoError(t, err)
	}
	serve(t, last, ServiceSpec{Kind: ServiceEcho, Port: 7})
	require.NoError(t, probe(first, "tcp", ap(last.Addr(), 7), 10*time.Second))
	require.NoError(t, probe(first, "icmp", ap(last.Addr(), 0), 10*time.Second))
}

// TestNewInstancesRefusesBadAddress: one bad address refuses the batch
// before any stack is built.
func TestNewInstancesRefusesBadAddress(t *testing.T) {
	g0 := runtime.NumGoroutine()
	_, err := NewInstances([]Config{
		{Name: "ok", Addr: netip.MustParseAddr("10.0.0.1")},
		{Name: "v6", Addr: netip.MustParseAddr("fd00::1")},
	})
	require.ErrorContains(t, err, "instance v6: address fd00::1 is not IPv4")
	assert.Equal(t, g0, goroutinesSettle(g0))
}

// TestAddInstancesManyChunks adds a VPC batch of several chunks and checks
// that an instance of the first chunk reaches one of the last through the
// firewall.
func TestAddInstancesManyChunks(t *testing.T) {
	v, err := NewVPC(VPCConfig{Name: "chunks", CIDR: netip.MustParsePrefix("10.0.0.0/16")})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	require.NoError(t, v.AddVSwitch("vsw", netip.MustParsePrefix("10.0.0.0/20")))
	specs := make([]InstanceSpec, 2*bootChunk+3)
	for i := range specs {
		specs[i] = InstanceSpec{Name: fmt.Sprintf("vm-%d", i), VSwitch: "vsw"}
	}
	insts, err := v.AddInstances(specs)
	require.NoError(t, err)
	require.Len(t, insts, len(specs))
	assert.Equal(t, len(specs), v.Fabric().Ports())
	first, last := insts[0], insts[len(insts)-1]
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), first.Addr())
	assert.Equal(t, netip.MustParseAddr("10.0.2.3"), last.Addr())
	serve(t, last, ServiceSpec{Kind: ServiceEcho, Port: 7})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := first.Dial(ctx, "tcp", ap(last.Addr(), 7))
	require.NoError(t, err)
	c.Close()
}
