package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Lab is a set of namespaces on one bridge. Its zero value is not usable:
// call New, and Close when done.
type Lab struct {
	name   string // vlns-PID-N
	bridge string // the bridge's namespace
	prefix netip.Prefix

	mu       sync.Mutex
	nodes    []string // instance namespaces, in creation order
	closers  []func() // listeners of services
	wg       sync.WaitGroup
	closed   bool
	removeMu sync.Once
}

var labSeq atomic.Int64

// New creates an empty lab whose instances share prefix (the VPC's CIDR:
// every vswitch of a VPC routes to every other, so one L2 segment with the
// VPC prefix is the same reachability). It first sweeps leftovers of dead
// processes.
func New(prefix netip.Prefix) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := Sweep(); err != nil {
		return nil, err
	}
	l := &Lab{name: fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), labSeq.Add(1)), prefix: prefix}
	l.bridge = l.name + "-br"
	track(l)
	if err := run(nil, "ip", "netns", "add", l.bridge); err != nil {
		l.Close()
		return nil, err
	}
	if err := run(strings.NewReader("link add br0 type bridge\nlink set br0 up\nlink set lo up\n"),
		"ip", "-n", l.bridge, "-batch", "-"); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Node is the namespace of an instance: its name and address.
type Node struct {
	NS   string
	Addr netip.Addr
}

// AddNodes creates one namespace per address, each with eth0 on a veth
// into the bridge, the address, and lo up: two ip runs for the lot plus
// one per node.
func (l *Lab) AddNodes(addrs []netip.Addr) ([]Node, error) {
	l.mu.Lock()
	base := len(l.nodes)
	nodes := make([]Node, len(addrs))
	for i, a := range addrs {
		nodes[i] = Node{NS: fmt.Sprintf("%s-%d", l.name, base+i), Addr: a}
		l.nodes = append(l.nodes, nodes[i].NS)
	}
	l.mu.Unlock()
	var add, links strings.Builder
	for i, n := range nodes {
		fmt.Fprintf(&add, "netns add %s\n", n.NS)
		fmt.Fprintf(&links, "link add v%d type veth peer name eth0 netns %s\nlink set v%d master br0 up\n", base+i, n.NS, base+i)
	}
	if err := run(strings.NewReader(add.String()), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	if err := run(strings.NewReader(links.String()), "ip", "-n", l.bridge, "-batch", "-"); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		cmds := fmt.Sprintf("addr add %s/%d dev eth0\nlink set eth0 up\nlink set lo up\n", n.Addr, l.prefix.Bits())
		if err := run(strings.NewReader(cmds), "ip", "-n", n.NS, "-batch", "-"); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// SetRules loads an iptables-restore filter table into a node's namespace.
func (l *Lab) SetRules(n Node, table string) error {
	if err := run(strings.NewReader(table), "ip", "netns", "exec", n.NS, "iptables-restore"); err != nil {
		return fmt.Errorf("%s: %w", n.NS, err)
	}
	return nil
}

// Close stops the services and deletes every namespace of the lab (the
// veths and the bridge go with them).
func (l *Lab) Close() error {
	l.mu.Lock()
	l.closed = true
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	for _, c := range closers {
		c()
	}
	l.wg.Wait()
	err := l.remove()
	untrack(l)
	return err
}

// remove deletes the namespaces; it runs once, from Close or the signal
// handler.
func (l *Lab) remove() error {
	var err error
	l.removeMu.Do(func() {
		l.mu.Lock()
		names := append([]string{l.bridge}, l.nodes...)
		l.mu.Unlock()
		var b strings.Builder
		for _, n := range names {
			if _, e := os.Stat("/run/netns/" + n); e == nil {
				fmt.Fprintf(&b, "netns del %s\n", n)
			}
		}
		if b.Len() > 0 {
			err = run(strings.NewReader(b.String()), "ip", "-force", "-batch", "-")
		}
	})
	return err
}

var errClosed = errors.New("netns: lab closed")
