package topology

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memTopology writes n instances in one /12 vswitch, each with services
// (flow-style YAML, e.g. ", services: [{kind: http, port: 80}]").
func memTopology(n int, services string) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {cidr: 10.0.0.0/8}\nvswitches: [{name: v, cidr: 10.0.0.0/12}]\ninstances:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: vm-%d, vswitch: v%s}\n", i, services)
	}
	return []byte(b.String())
}

// liveBytes is the live heap and goroutine stacks after a collection.
func liveBytes() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // the second empties sync.Pool's victim cache
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// TestBuildMemoryAllocMatchesEstimate builds 1,000 instances with each kind
// of service and checks that what Build takes (live heap and stacks) is what
// MemoryEstimate says, within a margin; it logs bytes per instance. Skipped
// under -race, which doubles stacks (make test runs it without).
func TestBuildMemoryAllocMatchesEstimate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector doubles goroutine stacks; make test runs this without -race")
	}
	if testing.Short() {
		t.Skip("builds 4,000 instances")
	}
	const n = 1000
	for _, tt := range []struct{ name, services string }{
		{"bare", ""},
		{"tcp", ", services: [{kind: http, port: 80}, {kind: echo, port: 7}, {kind: banner, port: 22}]"},
		{"udp", ", services: [{kind: echo, port: 7, protocol: udp}]"},
		{"both", ", services: [{kind: http, port: 80}, {kind: echo, port: 7, protocol: udp}]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top, err := Load("m.yaml", memTopology(n, tt.services))
			require.NoError(t, err)
			before := liveBytes()
			lab, err := Build(top)
			require.NoError(t, err)
			measured := liveBytes() - before
			lab.Close()
			est := top.MemoryEstimate() - memBase
			t.Logf("%s: %d B/instance measured, %d estimated", tt.name, measured/n, est/n)
			assert.InDelta(t, 1, float64(measured)/float64(est), 0.25, "measured %d B/instance, estimated %d", measured/n, est/n)
		})
	}
}

// BenchmarkBuildInstances1000 reports what an idle instance with an http
// service costs once built: live heap and stacks per instance.
func BenchmarkBuildInstances1000(b *testing.B) {
	const n = 1000
	top, err := Load("m.yaml", memTopology(n, ", services: [{kind: http, port: 80}]"))
	require.NoError(b, err)
	var total int64
	for b.Loop() {
		before := liveBytes()
		lab, err := Build(top)
		if err != nil {
			b.Fatal(err)
		}
		total += liveBytes() - before
		lab.Close()
	}
	b.ReportMetric(float64(total)/float64(b.N)/n, "B/instance")
}

func TestMemoryBudget(t *testing.T) {
	top, err := Load("big.yaml", memTopology(3000, ", services: [{kind: http, port: 80}]"))
	require.NoError(t, err)
	est := top.MemoryEstimate()
	assert.Equal(t, int64(memBase+3001*memInstance+3000*memTCPService), est)

	before := runtime.NumGoroutine()
	lab, err := Build(top, MemoryBudget(50<<20))
	require.Error(t, err)
	assert.Nil(t, lab)
	var mb *MemoryBudgetError
	require.True(t, errors.As(err, &mb))
	assert.Equal(t, "big.yaml: 3000 instances need about 86.3 MiB, over the memory budget of 50 MiB", err.Error())
	assert.Equal(t, before, runtime.NumGoroutine(), "nothing may start")

	assert.NoError(t, top.CheckMemory(0), "0 is no limit")
	assert.NoError(t, top.CheckMemory(est))
	top.Internet.Hosts = []Host{{Name: "h"}}
	assert.ErrorContains(t, top.CheckMemory(est), "3000 instances and 1 internet host need about")
}

// TestFlowStyleFileMemory: 2 MiB of flow-style YAML holds tens of
// thousands of instances; the estimate says what they would take before
// anything is built.
func TestFlowStyleFileMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("loads a 2 MiB file")
	}
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {cidr: 10.0.0.0/8}\nvswitches: [{name: v, cidr: 10.0.0.0/8}]\ninstances: [")
	n := 0
	for ; b.Len() < 2<<20-40; n++ {
		fmt.Fprintf(&b, "{name: v%d, vswitch: v},", n)
	}
	b.WriteString("]\n")
	top, err := Load("flow.yaml", []byte(b.String()))
	require.NoError(t, err)
	require.Len(t, top.Instances, n)
	est := top.MemoryEstimate()
	t.Logf("%d instances in %d bytes: about %s", n, b.Len(), FormatSize(est))
	assert.Greater(t, est, int64(1<<30))
	assert.ErrorContains(t, top.CheckMemory(1<<30), fmt.Sprintf("flow.yaml: %d instances need about", n))
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""}, {"4096", 4096, ""}, {"4GiB", 4 << 30, ""}, {"512MiB", 512 << 20, ""}, {"512 mib", 512 << 20, ""},
		{"1.5G", 3 << 29, ""}, {"2GB", 2e9, ""}, {"64k", 64 << 10, ""}, {"1TiB", 1 << 40, ""},
		{"", 0, "is not a size"}, {"-1GiB", 0, "is not a size"}, {"4 gigs", 0, `unknown unit "gigs"`}, {"GiB", 0, "is not a size"},
		{"99999999TiB", 0, "too large"},
	} {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, tt := range []struct {
		in   int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1 << 20, "1 MiB"}, {4939212390, "4.6 GiB"}, {12 << 30, "12 GiB"}} {
		assert.Equal(t, tt.want, FormatSize(tt.in))
	}
}

func TestDefaultMemoryBudget(t *testing.T) {
	total := memTotal()
	if total == 0 {
		t.Skip("no /proc/meminfo")
	}
	b := DefaultMemoryBudget()
	assert.Greater(t, b, int64(0))
	assert.LessOrEqual(t, b, total/2)
	if limit := cgroupLimit(); limit > 0 && limit < total {
		assert.Equal(t, limit/2, b)
	}
}
