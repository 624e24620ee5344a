package sandbox

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// Metrics is the Prometheus view of a running lab, on a registry of its
// own. Everything but the probe counts is read from the data plane's own
// counters when the registry is scraped: the per-frame path pays nothing
// for it.
type Metrics struct {
	lab      *topology.Lab
	x        *topology.Exposure // nil: nothing exposed
	nics     []string           // instances, internet hosts and expose's host clients
	gateways []string
	reg      *prometheus.Registry

	probes [len(probeResults)][2]atomic.Uint64 // [result][0 pass, 1 fail]

	hits ruleHits
}

// probeResults are the values of the result label of vpclab_probes_total:
// what a probe observed.
var probeResults = [...]string{topology.Allow, topology.Block, topology.Refuse, topology.Failed}

// NewMetrics returns the metrics of lab and of x, its exposed ports (nil
// when there are none). The registry also carries the Go runtime and process
// collectors.
func NewMetrics(lab *topology.Lab, x *topology.Exposure) *Metrics {
	m := &Metrics{lab: lab, x: x, reg: prometheus.NewRegistry()}
	t := lab.Topology
	for _, in := range t.Instances {
		m.nics = append(m.nics, in.Name)
	}
	for _, h := range t.Internet.Hosts {
		m.nics = append(m.nics, h.Name)
	}
	if x != nil {
		for _, p := range x.Ports {
			if !slices.Contains(m.nics, p.Client) {
				m.nics = append(m.nics, p.Client)
			}
		}
	}
	for _, gw := range t.NATGateways {
		m.gateways = append(m.gateways, gw.Name)
	}
	m.hits.live = map[*firewall.Policy]struct{}{}
	m.hits.retired = map[ruleID]uint64{}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		(*labCollector)(m))
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats,
// uncompressed: it is read over loopback, where gzip would only cost CPU
// (about 40% of a scrape of 500 rules).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{DisableCompression: true})
}

// RecordProbes counts probe results (of up's expect lines, or of a probe
// asked for later) in vpclab_probes_total.
func (m *Metrics) RecordProbes(rs ...topology.Result) {
	for i := range rs {
		r := &rs[i]
		k := slices.Index(probeResults[:], r.Observed)
		if k < 0 {
			k = slices.Index(probeResults[:], topology.Failed)
		}
		fail := 0
		if !r.Pass {
			fail = 1
		}
		m.probes[k][fail].Add(1)
	}
}

var (
	descNICFrames = prometheus.NewDesc("vpclab_nic_frames_total",
		"Frames that crossed an instance's (or internet host's) NIC; egress: sent by it, ingress: delivered to it. A GSO super-segment counts as one frame.",
		[]string{"instance", "direction"}, nil)
	descNICBytes = prometheus.NewDesc("vpclab_nic_bytes_total",
		"IPv4 bytes that crossed an instance's (or internet host's) NIC; egress: sent by it, ingress: delivered to it.",
		[]string{"instance", "direction"}, nil)
	descNICDrops = prometheus.NewDesc("vpclab_nic_drops_total",
		"Frames dropped, by drop code, counted on the sender's NIC for egress, platform and route drops, on the receiver's for ingress drops.",
		[]string{"instance", "code"}, nil)
	descDrops = prometheus.NewDesc("vpclab_drops_total",
		"Frames dropped in the VPC, by drop code: vpclab_nic_drops_total summed over the NICs. Every drop code is listed, 0 included.",
		[]string{"code"}, nil)
	descRuleHits = prometheus.NewDesc("vpclab_rule_hits_total",
		"First packets of connections a security-group rule decided (every rule of every group, 0 included). rule is the index in the group's rule list, or \"inner\" for the group's intra-group access; code is the verdict it gives.",
		[]string{"group", "rule", "direction", "description", "code"}, nil)
	descDefaultHits = prometheus.NewDesc("vpclab_default_hits_total",
		"First packets of connections no rule matched, decided by the implicit default (SG_DEFAULT_DENY, or SG_DEFAULT_ACCEPT for egress of basic groups).",
		[]string{"direction", "code"}, nil)
	descCTEntries = prometheus.NewDesc("vpclab_conntrack_entries",
		"Connection-tracking entries held now (expired ones not yet reclaimed included).", nil, nil)
	descCTMax = prometheus.NewDesc("vpclab_conntrack_entries_max",
		"The bound of the connection-tracking table; a new connection over it is dropped (CONNTRACK_FULL).", nil, nil)
	descCTInserted = prometheus.NewDesc("vpclab_conntrack_inserted_total",
		"Connection-tracking entries created.", nil, nil)
	descCTFailed = prometheus.NewDesc("vpclab_conntrack_insert_failed_total",
		"New connections refused because the connection-tracking table was full.", nil, nil)
	descCTExpired = prometheus.NewDesc("vpclab_conntrack_expired_total",
		"Connection-tracking entries reclaimed after their timeout.", nil, nil)
	descSNATPorts = prometheus.NewDesc("vpclab_snat_ports_in_use",
		"Public ports of a NAT gateway's EIP held by live SNAT mappings (for icmp: query identifiers).",
		[]string{"gateway", "protocol"}, nil)
	descSNATExhausted = prometheus.NewDesc("vpclab_snat_exhausted_total",
		"New flows a NAT gateway refused because no public port was free.",
		[]string{"gateway", "protocol"}, nil)
	descProbes = prometheus.NewDesc("vpclab_probes_total",
		"Probes run (expect lines at start, and probes asked for later), by what they observed (allow, block, refuse, or error when the probe could not run) and whether that was the expected result.",
		[]string{"result", "outcome"}, nil)
)

// exposeDescs are the counters of an exposed port, in the order of
// exposeValues.
var exposeDescs = [...]*prometheus.Desc{
	exposeDesc("vpclab_expose_accepted_total", "Host connections an exposed port accepted, those then refused over the cap included."),
	exposeDesc("vpclab_expose_refused_over_cap_total", "Host connections an exposed port reset at once because it already carried --max-conns-per-port."),
	exposeDesc("vpclab_expose_blocked_total", "Connections through an exposed port the security groups dropped; the host connection was reset."),
	exposeDesc("vpclab_expose_dial_failed_total", "Connections through an exposed port the data plane could not make for another reason (nothing listens, or the dial timed out)."),
	exposeDesc("vpclab_expose_accept_errors_total", "Failed accepts on an exposed port's host listener (EMFILE, for instance)."),
	exposeDesc("vpclab_expose_idle_closed_total", "Connections through an exposed port closed because nothing moved either way for --idle-timeout."),
	exposeDesc("vpclab_expose_datagrams_in_total", "UDP: datagrams from host clients sent into the VPC through an exposed port."),
	exposeDesc("vpclab_expose_datagrams_out_total", "UDP: datagrams from the instance passed on to host clients."),
	exposeDesc("vpclab_expose_datagrams_blocked_total", "UDP: host clients' datagrams the security groups dropped."),
	exposeDesc("vpclab_expose_datagrams_refused_total", "UDP: datagrams the instance answered with ICMP port unreachable (nothing listens)."),
	exposeDesc("vpclab_expose_datagrams_over_cap_total", "UDP: datagrams of a new client dropped because the port carried --max-conns-per-port flows."),
	exposeDesc("vpclab_expose_active_connections", "Host connections (UDP: client flows) an exposed port is dialling or forwarding now."),
}

func exposeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"listen", "protocol", "instance", "port"}, nil)
}

func exposeValues(c topology.ExposeCounters) [len(exposeDescs)]float64 {
	return [...]float64{float64(c.Accepted), float64(c.RefusedOverCap), float64(c.BlockedByGroups),
		float64(c.DialFailed), float64(c.AcceptErrors), float64(c.IdleClosed), float64(c.DatagramsIn),
		float64(c.DatagramsOut), float64(c.DatagramsBlocked), float64(c.DatagramsRefused), float64(c.DatagramsOverCap),
		float64(c.Active)}
}

// labCollector collects Metrics; a separate type keeps Describe and Collect
// out of Metrics' API.
type labCollector Metrics

// Describe sends every descriptor the collector uses.
func (c *labCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNICFrames, descNICBytes, descNICDrops, descDrops, descRuleHits,
		descDefaultHits, descCTEntries, descCTMax, descCTInserted, descCTFailed, descCTExpired, descSNATPorts,
		descSNATExhausted, descProbes} {
		ch <- d
	}
	for _, d := range exposeDescs {
		ch <- d
	}
}

// Collect reads the data plane's counters.
func (c *labCollector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	vpc := m.lab.VPC
	drops := map[string]uint64{}
	for _, code := range firewall.Codes() {
		if !code.Allows() {
			drops[code.String()] = 0
		}
	}
	for _, name := range m.nics {
		st, ok := vpc.NICStats(name)
		if !ok {
			continue
		}
		counter(ch, descNICFrames, st.TxFrames, name, "egress")
		counter(ch, descNICFrames, st.RxFrames, name, "ingress")
		counter(ch, descNICBytes, st.TxBytes, name, "egress")
		counter(ch, descNICBytes, st.RxBytes, name, "ingress")
		for code, n := range st.Drops {
			counter(ch, descNICDrops, n, name, code)
			drops[code] += n
		}
	}
	for code, n := range drops {
		counter(ch, descDrops, n, code)
	}

	m.hits.collect(ch, vpc.Firewall(), m.nics)

	ct := vpc.Firewall().Conntrack().Stats()
	constMetric(ch, descCTEntries, prometheus.GaugeValue, float64(ct.Entries))
	constMetric(ch, descCTMax, prometheus.GaugeValue, float64(ct.Max))
	counter(ch, descCTInserted, ct.Inserted)
	counter(ch, descCTFailed, ct.Refused)
	counter(ch, descCTExpired, ct.Expired)

	for _, gw := range m.gateways {
		st, ok := vpc.NATStats(gw)
		if !ok {
			continue
		}
		for proto, n := range st.Mappings {
			constMetric(ch, descSNATPorts, prometheus.GaugeValue, float64(n), gw, proto)
		}
		for proto, n := range st.Exhausted {
			counter(ch, descSNATExhausted, n, gw, proto)
		}
	}

	for i, res := range probeResults {
		counter(ch, descProbes, m.probes[i][0].Load(), res, "pass")
		counter(ch, descProbes, m.probes[i][1].Load(), res, "fail")
	}

	if m.x != nil {
		for _, p := range m.x.Stats().Ports {
			v := exposeValues(p.ExposeCounters)
			labels := []string{p.Listen.String(), p.Protocol, p.Instance, strconv.Itoa(p.Port)}
			for i, d := range exposeDescs {
				typ := prometheus.CounterValue
				if i == len(exposeDescs)-1 {
					typ = prometheus.GaugeValue
				}
				constMetric(ch, d, typ, v[i], labels...)
			}
		}
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, n uint64, labels ...string) {
	constMetric(ch, d, prometheus.CounterValue, float64(n), labels...)
}

// constMetric sends one sample. Label values come from names and rule
// descriptions; one that is not valid UTF-8 (a Go caller's rule, say) has
// its bad bytes replaced, so it can neither panic the scrape nor fail it.
func constMetric(ch chan<- prometheus.Metric, d *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	for i, l := range labels {
		if !utf8.ValidString(l) {
			labels[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
	}
	m, err := prometheus.NewConstMetric(d, typ, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

// ruleHits turns the hit counters of the NICs' compiled policies into one
// counter per rule. A policy is shared by the NICs with the same groups and
// replaced (its counters starting at 0) when a rule or membership it depends
// on changes; so that a rule's counter never goes down, the counts of a
// replaced policy are kept, by rule, when a scrape first finds it gone. Hits
// on a policy that lived and died between two scrapes are not seen.
type ruleHits struct {
	mu      sync.Mutex
	live    map[*firewall.Policy]struct{} // policies in use at the last scrape
	retired map[ruleID]uint64             // hits of the policies replaced since
}

// ruleID names what a policy entry counts, independently of the policy and
// of the rule's position (which moves when an earlier rule is revoked).
type ruleID struct {
	group    string
	dir      firewall.Direction
	code     firewall.Code
	rule     firewall.Rule
	inner    bool // the group's intra-group entry
	fallback bool // the policy's implicit default
}

func (h *ruleHits) collect(ch chan<- prometheus.Metric, fw *firewall.Firewall, nics []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := map[*firewall.Policy]struct{}{}
	for _, name := range nics {
		if nic, ok := fw.NIC(name); ok {
			if np := nic.Policy(); np != nil {
				cur[np.Ingress], cur[np.Egress] = struct{}{}, struct{}{}
			}
		}
	}
	for p := range h.live {
		if _, ok := cur[p]; !ok {
			addHits(h.retired, p)
			delete(h.live, p)
		}
	}
	total := make(map[ruleID]uint64, len(h.retired))
	for id, n := range h.retired {
		total[id] = n
	}
	for p := range cur {
		h.live[p] = struct{}{}
		addHits(total, p)
	}

	for _, name := range fw.Groups() {
		g, ok := fw.Group(name)
		if !ok {
			continue
		}
		for i, r := range g.Rules {
			code := firewall.SGRuleAccept
			if r.Policy == firewall.Drop {
				code = firewall.SGRuleDrop
			}
			id := ruleID{group: name, dir: r.Direction, code: code, rule: r}
			counter(ch, descRuleHits, total[id], name, strconv.Itoa(i), r.Direction.String(), r.Description, code.String())
		}
		for _, dir := range []firewall.Direction{firewall.Ingress, firewall.Egress} {
			for _, code := range []firewall.Code{firewall.SGInnerAccept, firewall.SGInnerDrop} {
				if n, ok := total[ruleID{group: name, dir: dir, code: code, inner: true}]; ok {
					counter(ch, descRuleHits, n, name, "inner", dir.String(), "", code.String())
				}
			}
		}
	}
	for id, n := range total {
		if id.fallback {
			counter(ch, descDefaultHits, n, id.dir.String(), id.code.String())
		}
	}
}

// addHits adds the hit counters of p's entries to sums.
func addHits(sums map[ruleID]uint64, p *firewall.Policy) {
	hits := p.Hits()
	for i, e := range p.Entries {
		id := ruleID{group: e.Group, dir: p.Dir, code: e.Code}
		if e.Rule < 0 {
			id.inner = true
		} else {
			id.rule = e.R
		}
		sums[id] += hits[i]
	}
	sums[ruleID{dir: p.Dir, code: p.Fallback, fallback: true}] += hits[len(p.Entries)]
}
