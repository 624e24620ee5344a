package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpclab/vpclab/netstack"
)

func init() {
	Register(Benchmark{
		Name: "connrate",
		Doc:  "TCP connections/s (connect, GET, answer, close) through the VPC with a 500-rule policy, against two stacks wired directly and gVisor iptables",
		Run:  runConnrate,
	})
}

// connClients is how many clients connect at once: enough to keep both
// stacks busy on a small machine without running the client out of
// ephemeral ports within TIME-WAIT.
const connClients = 8

var getRequest = []byte("GET / HTTP/1.1\r\nHost: srv\r\n\r\n")

// connect makes one connection to the http service with one request:
// connect, GET, read the answer to its end, close.
func connect(ctx context.Context, cli *netstack.Instance, to netip.AddrPort) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := cli.Dial(dctx, "tcp", to)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(getRequest); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
		return fmt.Errorf("answer %q", b)
	}
	return nil
}

// connRate runs connClients clients for d and returns connections/s.
func (p *benchPair) connRate(ctx context.Context, d time.Duration) (float64, error) {
	to := netip.AddrPortFrom(p.srv.Addr(), benchPort)
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for range connClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d && ctx.Err() == nil {
				if err := connect(ctx, p.cli, to); err != nil {
					once.Do(func() { first = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if first != nil {
		return 0, fmt.Errorf("%s: %w", p.path, first)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(n.Load()) / el.Seconds(), nil
}

func runConnrate(ctx context.Context, opts Options) (*Result, error) {
	d, n := 2*time.Second, 3
	if opts.Quick {
		d, n = 300*time.Millisecond, 1
	}
	res := &Result{Benchmark: "connrate"}
	err := withPairs(func(pairs []*benchPair) error {
		for _, p := range pairs {
			if err := p.srv.Serve(netstack.ServiceSpec{Kind: netstack.ServiceHTTP, Port: benchPort}); err != nil {
				return fmt.Errorf("%s: %w", p.path, err)
			}
		}
		best, err := rounds(ctx, pairs, n, func(p *benchPair) (float64, error) {
			opts.progress("connrate: %s", p.path)
			v, err := p.connRate(ctx, d)
			// Let the last connections' TIME-WAIT (1 s) pass before the
			// next path, so that one path's leftovers do not slow another.
			return v, errors.Join(err, sleepCtx(ctx, netstack.TCPTimeWait+100*time.Millisecond))
		})
		if err != nil {
			return err
		}
		res.Rows = append(res.Rows, pathRow(fmt.Sprintf("TCP connections, %d clients, 500-rule policy on both NICs", connClients), "conns/s", best,
			fmt.Sprintf("connect, GET, answer, close; best of %d × %v; target ≥ 80%% of direct-wired (ratio ≥ 0.8)", n, d)))
		res.Series = append(res.Series, pathSeries("connrate", "TCP connections/s per path", "conns/s", best)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
