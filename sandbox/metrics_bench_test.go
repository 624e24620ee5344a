package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// Metrics must cost the data plane nothing it can measure: a bulk TCP
// stream between two instances whose NICs each carry five groups of 100
// rules, with the metrics off, then with a Prometheus scrape over HTTP every
// 100 ms during the run. Compare the two in one run:
//
//	go test -run '^$' -bench BulkTCPMetrics -benchtime 3s -count 10 ./sandbox/ | tee /tmp/m.txt
//	benchstat -col /metrics /tmp/m.txt

// bulkTopology has instances cli and srv, each in groups g0..g4 of 100
// ingress rules; rule 0 of g0 opens port 5001.
func bulkTopology() string {
	var b strings.Builder
	b.WriteString("version: 1\nname: metrics-bench\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: main, cidr: 10.0.1.0/24}]\nsecurity_groups:\n")
	for g := range 5 {
		fmt.Fprintf(&b, "  - name: g%d\n    rules:\n", g)
		for r := range 100 {
			port := 10000 + 100*g + r
			if g == 0 && r == 0 {
				port = 5001
			}
			fmt.Fprintf(&b, "      - {direction: ingress, protocol: tcp, port_range: %d/%d, source: 10.0.0.0/16, description: \"rule %d of g%d\"}\n", port, port, r, g)
		}
	}
	b.WriteString("instances:\n")
	b.WriteString("  - {name: cli, vswitch: main, ip: 10.0.1.10, security_groups: [g0, g1, g2, g3, g4]}\n")
	b.WriteString("  - {name: srv, vswitch: main, ip: 10.0.1.20, security_groups: [g0, g1, g2, g3, g4]}\n")
	return b.String()
}

func BenchmarkBulkTCPMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("rules=500/metrics=%s", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			benchBulkMetrics(b, on)
		})
	}
}

func benchBulkMetrics(b *testing.B, metricsOn bool) {
	topo, err := topology.Load("bench.yaml", []byte(bulkTopology()))
	if err != nil {
		b.Fatal(err)
	}
	lab, err := topology.Build(topo)
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	scrapes, stopScrapes := 0, func() {}
	if metricsOn {
		ms, err := ServeMetrics("127.0.0.1:0", NewMetrics(lab, nil))
		if err != nil {
			b.Fatal(err)
		}
		defer ms.Close()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				resp, err := c.Get(ms.URL())
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				scrapes++
			}
		})
		stopScrapes = sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopScrapes()
	}

	benchBulk(b, lab, stopScrapes)
	if metricsOn {
		b.ReportMetric(float64(scrapes)/b.Elapsed().Seconds(), "scrapes/s")
	}
}

// scaleTopology has n instances in one group of 100 rules.
func scaleTopology(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nname: metrics-scale\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: main, cidr: 10.0.0.0/16}]\nsecurity_groups:\n  - name: g0\n    rules:\n")
	for r := range 100 {
		fmt.Fprintf(&b, "      - {direction: ingress, protocol: tcp, port_range: %d/%d, source: 10.0.0.0/16}\n", 10000+r, 10000+r)
	}
	b.WriteString("instances:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: i%d, vswitch: main, security_groups: [g0]}\n", i)
	}
	return b.String()
}

// BenchmarkMetricsScrape measures one scrape: the collector's reads, the Go
// and process collectors and the text encoding, with 2 NICs of 500 rules
// (bulkTopology) and with 1,000 NICs sharing 100 rules.
func BenchmarkMetricsScrape(b *testing.B) {
	for _, c := range []struct{ name, topo string }{
		{"instances=2/rules=500", bulkTopology()},
		{"instances=1000/rules=100", scaleTopology(1000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			topo, err := topology.Load("bench.yaml", []byte(c.topo))
			if err != nil {
				b.Fatal(err)
			}
			lab, err := topology.Build(topo)
			if err != nil {
				b.Fatal(err)
			}
			defer lab.Close()
			h := NewMetrics(lab, nil).Handler()
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
			b.ReportAllocs()
			size := 0
			cpu := cpuTime()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				size = w.Body.Len()
			}
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
