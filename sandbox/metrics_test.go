package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// metricsTopology has a rule that allows (port 80), one that drops (8080),
// one that never matches (22 from one address), and probes of each: three
// allowed, one dropped by the rule, one by the default deny.
const metricsTopology = `version: 1
name: metrics
vpc: {cidr: 10.0.0.0/16}
vswitches:
  - {name: main, cidr: 10.0.1.0/24}
security_groups:
  - name: sg-client
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.0.0.0/16, description: "web from the vpc"}
      - {direction: ingress, protocol: tcp, port_range: 8080/8080, source: 10.0.0.0/16, policy: drop, description: "no admin port"}
      - {direction: ingress, protocol: tcp, port_range: 22/22, source: 192.0.2.7/32, description: "ssh from the bastion"}
  - name: sg-unused
    rules:
      - {direction: egress, protocol: udp, port_range: 53/53, destination: 0.0.0.0/0, description: "dns"}
instances:
  - {name: client, vswitch: main, ip: 10.0.1.10, security_groups: [sg-client]}
  - {name: web, vswitch: main, ip: 10.0.1.20, security_groups: [sg-web], services: [{kind: http, port: 80}, {kind: http, port: 8080}, {kind: http, port: 443}]}
expect:
  - {from: client, to: web, port: 80, result: allow}
  - {from: client, to: web, port: 80, result: allow}
  - {from: client, to: web, port: 80, result: allow}
  - {from: client, to: web, port: 8080, result: block}
  - {from: client, to: web, port: 443, result: allow}
`

// newMetricsLab builds metricsTopology with metrics served on loopback.
func newMetricsLab(t *testing.T) (*topology.Lab, *Metrics, *MetricsServer) {
	t.Helper()
	topo, err := topology.Load("metrics.yaml", []byte(metricsTopology))
	if err != nil {
		t.Fatal(err)
	}
	lab, err := topology.Build(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	m := NewMetrics(lab, nil)
	srv, err := ServeMetrics("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return lab, m, srv
}

// scrape fetches url over HTTP and parses it as Prometheus text.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the Prometheus text format", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not Prometheus text: %v", url, err)
	}
	return fams
}

// value returns the value of the one sample of family name whose labels are
// exactly labels ("k=v" pairs), or fails.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
	if f.GetHelp() == "" {
		t.Errorf("%s has no HELP", name)
	}
	want := strings.Join(labels, ",")
	var seen []string
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != want {
			seen = append(seen, strings.Join(got, ","))
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		t.Fatalf("%s{%s}: neither a counter nor a gauge", name, want)
	}
	t.Fatalf("%s{%s}: no such sample; have:\n%s", name, want, strings.Join(seen, "\n"))
	return 0
}

func TestMetricsCountProbesExactly(t *testing.T) {
	lab, m, srv := newMetricsLab(t)

	before := scrape(t, srv.URL())
	for _, labels := range [][]string{
		{"code=SG_RULE_ACCEPT", "description=web from the vpc", "direction=ingress", "group=sg-web", "rule=0"},
		{"code=SG_RULE_DROP", "description=no admin port", "direction=ingress", "group=sg-web", "rule=1"},
		{"code=SG_RULE_ACCEPT", "description=ssh from the bastion", "direction=ingress", "group=sg-web", "rule=2"},
	} {
		if v := value(t, before, "vpclab_rule_hits_total", labels...); v != 0 {
			t.Errorf("before any probe: vpclab_rule_hits_total{%s} = %v, want 0", strings.Join(labels, ","), v)
		}
	}

	res := lab.Run(context.Background(), topology.RunOptions{Timeout: 2 * time.Second})
	m.RecordProbes(res...)
	for _, r := range res {
		t.Logf("%s: %s %s", r.Label(), r.Observed, r.Detail)
	}
	fams := scrape(t, srv.URL())

	// Probes: 3 allowed as expected, 1 blocked as expected, the probe of
	// 443 blocked (default deny) where allow was expected.
	for _, c := range []struct {
		result, outcome string
		want            float64
	}{
		{"allow", "pass", 3}, {"allow", "fail", 0},
		{"block", "pass", 1}, {"block", "fail", 1},
		{"refuse", "pass", 0}, {"refuse", "fail", 0},
		{"error", "pass", 0}, {"error", "fail", 0},
	} {
		if got := value(t, fams, "vpclab_probes_total", "outcome="+c.outcome, "result="+c.result); got != c.want {
			t.Errorf("vpclab_probes_total{result=%s,outcome=%s} = %v, want %v", c.result, c.outcome, got, c.want)
		}
	}

	// Drops: the SYN of each blocked probe, once, on web's NIC (ingress).
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vpclab_drops_total", []string{"code=SG_RULE_DROP"}, 1},
		{"vpclab_drops_total", []string{"code=SG_DEFAULT_DENY"}, 1},
		{"vpclab_drops_total", []string{"code=SG_INNER_DROP"}, 0},
		{"vpclab_drops_total", []string{"code=CONNTRACK_FULL"}, 0},
		{"vpclab_nic_drops_total", []string{"code=SG_RULE_DROP", "instance=web"}, 1},
		{"vpclab_nic_drops_total", []string{"code=SG_DEFAULT_DENY", "instance=web"}, 1},

		// Rule hits: the first packet of each connection.
		{"vpclab_rule_hits_total", []string{"code=SG_RULE_ACCEPT", "description=web from the vpc", "direction=ingress", "group=sg-web", "rule=0"}, 3},
		{"vpclab_rule_hits_total", []string{"code=SG_RULE_DROP", "description=no admin port", "direction=ingress", "group=sg-web", "rule=1"}, 1},
		{"vpclab_rule_hits_total", []string{"code=SG_RULE_ACCEPT", "description=ssh from the bastion", "direction=ingress", "group=sg-web", "rule=2"}, 0},
		{"vpclab_rule_hits_total", []string{"code=SG_RULE_ACCEPT", "description=dns", "direction=egress", "group=sg-unused", "rule=0"}, 0},
		{"vpclab_default_hits_total", []string{"code=SG_DEFAULT_DENY", "direction=ingress"}, 1},
		{"vpclab_default_hits_total", []string{"code=SG_DEFAULT_ACCEPT", "direction=egress"}, 5},

		// Conntrack: one entry per allowed connection.
		{"vpclab_conntrack_inserted_total", nil, 3},
		{"vpclab_conntrack_insert_failed_total", nil, 0},
		{"vpclab_conntrack_entries_max", nil, 1000000},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}

	// Frames and bytes: what the data plane counted, per direction. The
	// probes' connections close asynchronously (a last ACK may still be on
	// its way), so compare a scrape taken while the counters stood still:
	// the same before and after it.
	for range 100 {
		before := nicStats(lab, "client", "web")
		fams = scrape(t, srv.URL())
		if reflect.DeepEqual(before, nicStats(lab, "client", "web")) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, nic := range []string{"client", "web"} {
		st, _ := lab.VPC.NICStats(nic)
		for _, c := range []struct {
			name, dir string
			want      uint64
		}{
			{"vpclab_nic_frames_total", "egress", st.TxFrames},
			{"vpclab_nic_frames_total", "ingress", st.RxFrames},
			{"vpclab_nic_bytes_total", "egress", st.TxBytes},
			{"vpclab_nic_bytes_total", "ingress", st.RxBytes},
		} {
			got := value(t, fams, c.name, "direction="+c.dir, "instance="+nic)
			if c.want == 0 || got != float64(c.want) {
				t.Errorf("%s{instance=%s,direction=%s} = %v, want %d (and not 0)", c.name, nic, c.dir, got, c.want)
			}
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines: the Go collector is not registered")
	}
}

func TestMetricsRuleHitsSurviveRecompile(t *testing.T) {
	lab, _, srv := newMetricsLab(t)
	ctx := context.Background()
	web80 := []topology.Expect{{From: "client", To: "web", Protocol: "tcp", Port: 80, Result: topology.Allow}}
	for range 2 {
		if r := lab.RunExpects(ctx, web80, topology.RunOptions{}); !r[0].Pass {
			t.Fatalf("probe: %s %s", r[0].Observed, r[0].Detail)
		}
	}
	hits := func() float64 {
		return value(t, scrape(t, srv.URL()), "vpclab_rule_hits_total", "code=SG_RULE_ACCEPT",
			"description=web from the vpc", "direction=ingress", "group=sg-web", "rule=0")
	}
	if got := hits(); got != 2 {
		t.Fatalf("after 2 probes: %v hits, want 2", got)
	}
	// Revoking rule 2 recompiles web's policy: its counters restart at 0,
	// the metric must not.
	fw := lab.VPC.Firewall()
	g, _ := fw.Group("sg-web")
	if err := fw.RevokeRules("sg-web", "user", g.Rules[2]); err != nil {
		t.Fatal(err)
	}
	if got := hits(); got != 2 {
		t.Errorf("after a recompile: %v hits, want still 2", got)
	}
	if r := lab.RunExpects(ctx, web80, topology.RunOptions{}); !r[0].Pass {
		t.Fatalf("probe: %s %s", r[0].Observed, r[0].Detail)
	}
	fams := scrape(t, srv.URL())
	if got := value(t, fams, "vpclab_rule_hits_total", "code=SG_RULE_ACCEPT",
		"description=web from the vpc", "direction=ingress", "group=sg-web", "rule=0"); got != 3 {
		t.Errorf("after a third probe: %v hits, want 3", got)
	}
	for _, m := range fams["vpclab_rule_hits_total"].Metric {
		for _, l := range m.Label {
			if l.GetValue() == "ssh from the bastion" {
				t.Errorf("the revoked rule is still listed: %v", m)
			}
		}
	}
}

func TestParseMetricsAddr(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: "127.0.0.1:9464", want: "127.0.0.1:9464"},
		{in: "127.0.0.2:0", want: "127.0.0.2:0"},
		{in: "[::1]:9464", want: "[::1]:9464"},
		{in: "localhost:9464", want: "127.0.0.1:9464"},
		{in: "[::ffff:127.0.0.1]:1", want: "127.0.0.1:1"},
		{in: ":9464", err: "no host means every address"},
		{in: "0.0.0.0:9464", err: "0.0.0.0 is not a loopback address"},
		{in: "[::]:9464", err: ":: is not a loopback address"},
		{in: "192.168.1.5:9464", err: "192.168.1.5 is not a loopback address"},
		{in: "example.com:9464", err: `host "example.com": want a loopback address`},
		{in: "127.0.0.1", err: "want HOST:PORT on loopback"},
		{in: "127.0.0.1:http", err: `port "http": want 0..65535`},
		{in: "127.0.0.1:70000", err: `port "70000": want 0..65535`},
		{in: "[fe80::1%lo]:1", err: "not a loopback address"},
	} {
		got, err := ParseMetricsAddr(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "--metrics") {
				t.Errorf("ParseMetricsAddr(%q) = %v, %v; want an error naming --metrics and %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("ParseMetricsAddr(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestServeMetricsRefusesNonLoopback(t *testing.T) {
	_, m, _ := newMetricsLab(t)
	if srv, err := ServeMetrics("0.0.0.0:0", m); err == nil {
		srv.Close()
		t.Fatal("ServeMetrics listened on 0.0.0.0")
	}
}

func TestMetricsServerOnlyServesMetrics(t *testing.T) {
	_, _, srv := newMetricsLab(t)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, c2 := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusNotFound},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(c2.method, fmt.Sprintf("http://%s%s", srv.Addr(), c2.path), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c2.want {
			t.Errorf("%s %s: %d, want %d", c2.method, c2.path, resp.StatusCode, c2.want)
		}
	}
}

func TestMetricsSurviveBadLabelValues(t *testing.T) {
	lab, _, srv := newMetricsLab(t)
	r := firewall.Rule{Direction: firewall.Ingress, Policy: firewall.Accept, Priority: 1, Protocol: "tcp",
		Ports: firewall.Ports{Start: 9000, End: 9000}, Remote: netip.MustParsePrefix("10.0.0.0/16"),
		Description: "bad \xff bytes"}
	if err := lab.VPC.Firewall().AuthorizeRules("sg-web", "user", r); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, srv.URL())
	if got := value(t, fams, "vpclab_rule_hits_total", "code=SG_RULE_ACCEPT", "description=bad \uFFFD bytes",
		"direction=ingress", "group=sg-web", "rule=3"); got != 0 {
		t.Errorf("the new rule has %v hits, want 0", got)
	}
}

func TestMetricsSNATAndConntrack(t *testing.T) {
	topo, err := topology.LoadFile("../examples/snat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := topology.Build(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	m := NewMetrics(lab, nil)
	res := lab.Run(context.Background(), topology.RunOptions{Timeout: 2 * time.Second})
	m.RecordProbes(res...)
	for _, r := range res {
		if !r.Pass {
			t.Fatalf("%s: %s %s", r.Label(), r.Observed, r.Detail)
		}
	}
	srv, err := ServeMetrics("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fams := scrape(t, srv.URL())
	ct := lab.VPC.Firewall().Conntrack().Stats()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		// app-1 and app-2 to mirror:80, app-1 to mirror:7/udp, app-2's
		// ping: each flow holds a public port of the gateway's EIP.
		{"vpclab_snat_ports_in_use", []string{"gateway=nat-1", "protocol=tcp"}, 2},
		{"vpclab_snat_ports_in_use", []string{"gateway=nat-1", "protocol=udp"}, 1},
		{"vpclab_snat_ports_in_use", []string{"gateway=nat-1", "protocol=icmp"}, 1},
		{"vpclab_snat_exhausted_total", []string{"gateway=nat-1", "protocol=tcp"}, 0},
		{"vpclab_probes_total", []string{"outcome=pass", "result=allow"}, 5},
		{"vpclab_probes_total", []string{"outcome=pass", "result=block"}, 2},
		{"vpclab_nic_drops_total", []string{"code=NO_ROUTE_TO_INTERNET", "instance=lonely"}, 1},
		{"vpclab_conntrack_entries", nil, float64(ct.Entries)},
		{"vpclab_conntrack_inserted_total", nil, float64(ct.Inserted)},
		{"vpclab_conntrack_expired_total", nil, float64(ct.Expired)},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
	if ct.Inserted < 5 || ct.Entries == 0 {
		t.Errorf("conntrack %+v: want an entry per allowed flow", ct)
	}
}

// nicStats reads the data plane's counters of the NICs named.
func nicStats(lab *topology.Lab, nics ...string) []netstack.NICStats {
	out := make([]netstack.NICStats, len(nics))
	for i, n := range nics {
		out[i], _ = lab.VPC.NICStats(n)
	}
	return out
}
