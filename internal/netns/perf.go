package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BenchPort is the server port of ConnRate and Bulk.
const BenchPort = 5001

var benchPrefix = netip.MustParsePrefix("10.0.0.0/16")

// PairTables are the iptables-restore filter tables of the two namespaces
// ConnRate and Bulk connect: the client's and the server's policy (a table
// left empty is no filtering). The bench suite passes its fabric
// benchmark's policy translated by Policy.Table, so that both sides of a
// comparison filter with the same rules.
type PairTables struct {
	Client, Server string
}

// kernelMemory is the kernel's memory that namespaces take: slab, per-CPU
// and page tables, from /proc/meminfo, in bytes.
func kernelMemory() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Slab:", "Percpu:", "PageTables:", "KernelStack:":
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total, s.Err()
}

// Boot creates n namespaces on one bridge, each with its veth, address and
// a default security group as iptables, and returns the time and kernel
// memory per namespace (the namespaces run no process: a lab that starts
// one per node adds its RSS). Everything is removed before it returns.
func Boot(ctx context.Context, n int) (perInstance time.Duration, perInstanceBytes int64, err error) {
	before, err := kernelMemory()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	lab, err := New(benchPrefix)
	if err != nil {
		return 0, 0, err
	}
	defer lab.Close()
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(1 + i%250)})
	}
	nodes, err := lab.AddNodes(addrs)
	if err != nil {
		return 0, 0, err
	}
	table := defaultTable
	for _, node := range nodes {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if err := lab.SetRules(node, table); err != nil {
			return 0, 0, err
		}
	}
	elapsed := time.Since(start)
	after, err := kernelMemory()
	if err != nil {
		return 0, 0, err
	}
	return elapsed / time.Duration(n), max(after-before, 0) / int64(n), nil
}

// defaultTable is the default group as iptables (its intra-group accept
// left out: it would list every member in every namespace).
const defaultTable = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
	"-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n" +
	"-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp --dport 3389 -j ACCEPT\n-A INPUT -p icmp -j ACCEPT\nCOMMIT\n"

// pair builds a client and a server namespace on a bridge, each filtering
// with its table of tables, and starts kind on BenchPort.
func pair(tables PairTables, kind string) (*Lab, Node, Node, error) {
	lab, err := New(benchPrefix)
	if err != nil {
		return nil, Node{}, Node{}, err
	}
	nodes, err := lab.AddNodes([]netip.Addr{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2")})
	for i, table := range []string{tables.Client, tables.Server} {
		if err == nil && table != "" {
			err = lab.SetRules(nodes[i], table)
		}
	}
	if err == nil {
		// Connection churn leaves the client's ports in TIME_WAIT.
		err = run(nil, "ip", "netns", "exec", nodes[0].NS, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000")
	}
	if err == nil {
		err = lab.Serve(nodes[1], kind, "tcp", BenchPort, "")
	}
	if err != nil {
		lab.Close()
		return nil, Node{}, Node{}, err
	}
	return lab, nodes[0], nodes[1], nil
}

// ConnRate measures TCP connections per second (connect, then close) from
// one namespace to another through the bridge, both filtering with tables,
// for d, with workers connecting in parallel.
func ConnRate(ctx context.Context, tables PairTables, d time.Duration, workers int) (float64, error) {
	lab, client, server, err := pair(tables, "sink")
	if err != nil {
		return 0, err
	}
	defer lab.Close()
	to := netip.AddrPortFrom(server.Addr, BenchPort).String()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				var c net.Conn
				err := inNS(client.NS, func() error {
					var e error
					c, e = net.DialTimeout("tcp4", to, time.Second)
					return e
				})
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { first = err })
						cancel()
					}
					return
				}
				c.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	if n.Load() == 0 {
		// A dial outlasting d fails after ctx ends, so it is no error
		// above: a run that connected nothing is one.
		return 0, fmt.Errorf("no connection to %s within %v", to, d)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// Bulk measures one TCP connection's throughput in bits per second from
// one namespace to another through the bridge, both filtering with tables,
// for d.
func Bulk(ctx context.Context, tables PairTables, d time.Duration) (float64, error) {
	lab, client, server, err := pair(tables, "sink")
	if err != nil {
		return 0, err
	}
	defer lab.Close()
	var c net.Conn
	if err := inNS(client.NS, func() error {
		var e error
		c, e = net.DialTimeout("tcp4", netip.AddrPortFrom(server.Addr, BenchPort).String(), time.Second)
		return e
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	var sent int64
	start := time.Now()
	end := start.Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		c.SetWriteDeadline(end)
		k, err := c.Write(buf)
		sent += int64(k)
		if err != nil {
			break
		}
	}
	return float64(sent) * 8 / time.Since(start).Seconds(), nil
}
