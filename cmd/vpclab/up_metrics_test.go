package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

// scrapeUntil fetches a /metrics page, retrying until up serves it, and
// parses it as Prometheus text.
func scrapeUntil(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
			}
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Fatalf("GET %s: not Prometheus text: %v", url, err)
			}
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sample returns the value of the sample of family name with exactly the
// labels given as "k=v" (sorted by name), or -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	for _, m := range f.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") == strings.Join(labels, ",") {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func TestUpMetrics(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, closed, mport := hostPort(t), hostPort(t), hostPort(t)
	file := writeTopology(t, upTopology(open, closed))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startUp(ctx, "up", file, "--duration", "30s", "--metrics", fmt.Sprintf("127.0.0.1:%d", mport))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)

	// The probes run before up says it is up; wait for their counts.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; {
		fams = scrapeUntil(t, url)
		if sample(fams, "vpclab_probes_total", "outcome=pass", "result=allow") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The exposed ports listen before the metrics are served: no need to
	// wait (a dial here would count as one more accepted connection).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for range 2 {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", open))
		if err != nil {
			t.Fatalf("GET through the exposed port: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fams = scrapeUntil(t, url)
	listen := fmt.Sprintf("listen=127.0.0.1:%d", open)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vpclab_probes_total", []string{"outcome=pass", "result=allow"}, 1},
		{"vpclab_probes_total", []string{"outcome=pass", "result=block"}, 1},
		{"vpclab_probes_total", []string{"outcome=fail", "result=allow"}, 0},
		{"vpclab_drops_total", []string{"code=SG_DEFAULT_DENY"}, 1},
		{"vpclab_nic_drops_total", []string{"code=SG_DEFAULT_DENY", "instance=web-1"}, 1},
		// The probe of port 80 and the two GETs through the exposed port.
		{"vpclab_rule_hits_total", []string{"code=SG_RULE_ACCEPT", "description=", "direction=ingress", "group=sg-web", "rule=0"}, 3},
		{"vpclab_expose_accepted_total", []string{"instance=web-1", listen, "port=80", "protocol=tcp"}, 2},
		{"vpclab_expose_blocked_total", []string{"instance=web-1", listen, "port=80", "protocol=tcp"}, 0},
		{"vpclab_expose_accepted_total", []string{"instance=web-1", fmt.Sprintf("listen=127.0.0.1:%d", closed), "port=22", "protocol=tcp"}, 0},
	} {
		if got := sample(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
	if got := sample(fams, "vpclab_nic_frames_total", "direction=ingress", "instance=web-1"); got <= 0 {
		t.Errorf("vpclab_nic_frames_total{instance=web-1,direction=ingress} = %v, want > 0", got)
	}

	cancel()
	stdout, stderr, code := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "metrics on "+url) {
		t.Errorf("stderr does not say where the metrics are:\n%s", stderr)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mport)); err == nil {
		c.Close()
		t.Error("the metrics port still accepts after up ended")
	}
}

func TestUpMetricsErrors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := writeTopology(t, upTopology(hostPort(t), hostPort(t)))
	for _, c := range []struct {
		addr string
		code int
		want string
	}{
		{"0.0.0.0:9464", 2, "0.0.0.0 is not a loopback address; the sandbox listens on loopback only"},
		{":9464", 2, "no host means every address"},
		{"10.1.2.3:9464", 2, "10.1.2.3 is not a loopback address"},
		{"127.0.0.1", 2, "want HOST:PORT on loopback"},
		{"127.0.0.1:99999", 2, `port "99999": want 0..65535`},
		{busy.Addr().String(), 1, "address already in use"},
	} {
		_, _, code, err := runVPCLab(t, "up", file, "--duration", "1ms", "--metrics", c.addr)
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--metrics") {
			t.Errorf("up --metrics %s: exit %d, %v; want exit %d with %q", c.addr, code, err, c.code, c.want)
		}
	}
}

// TestUpMetricsCurl scrapes with curl, as a user checks the endpoint by hand.
func TestUpMetricsCurl(t *testing.T) {
	curl := requireTool(t, "curl", "curl")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	mport := hostPort(t)
	file := writeTopology(t, upTopology(hostPort(t), hostPort(t)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startUp(ctx, "up", file, "--duration", "30s", "--metrics", fmt.Sprintf("127.0.0.1:%d", mport))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if sample(scrapeUntil(t, url), "vpclab_probes_total", "outcome=pass", "result=block") == 1 || time.Now().After(deadline) {
			break
		}
	}
	out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "5", url).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("curl's page is not Prometheus text: %v", err)
	}
	if got := sample(fams, "vpclab_probes_total", "outcome=pass", "result=block"); got != 1 {
		t.Errorf("vpclab_probes_total{result=block,outcome=pass} = %v, want 1", got)
	}
	cancel()
	if stdout, stderr, code := wait(); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestUpMetricsCountControlProbes: a probe run through the control API
// (`vpclab probe`) is counted in vpclab_probes_total beside up's own.
func TestUpMetricsCountControlProbes(t *testing.T) {
	open, closed, mport := hostPort(t), hostPort(t), hostPort(t)
	file := writeTopology(t, upTopology(open, closed))
	wait, _ := runningUp(t, file, "--metrics", fmt.Sprintf("127.0.0.1:%d", mport))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	before := sample(scrapeUntil(t, url), "vpclab_probes_total", "outcome=pass", "result=block")
	if before != 1 {
		t.Fatalf("before: vpclab_probes_total{outcome=pass,result=block} = %v, want 1 (up's expect line)", before)
	}
	for range 2 {
		mustVerb(t, "probe", "--sandbox", "up-test", "--from", "client", "--to", "web-1", "--port", "22", "--expect", "block")
	}
	if out, errOut, code := vpclab("probe", "--sandbox", "up-test", "--from", "client", "--to", "web-1", "--port", "22", "--expect", "allow"); code != 1 {
		t.Fatalf("a probe whose expectation fails: exit %d, want 1\n%s%s", code, out, errOut)
	}
	fams := scrapeUntil(t, url)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"outcome=pass", "result=block"}, 3},
		{[]string{"outcome=fail", "result=block"}, 1},
		{[]string{"outcome=pass", "result=allow"}, 1},
	} {
		if got := sample(fams, "vpclab_probes_total", c.labels...); got != c.want {
			t.Errorf("vpclab_probes_total{%s} = %v, want %v", strings.Join(c.labels, ","), got, c.want)
		}
	}
	if _, stderr, code := wait(); code != 0 {
		t.Fatalf("up: exit %d\n%s", code, stderr)
	}
}
