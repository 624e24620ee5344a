package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

func init() {
	Register(Benchmark{
		Name: "conntrack",
		Doc:  "a conntrack hit (one and batches of 16) against a Go map keyed by the five-tuple, 1k to 1M flows",
		Run:  runConntrack,
	})
}

// ctBatch is the batch of LookupBatch: what a NIC hands over at once.
const ctBatch = 16

func runConntrack(ctx context.Context, opts Options) (*Result, error) {
	sizes := []int{1 << 10, 1 << 16, 1 << 20}
	budget := 300 * time.Millisecond
	if opts.Quick {
		sizes = []int{1 << 10, 1 << 16}
		budget = 30 * time.Millisecond
	}
	res := &Result{Benchmark: "conntrack"}
	if opts.Quick {
		res.Skipped = append(res.Skipped, "1M flows: quick mode")
	}
	var xs []float64
	var ys [3][]float64
	for _, n := range sizes {
		opts.progress("conntrack: %d flows", n)
		one, batch, mp, err := measureConntrack(ctx, n, budget)
		if err != nil {
			return nil, err
		}
		xs = append(xs, float64(n))
		for k, v := range [3]float64{one, batch, mp} {
			ys[k] = append(ys[k], v)
		}
		ghz := clockGHz()
		label := flowsLabel(n)
		note := ""
		switch n {
		case 1 << 16:
			note = "target: ≥ 3× the map"
		case 1 << 20:
			note = "target: ≥ 5× the map"
		}
		for _, u := range []struct {
			unit  string
			scale float64
		}{{"ns/lookup", 1}, {"cycles/lookup", ghz}} {
			res.Rows = append(res.Rows,
				Row{Measure: "conntrack hit, " + label + " flows", Unit: u.unit, Ours: one * u.scale, Better: "lower",
					Baselines: []Baseline{{Name: "go-map", Value: mp * u.scale, Ratio: Ratio(one, mp, "lower")}}},
				Row{Measure: fmt.Sprintf("conntrack hit batched ×%d, %s flows", ctBatch, label), Unit: u.unit, Ours: batch * u.scale, Better: "lower", Note: note,
					Baselines: []Baseline{{Name: "go-map", Value: mp * u.scale, Ratio: Ratio(batch, mp, "lower")}}})
		}
	}
	for k, name := range []string{"conntrack", fmt.Sprintf("conntrack-batch%d", ctBatch), "go-map"} {
		res.Series = append(res.Series, Series{
			Chart: "conntrack-ns-per-lookup", Title: "Conntrack hit against flows",
			XLabel: "flows", YLabel: "ns/lookup", Name: name, X: xs, Y: ys[k], LogX: true,
		})
	}
	return res, nil
}

func flowsLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprint(n)
}

// measureConntrack fills a table and a map with the same n established TCP
// flows and returns ns per hit: a Lookup, a lookup within a batch of
// ctBatch, and the map. Headers are read in order (as a NIC's frames come,
// from cache); the hash spreads the table accesses at random anyway. The
// map is keyed by the five-tuple as the packet carries it, one direction
// only: the easiest map to beat (the table finds either direction).
func measureConntrack(ctx context.Context, n int, budget time.Duration) (one, batch, mp float64, err error) {
	hs := make([]firewall.Header, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range hs {
		hs[i] = firewall.Header{Tuple: firewall.Tuple{Src: rng.Uint32(), Dst: rng.Uint32(),
			SrcPort: uint16(rng.Uint32()), DstPort: 443, Proto: firewall.ProtoTCP}, TCPFlags: firewall.TCPAck}
	}
	ct := firewall.NewConntrack(firewall.ConntrackConfig{MaxEntries: 2 * n, Clock: firewall.NewManualClock()})
	defer ct.Close()
	m := make(map[firewall.Tuple]uint32, n)
	for i := range hs {
		if !ct.Insert(&hs[i]) {
			return 0, 0, 0, fmt.Errorf("conntrack: insert %d of %d refused", i, n)
		}
		m[hs[i].Tuple] = 1
	}
	miss := 0
	var hit [ctBatch]bool
	ns, err := bestOf(ctx, budget, []int{1, ctBatch, 1}, func(k int) {
		for i, j := 0, 0; i < k; i++ {
			if !ct.Lookup(&hs[j]) {
				miss++
			}
			if j++; j == n {
				j = 0
			}
		}
	}, func(k int) {
		for i, j := 0, 0; i < k; i++ {
			ct.LookupBatch(hs[j:j+ctBatch], hit[:])
			for _, h := range hit {
				if !h {
					miss++
				}
			}
			if j += ctBatch; j == n {
				j = 0
			}
		}
	}, func(k int) {
		for i, j := 0, 0; i < k; i++ {
			if _, ok := m[hs[j].Tuple]; !ok {
				miss++
			}
			if j++; j == n {
				j = 0
			}
		}
	})
	if err != nil {
		return 0, 0, 0, err
	}
	one, batch, mp = ns[0], ns[1], ns[2]
	if miss != 0 {
		err = fmt.Errorf("conntrack: %d lookups of established flows missed", miss)
	}
	return
}
