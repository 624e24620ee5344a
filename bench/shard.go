package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

func init() {
	Register(Benchmark{
		Name: "shard",
		Doc:  "a VPC sharded over processes linked by loopback WireGuard: bulk TCP between two instances in two processes against the same pair in one process, and the boot of 30,000 instances over 3 shard processes against one process (wall time to all ready, RSS per process)",
		Run:  runShard,
	})
}

// shardPlan is what a run of the shard benchmark measures.
type shardPlan struct {
	bulk   time.Duration // one bulk transfer
	rounds int           // bulk transfers per path, alternating paths
	boot   int           // instances of the boot topology
	shards int           // shard processes of the boot
}

func shardPlanFor(quick bool) shardPlan {
	if quick {
		return shardPlan{bulk: 300 * time.Millisecond, rounds: 1, boot: 300, shards: 3}
	}
	return shardPlan{bulk: 2 * time.Second, rounds: 3, boot: 30_000, shards: 3}
}

func runShard(ctx context.Context, opts Options) (*Result, error) {
	if os.Getenv(ShardWorkerEnv) != "" {
		return nil, errors.New("this process is a shard worker (" + ShardWorkerEnv + " is set): it starts no workers")
	}
	plan := shardPlanFor(opts.Quick)
	res := &Result{Benchmark: "shard"}
	row, err := shardBulkRow(ctx, opts, plan)
	if err != nil {
		return nil, fmt.Errorf("bulk: %w", err)
	}
	res.Rows = append(res.Rows, row)
	opts.progress("shard: boot %d instances in one process", plan.boot)
	one, err := bootShards(ctx, plan.boot, 1)
	if err != nil {
		return nil, fmt.Errorf("boot, one process: %w", err)
	}
	opts.progress("shard: boot %d instances over %d shard processes", plan.boot, plan.shards)
	sharded, err := bootShards(ctx, plan.boot, plan.shards)
	if err != nil {
		return nil, fmt.Errorf("boot, %d shards: %w", plan.shards, err)
	}
	res.Rows = append(res.Rows, bootRows(plan, sharded, one)...)
	return res, nil
}

// The three paths of the bulk pair.
const (
	pathTwoProcesses = "2 processes"         // ours: each instance in its own shard process
	pathOneProcess   = "one process"         // the pair unsharded, in one VPC
	pathShardsInProc = "2 shards, 1 process" // two shards linked by WireGuard, in this process
)

// shardBulkRow measures bulk TCP from the pair's sender to its sink on
// the three paths, in alternating rounds, and returns the medians.
func shardBulkRow(ctx context.Context, opts Options, plan shardPlan) (Row, error) {
	paths := []string{pathTwoProcesses, pathOneProcess, pathShardsInProc}
	senders := make([]*netstack.Instance, len(paths))
	var closers []func()
	defer func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}()
	t, err := topology.Load("pair.yaml", pairTopology())
	if err != nil {
		return Row{}, err
	}
	sink := netip.AddrPortFrom(netip.MustParseAddr(pairSinkAddr), pairPort)

	// Ours: shard 0 (the sender) here, shard 1 (the sink) in a worker.
	opts.progress("shard: bulk pair, starting the sink's shard process")
	keys, err := shardKeys(2)
	if err != nil {
		return Row{}, err
	}
	w, err := startWorker(workerSetup{Shard: 1, Count: 2, Key: keys[1].String(), Peers: []workerPeer{{0, keys[0].Public().String()}}})
	if err != nil {
		return Row{}, err
	}
	closers = append(closers, func() { w.stop() })
	here, err := topology.Build(t, topology.Sharded(shardConfig(keys, 0)))
	if err != nil {
		return Row{}, err
	}
	closers = append(closers, func() { here.Close() })
	built, err := w.next(ctx, "built", time.Minute)
	if err != nil {
		return Row{}, err
	}
	if err := here.Shard.SetEndpoint(1, fmt.Sprintf("127.0.0.1:%d", built.Port)); err != nil {
		return Row{}, err
	}
	if err := w.send(workerEndpoints{Endpoints: map[int]string{0: fmt.Sprintf("127.0.0.1:%d", here.Shard.Port())}}); err != nil {
		return Row{}, err
	}
	if err := connectShards(ctx, here, nil); err != nil {
		return Row{}, err
	}
	if _, err := w.next(ctx, "ready", time.Minute); err != nil {
		return Row{}, err
	}
	senders[0] = here.VPC.Instance(pairSender)

	// The same pair unsharded, in this process.
	whole, err := topology.Build(t)
	if err != nil {
		return Row{}, err
	}
	closers = append(closers, func() { whole.Close() })
	stop, err := serveSink(whole.VPC.Instance(pairSink))
	if err != nil {
		return Row{}, err
	}
	closers = append(closers, stop)
	senders[1] = whole.VPC.Instance(pairSender)

	// Two shards in this process: WireGuard without the process boundary.
	if keys, err = shardKeys(2); err != nil {
		return Row{}, err
	}
	labs := make([]*topology.Lab, 2)
	for i := range labs {
		if labs[i], err = topology.Build(t, topology.Sharded(shardConfig(keys, i))); err != nil {
			return Row{}, err
		}
		closers = append(closers, func() { labs[i].Close() })
	}
	for i, l := range labs {
		if err := l.Shard.SetEndpoint(1-i, fmt.Sprintf("127.0.0.1:%d", labs[1-i].Shard.Port())); err != nil {
			return Row{}, err
		}
	}
	for _, l := range labs {
		if err := connectShards(ctx, l, nil); err != nil {
			return Row{}, err
		}
	}
	if stop, err = serveSink(labs[1].VPC.Instance(pairSink)); err != nil {
		return Row{}, err
	}
	closers = append(closers, stop)
	senders[2] = labs[0].VPC.Instance(pairSender)

	runs := make([][]float64, len(paths))
	var dropped, injected uint64 // by the sender's link, in its runs
	for r := range plan.rounds {
		for i, p := range paths {
			opts.progress("shard: bulk TCP, %s (round %d of %d)", p, r+1, plan.rounds)
			d0, i0 := here.Shard.Stats()
			g, err := bulkTo(ctx, senders[i], sink, plan.bulk)
			if err != nil {
				return Row{}, fmt.Errorf("%s: %w", p, err)
			}
			if i == 0 {
				d1, i1 := here.Shard.Stats()
				dropped, injected = dropped+d1-d0, injected+i1-i0
			}
			runs[i] = append(runs[i], g)
		}
	}
	med := make([]float64, len(paths))
	for i := range runs {
		med[i] = median(runs[i])
	}
	row := Row{Measure: "bulk TCP between two instances in two shard processes (loopback WireGuard)", Unit: "Gbit/s",
		Ours: med[0], Better: "higher",
		Note: fmt.Sprintf("one connection, median of %d × %v, paths alternating; runs: %s; the sender's link dropped %d frames and injected %d (ACKs) over its runs",
			plan.rounds, plan.bulk, runsText(paths, runs), dropped, injected)}
	for i := 1; i < len(paths); i++ {
		row.Baselines = append(row.Baselines, Baseline{Name: paths[i], Value: med[i], Ratio: Ratio(med[0], med[i], "higher")})
	}
	return row, nil
}

func runsText(paths []string, runs [][]float64) string {
	var parts []string
	for i, p := range paths {
		var v []string
		for _, x := range runs[i] {
			v = append(v, fmt.Sprintf("%.2f", x))
		}
		parts = append(parts, p+" "+strings.Join(v, "/"))
	}
	return strings.Join(parts, ", ")
}

// median of v (v is reordered).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// shardKeys returns n fresh private keys.
func shardKeys(n int) ([]netstack.ShardKey, error) {
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		k, err := netstack.NewShardKey()
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// shardConfig is shard i of len(keys), any port, every other shard a peer
// whose endpoint is set once known.
func shardConfig(keys []netstack.ShardKey, i int) topology.ShardConfig {
	c := topology.ShardConfig{Index: i, Count: len(keys), PrivateKey: keys[i]}
	for j, k := range keys {
		if j != i {
			c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: k.Public()})
		}
	}
	return c
}

// bootRun is one boot of the boot topology over some worker processes.
type bootRun struct {
	shards int
	wall   time.Duration // from starting the workers to the last one ready
	build  []float64     // each worker's load and build, seconds
	rss    []int64       // each worker's VmRSS when ready
	peak   []int64       // each worker's VmHWM when ready
	cpu    []time.Duration
}

// bootShards boots the n-instance topology in count worker processes
// (count 1: unsharded) and measures them.
func bootShards(ctx context.Context, n, count int) (bootRun, error) {
	run := bootRun{shards: count}
	keys, err := shardKeys(count)
	if err != nil {
		return run, err
	}
	var workers []*worker
	defer func() {
		for _, w := range workers {
			w.stop()
		}
	}()
	start := time.Now()
	for i := range count {
		s := workerSetup{Instances: n, Shard: i, Count: count, Key: keys[i].String()}
		for j, k := range keys {
			if j != i {
				s.Peers = append(s.Peers, workerPeer{j, k.Public().String()})
			}
		}
		w, err := startWorker(s)
		if err != nil {
			return run, err
		}
		workers = append(workers, w)
	}
	ports := make([]uint16, count)
	for i, w := range workers {
		r, err := w.next(ctx, "built", 15*time.Minute)
		if err != nil {
			return run, fmt.Errorf("shard %d: %w", i, err)
		}
		ports[i] = r.Port
		run.build = append(run.build, r.BuildSeconds)
	}
	for i, w := range workers {
		eps := map[int]string{}
		for j := range workers {
			if j != i {
				eps[j] = fmt.Sprintf("127.0.0.1:%d", ports[j])
			}
		}
		if err := w.send(workerEndpoints{Endpoints: eps}); err != nil {
			return run, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	for i, w := range workers {
		r, err := w.next(ctx, "ready", 2*time.Minute)
		if err != nil {
			return run, fmt.Errorf("shard %d: %w", i, err)
		}
		run.rss = append(run.rss, r.RSS)
		run.peak = append(run.peak, r.PeakRSS)
	}
	run.wall = time.Since(start)
	for _, w := range workers {
		run.cpu = append(run.cpu, w.stop())
	}
	workers = nil
	return run, nil
}

// bootRows are the boot's rows: wall time to all ready, CPU time and RSS
// per process, the sharded boot's against the one process's.
func bootRows(plan shardPlan, sharded, one bootRun) []Row {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	list := func(f func(i int) string) string {
		var parts []string
		for i := range sharded.shards {
			parts = append(parts, f(i))
		}
		return strings.Join(parts, ", ")
	}
	var cpu time.Duration
	for _, c := range sharded.cpu {
		cpu += c
	}
	label := fmt.Sprintf("%d instances over %d shard processes", plan.boot, plan.shards)
	wall := Row{Measure: label + ": boot, wall time to all ready (load, build, WireGuard handshakes)", Unit: "s",
		Ours: sharded.wall.Seconds(), Better: "lower",
		Baselines: []Baseline{{Name: pathOneProcess, Value: one.wall.Seconds(), Ratio: Ratio(sharded.wall.Seconds(), one.wall.Seconds(), "lower")}},
		Note: fmt.Sprintf("one run each, processes started by this one; load and build per shard %s s (one process: %.1f s)",
			list(func(i int) string { return fmt.Sprintf("%.1f", sharded.build[i]) }), one.build[0])}
	cpuRow := Row{Measure: label + ": boot, CPU time of all processes (user + system)", Unit: "cpu-s",
		Ours: cpu.Seconds(), Better: "lower",
		Baselines: []Baseline{{Name: pathOneProcess, Value: sumDurations(one.cpu).Seconds(), Ratio: Ratio(cpu.Seconds(), sumDurations(one.cpu).Seconds(), "lower")}},
		Note: "from start to exit, as the kernel counts it (rusage): unlike the wall time, it does not grow with the machine's load; per shard " +
			list(func(i int) string { return fmt.Sprintf("%.1f", sharded.cpu[i].Seconds()) }) + " s"}
	maxRSS := slices.Max(sharded.rss)
	rss := Row{Measure: label + ": RSS of the largest shard process when ready", Unit: "MiB",
		Ours: mib(maxRSS), Better: "lower",
		Baselines: []Baseline{{Name: pathOneProcess, Value: mib(one.rss[0]), Ratio: Ratio(mib(maxRSS), mib(one.rss[0]), "lower")}},
		Note: fmt.Sprintf("RSS (peak) per shard %s MiB; one process %.0f (%.0f) MiB",
			list(func(i int) string { return fmt.Sprintf("%.0f (%.0f)", mib(sharded.rss[i]), mib(sharded.peak[i])) }), mib(one.rss[0]), mib(one.peak[0]))}
	return []Row{wall, cpuRow, rss}
}

func sumDurations(v []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range v {
		s += d
	}
	return s
}

// worker is a shard worker process: this executable with ShardWorkerArgs
// and ShardWorkerEnv set, spoken to in JSON lines.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	lines  chan workerReport // closed when the worker's stdout ends
	stderr tailBuffer
	once   sync.Once
	cpu    time.Duration
}

// startWorker starts a worker and sends it its setup.
func startWorker(s workerSetup) (*worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("shard worker: %w", err)
	}
	w := &worker{cmd: exec.Command(exe, ShardWorkerArgs...), lines: make(chan workerReport, 8)}
	w.cmd.Env = append(os.Environ(), ShardWorkerEnv+"=1")
	w.cmd.Stderr = &w.stderr
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("shard worker: %w", err)
	}
	go func() { // ends when the worker's stdout does (it exits)
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r workerReport
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				r = workerReport{Event: "error", Error: fmt.Sprintf("not a report: %q", sc.Text())}
			}
			select {
			case w.lines <- r:
			default: // nobody listens any more
			}
		}
	}()
	w.enc = json.NewEncoder(w.stdin)
	if err := w.send(s); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

func (w *worker) send(v any) error {
	if err := w.enc.Encode(v); err != nil {
		return fmt.Errorf("shard worker %d: %w%s", w.cmd.Process.Pid, err, w.stderr.tail())
	}
	return nil
}

// next waits for the worker's report of event.
func (w *worker) next(ctx context.Context, event string, timeout time.Duration) (workerReport, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r, ok := <-w.lines:
		switch {
		case !ok:
			return r, fmt.Errorf("shard worker %d exited before %q%s", w.cmd.Process.Pid, event, w.stderr.tail())
		case r.Event == "error":
			return r, fmt.Errorf("shard worker %d: %s", w.cmd.Process.Pid, r.Error)
		case r.Event != event:
			return r, fmt.Errorf("shard worker %d: %q, want %q", w.cmd.Process.Pid, r.Event, event)
		}
		return r, nil
	case <-timer.C:
		return workerReport{}, fmt.Errorf("shard worker %d: no %q within %v%s", w.cmd.Process.Pid, event, timeout, w.stderr.tail())
	case <-ctx.Done():
		return workerReport{}, ctx.Err()
	}
}

// stop closes the worker's stdin, which ends it, kills it if it has not
// exited 30 s later, and returns the CPU time it used.
func (w *worker) stop() time.Duration {
	w.once.Do(func() {
		w.stdin.Close()
		timer := time.NewTimer(30 * time.Second)
		defer timer.Stop()
	drain:
		for {
			select {
			case _, ok := <-w.lines:
				if !ok {
					break drain
				}
			case <-timer.C:
				w.cmd.Process.Kill()
				timer.Reset(time.Hour)
			}
		}
		w.cmd.Wait()
		if st := w.cmd.ProcessState; st != nil {
			w.cpu = st.UserTime() + st.SystemTime()
		}
	})
	return w.cpu
}

// tailBuffer keeps the last 2 KiB written to it: a worker's stderr, for
// the error that says why it stopped.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2048 {
		b.buf = b.buf[len(b.buf)-2048:]
	}
	return len(p), nil
}

// tail is ": <stderr's last lines>", or "" when it wrote nothing.
func (b *tailBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := strings.TrimSpace(string(b.buf)); s != "" {
		return ": " + s
	}
	return ""
}
