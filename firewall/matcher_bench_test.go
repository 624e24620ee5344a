package firewall

import (
	"fmt"
	"testing"
)

var benchSink int

// BenchmarkClassify measures one header per op over the first 100, 250, 500
// and all rules of every ClassBench set: over the acl1 trace for acl1, over
// seeded headers drawn around the rules for the others.
func BenchmarkClassify(b *testing.B) {
	dir := classbenchDir(b)
	trace := loadClassBenchTrace(b, dir, acl1Trace)
	for _, set := range classbenchSets {
		all := loadClassBenchRules(b, dir, set.file)
		for _, n := range []int{100, 250, 500, len(all)} {
			rules := all[:n]
			label := fmt.Sprint(n)
			if n == len(all) {
				label = "all"
			}
			headers := trace
			if set.name != "acl1" {
				headers = RandomTuples(rules, 1<<14, 1)
			}
			m, err := Compile(rules)
			if err != nil {
				b.Fatal(err)
			}
			type impl struct {
				name    string
				c       Classifier
				bsearch bool // binary searches instead of match5
				goScan  bool // and the Go word scan instead of and8
			}
			impls := []impl{{"compiled", m, false, false}, {"linear", NewLinear(rules), false, false}}
			if vectorSearch && m.kern.ok {
				// The binary searches and and8 beside match5, measured in
				// the same run.
				impls = append(impls, impl{"compiled-bsearch", m, true, false})
			}
			if vectorScan && m.nw <= scanWords {
				// The binary searches and the Go word scan.
				impls = append(impls, impl{"compiled-goscan", m, true, true})
			}
			for _, impl := range impls {
				b.Run(fmt.Sprintf("set=%s/rules=%s/impl=%s", set.name, label, impl.name), func(b *testing.B) {
					defer func(v, w bool) { vectorScan, vectorSearch = v, w }(vectorScan, vectorSearch)
					if impl.bsearch {
						vectorSearch = false
					}
					if impl.goScan {
						vectorScan = false
					}
					benchHeaders(b, impl.c, headers)
					// After the loop: b.Loop's first call resets the metrics.
					if impl.c == Classifier(m) {
						b.ReportMetric(float64(m.MemoryBytes()), "B/matcher")
					}
				})
			}
		}
	}
}

func benchHeaders(b *testing.B, c Classifier, headers []Tuple) {
	b.ReportAllocs()
	sum, i, ops, cpu := 0, 0, 0, cpuTime()
	for b.Loop() {
		sum += c.Match(&headers[i])
		if i++; i == len(headers) {
			i = 0
		}
		ops++
	}
	benchSink = sum
	reportCycles(b)
	// CPU time, which does not count the time spent waiting for a core on
	// this shared machine: the figure to compare A/B runs by.
	reportCPU(b, cpu, ops)
}

// BenchmarkCompile measures building the matcher from the first 500 rules
// of each ClassBench set.
func BenchmarkCompile(b *testing.B) {
	dir := classbenchDir(b)
	for _, set := range classbenchSets {
		rules := loadClassBenchRules(b, dir, set.file)[:500]
		b.Run(fmt.Sprintf("set=%s/rules=500", set.name), func(b *testing.B) {
			b.ReportAllocs()
			var m *Matcher
			for b.Loop() {
				var err error
				if m, err = Compile(rules); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.MemoryBytes()), "B/matcher")
		})
	}
}
