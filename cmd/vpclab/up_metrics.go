package main

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

// upMetrics is up's --metrics: Prometheus metrics of the running lab on a
// loopback HTTP address. Its methods do nothing on nil or when the flag is
// not set.
type upMetrics struct {
	addr string
	m    atomic.Pointer[sandbox.Metrics] // set by start; the control API's probes read it
	srv  *sandbox.MetricsServer
}

func (u *upMetrics) addFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&u.addr, "metrics", "",
		"serve Prometheus metrics on http://ADDR/metrics; ADDR is HOST:PORT on loopback (127.0.0.1:9464), port 0 picks one")
}

// check refuses a malformed or non-loopback address before anything is
// built (exit 2).
func (u *upMetrics) check() error {
	if u == nil || u.addr == "" {
		return nil
	}
	if _, err := sandbox.ParseMetricsAddr(u.addr); err != nil {
		return &exitError{code: 2, err: err}
	}
	return nil
}

// start serves the metrics of lab and x and says where on stderr. A port
// that cannot be listened on is exit 1, as a busy exposed port is.
func (u *upMetrics) start(lab *topology.Lab, x *topology.Exposure, stderr io.Writer) error {
	if u == nil || u.addr == "" {
		return nil
	}
	m := sandbox.NewMetrics(lab, x)
	srv, err := sandbox.ServeMetrics(u.addr, m)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	u.srv = srv
	u.m.Store(m)
	fmt.Fprintf(stderr, "vpclab up: metrics on %s\n", srv.URL())
	return nil
}

// record counts probe results: up's expect lines, and the control API's
// probes (from its request goroutines).
func (u *upMetrics) record(rs ...topology.Result) {
	if u == nil {
		return
	}
	if m := u.m.Load(); m != nil {
		m.RecordProbes(rs...)
	}
}

// close stops serving; it may be called more than once.
func (u *upMetrics) close() {
	if u != nil && u.srv != nil {
		u.srv.Close()
		u.srv = nil
	}
}
