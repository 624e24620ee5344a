package topology

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// What a topology costs once built: live heap plus goroutine stacks, per
// item, as TestBuildMemoryAllocMatchesEstimate measures it (Go 1.26, amd64,
// idle: no connection open). An instance is a gVisor stack with its NIC and
// one goroutine, its TCP processor, whatever GOMAXPROCS (17–18 KiB measured by
// the scale benchmark up to 100,000 instances); a UDP echo service preallocates its socket's receive
// buffer. Connections in flight (probes, exposed ports) cost more, and the
// garbage collector lets the heap grow to about twice the live data
// (GOGC=100), which is why the default budget is half the machine.
const (
	memBase       = 16 << 20 // the VPC, its firewall, the runtime
	memInstance   = 18 << 10 // an instance or internet host
	memTCPService = 6 << 10  // http, echo and banner over TCP
	memUDPService = 70 << 10 // udp echo
)

// MemoryEstimate returns about how many bytes Build will take for t: the
// live heap and goroutine stacks of its instances, internet hosts and
// services, idle. A file's size says little about it: 2 MiB of flow-style
// YAML describes some 80,000 instances, about 1.4 GiB idle (vpclab test
// took 4.7 GB probing them when an instance cost 42 KiB).
func (t *Topology) MemoryEstimate() int64 {
	n := int64(memBase)
	add := func(services []Service) {
		n += memInstance
		for _, s := range services {
			for _, proto := range s.Protocols() {
				if proto == "udp" {
					n += memUDPService
				} else {
					n += memTCPService
				}
			}
		}
	}
	for i := range t.Instances {
		add(t.Instances[i].Services)
	}
	for i := range t.Internet.Hosts {
		add(t.Internet.Hosts[i].Services)
	}
	add(nil) // the host client expose adds
	return n
}

// MemoryBudgetError is what Build returns, before building anything, for a
// topology whose MemoryEstimate exceeds the memory budget it was given.
type MemoryBudgetError struct {
	File      string
	Instances int // instances
	Hosts     int // internet hosts
	Estimate  int64
	Budget    int64
}

func (e *MemoryBudgetError) Error() string {
	what := plural(e.Instances, "instance")
	if e.Hosts > 0 {
		what += " and " + plural(e.Hosts, "internet host")
	}
	return fmt.Sprintf("%s: %s need about %s, over the memory budget of %s",
		e.File, what, FormatSize(e.Estimate), FormatSize(e.Budget))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// CheckMemory returns a *MemoryBudgetError when t's MemoryEstimate exceeds
// budget bytes; a budget of 0 or less is no limit.
func (t *Topology) CheckMemory(budget int64) error {
	if budget <= 0 {
		return nil
	}
	if est := t.MemoryEstimate(); est > budget {
		return &MemoryBudgetError{File: t.File, Instances: len(t.Instances), Hosts: len(t.Internet.Hosts),
			Estimate: est, Budget: budget}
	}
	return nil
}

// DefaultMemoryBudget is half of the memory this process may use: the
// machine's (MemTotal of /proc/meminfo) or its cgroup's limit when that is
// lower. It is 0, no limit, where neither can be read.
func DefaultMemoryBudget() int64 {
	total := memTotal()
	if limit := cgroupLimit(); limit > 0 && (total == 0 || limit < total) {
		total = limit
	}
	return total / 2
}

// memTotal reads MemTotal from /proc/meminfo, or returns 0.
func memTotal() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupLimit returns the memory limit of this process's cgroup (v2
// memory.max, else v1 memory.limit_in_bytes), or 0 when there is none.
func cgroupLimit() int64 {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	var files []string
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, filepath.Join("/sys/fs/cgroup", parts[2], "memory.max"), "/sys/fs/cgroup/memory.max")
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			files = append(files, filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"),
				"/sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	limit := int64(0)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 { // "max", or v1's "unlimited"
			continue
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	return limit
}

// FormatSize writes a byte count the way --memory-budget reads it: 512 MiB,
// 4.6 GiB.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i]
}

// ParseSize reads a size: a number of bytes, or a number with a binary
// (KiB, MiB, GiB, TiB; K, M, G, T mean the same) or decimal (KB, MB, GB,
// TB) unit, case-insensitive, with an optional space: 4GiB, 512 MiB, 1.5G.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil {
		return 0, fmt.Errorf("%q is not a size (want e.g. 4GiB, 512MiB, 0)", s)
	}
	mult := map[string]float64{"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, strings.TrimSpace(t[i:]))
	}
	v := f * mult
	if v >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}
