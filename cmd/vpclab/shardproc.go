package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// `vpclab test FILE --shards N` runs each shard in a process of its own:
// it re-executes itself N times as the hidden verb shard-child and talks to
// each child over its stdin and stdout, one JSON document per line:
//
//	parent → child  shardStart      the file, the shard, its key, the others' public keys
//	child → parent  {listening}     built; its WireGuard UDP port on loopback
//	parent → child  shardEndpoints  every other shard's 127.0.0.1:PORT
//	child → parent  {results}       the expectations whose from it runs
//	parent closes stdin             the child tears down and exits
//
// Keys travel on the pipe, not on the command line, where ps would show
// them. A child whose stdin closes early (the parent died or gave up)
// stops at once, and the parent kills what still runs when it returns, so
// no child outlives a run.

// shardChildEnv is added to a child's environment; tests set it so that
// the test binary they re-execute runs vpclab's main.
var shardChildEnv []string

// shardChildGrace is how long children get to exit after their stdin
// closes before they are killed.
const shardChildGrace = 5 * time.Second

// shardStart is the first message to a child.
type shardStart struct {
	File        string           `json:"file"`
	MaxFileSize int64            `json:"max_file_size"`
	Index       int              `json:"index"`
	Count       int              `json:"count"`
	PrivateKey  string           `json:"private_key"`
	Peers       []shardStartPeer `json:"peers"`
	Timeout     time.Duration    `json:"timeout"`
	Parallel    int              `json:"parallel"`
	DownAfter   time.Duration    `json:"down_after"`
}

type shardStartPeer struct {
	Index     int    `json:"index"`
	PublicKey string `json:"public_key"`
}

// shardEndpoints is the second message to a child: peer index → endpoint.
type shardEndpoints struct {
	Endpoints map[int]string `json:"endpoints"`
}

// shardReply is a child's message: Listening, Results or Error (Invalid
// when its file is invalid).
type shardReply struct {
	Listening int               `json:"listening,omitempty"`
	Results   []topology.Result `json:"results,omitempty"`
	Done      bool              `json:"done,omitempty"`
	Error     string            `json:"error,omitempty"`
	Invalid   []fileError       `json:"invalid,omitempty"`
}

func newShardChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "shard-child",
		Short:  "One shard of `vpclab test --shards N` (internal: driven over stdin and stdout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runShardChild(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// runShardChild is a child's side of the protocol.
func runShardChild(ctx context.Context, in io.Reader, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	enc := json.NewEncoder(out)
	send := func(r shardReply) error { return enc.Encode(r) }
	dec := json.NewDecoder(bufio.NewReader(in))
	var st shardStart
	if err := dec.Decode(&st); err != nil {
		return usageError("shard-child: reading its start message: %v", err)
	}
	// The rest of stdin: the endpoints, then EOF, which means stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	endpoints := make(chan shardEndpoints, 1)
	eof := make(chan struct{})
	var finished atomic.Bool // its results are sent
	go func() {
		defer close(eof)
		defer cancel()
		var e shardEndpoints
		if dec.Decode(&e) == nil {
			endpoints <- e
			var skip json.RawMessage
			for dec.Decode(&skip) == nil {
			}
		}
		if !finished.Load() {
			// The parent died or gave up before the end (it may be
			// building 10,000 instances, which nothing interrupts):
			// there is nothing to hand over, so stop at once.
			os.Exit(exitInterrupted)
		}
	}()
	defer func() { <-eof }() // the reader ends when the parent closes stdin

	topology.SetMaxFileSize(st.MaxFileSize)
	t, err := topology.LoadFile(st.File)
	if err != nil {
		return send(shardReply{Invalid: loadErrors(st.File, err)})
	}
	key, err := netstack.ParseShardKey(st.PrivateKey)
	if err != nil {
		return send(shardReply{Error: err.Error()})
	}
	c := topology.ShardConfig{Index: st.Index, Count: st.Count, PrivateKey: key, DownAfter: st.DownAfter}
	for _, p := range st.Peers {
		k, err := netstack.ParseShardKey(p.PublicKey)
		if err != nil {
			return send(shardReply{Error: err.Error()})
		}
		c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: p.Index, PublicKey: k})
	}
	lab, err := topology.Build(t, topology.Sharded(c), topology.VPNOffline())
	if err != nil {
		var list topology.Errors
		if errors.As(err, &list) {
			return send(shardReply{Invalid: loadErrors(st.File, err)})
		}
		return send(shardReply{Error: err.Error()})
	}
	defer lab.Close()
	if err := send(shardReply{Listening: int(lab.Shard.Port())}); err != nil {
		return err
	}
	var e shardEndpoints
	select {
	case e = <-endpoints:
	case <-eof:
		return nil
	}
	for j, ep := range e.Endpoints {
		if err := lab.Shard.SetEndpoint(j, ep); err != nil {
			return send(shardReply{Error: err.Error()})
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	lab.Shard.WaitReady(wctx) // a shard that never answers: its probes say so
	wcancel()
	res := lab.RunLocal(ctx, topology.RunOptions{Timeout: st.Timeout, Parallel: st.Parallel})
	finished.Store(true)
	if err := send(shardReply{Results: res, Done: true}); err != nil {
		return err
	}
	<-eof // the others may still probe this shard's instances
	return nil
}

// shardProc is one running child.
type shardProc struct {
	index  int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailWriter
	done   chan struct{} // closed once the child exited and its output is read
}

// shardMsg is a child's reply, or the end of its output.
type shardMsg struct {
	index int
	reply shardReply
	err   error // its output ended (it exited) or was not a reply
}

// runShardProcesses runs t (loaded from file) across n child processes
// on loopback, each with a fresh key, each expectation on the shard that
// runs its from, and returns the results in the order of t.Expect. A file
// a shard cannot run returns its errors as invalid. Every child is gone
// when it returns, on success, error and cancellation alike.
func runShardProcesses(ctx context.Context, file string, t *topology.Topology, n int, downAfter time.Duration, opts topology.RunOptions) (results []topology.Result, invalid []fileError, err error) {
	for i := range n { // what a shard cannot run: refused before anything starts
		if err := t.CheckSharded(i, n); err != nil {
			return nil, loadErrors(file, err), nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("shards: cannot find the vpclab executable to start them: %w", err)
	}
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		if keys[i], err = netstack.NewShardKey(); err != nil {
			return nil, nil, err
		}
	}
	msgs := make(chan shardMsg)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	procs := make([]*shardProc, 0, n)
	defer func() {
		close(stop) // readers give up sending
		for _, p := range procs {
			p.stdin.Close()
		}
		timer := time.NewTimer(shardChildGrace)
		defer timer.Stop()
		for _, p := range procs {
			select {
			case <-p.done:
			case <-timer.C:
			}
		}
		for _, p := range procs {
			select {
			case <-p.done:
			default:
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		readers.Wait()
	}()
	for i := range n {
		p, err := startShardProc(exe, i, msgs, stop, &readers)
		if err != nil {
			return nil, nil, err
		}
		procs = append(procs, p)
		st := shardStart{File: file, MaxFileSize: topology.MaxFileSize(), Index: i, Count: n,
			PrivateKey: keys[i].String(), Timeout: opts.Timeout, Parallel: opts.Parallel, DownAfter: downAfter}
		for j := range n {
			if j != i {
				st.Peers = append(st.Peers, shardStartPeer{Index: j, PublicKey: keys[j].Public().String()})
			}
		}
		if err := json.NewEncoder(p.stdin).Encode(st); err != nil {
			return nil, nil, p.failed(fmt.Errorf("sending its start: %w", err))
		}
	}
	// Every child builds its shard and says on which port it listens.
	ports := make([]int, n)
	results = make([]topology.Result, len(t.Expect))
	for waiting := n; waiting > 0; waiting-- {
		m, err := receive(ctx, msgs, procs)
		if err != nil {
			return nil, nil, err
		}
		if m.reply.Invalid != nil {
			return nil, m.reply.Invalid, nil
		}
		if m.reply.Listening == 0 {
			return nil, nil, procs[m.index].failed(fmt.Errorf("unexpected reply before listening"))
		}
		ports[m.index] = m.reply.Listening
	}
	for i, p := range procs {
		e := shardEndpoints{Endpoints: map[int]string{}}
		for j := range n {
			if j != i {
				e.Endpoints[j] = fmt.Sprintf("127.0.0.1:%d", ports[j])
			}
		}
		if err := json.NewEncoder(p.stdin).Encode(e); err != nil {
			return nil, nil, p.failed(fmt.Errorf("sending the endpoints: %w", err))
		}
	}
	got := make([]bool, len(t.Expect))
	for waiting := n; waiting > 0; waiting-- {
		m, err := receive(ctx, msgs, procs)
		if err != nil {
			return nil, nil, err
		}
		if !m.reply.Done {
			return nil, nil, procs[m.index].failed(fmt.Errorf("unexpected reply instead of results"))
		}
		for _, r := range m.reply.Results {
			if r.Index < 0 || r.Index >= len(results) || got[r.Index] {
				return nil, nil, procs[m.index].failed(fmt.Errorf("a result for expectation %d, which is not its own", r.Index))
			}
			results[r.Index], got[r.Index] = r, true
		}
	}
	if i := slices.Index(got, false); i >= 0 {
		return nil, nil, fmt.Errorf("shards: no shard ran expectation %d (from %s)", i, t.Expect[i].From)
	}
	return results, nil, nil
}

// receive returns the next reply of a child; a child that failed or
// exited, and a cancelled ctx, are errors.
func receive(ctx context.Context, msgs <-chan shardMsg, procs []*shardProc) (shardMsg, error) {
	select {
	case <-ctx.Done():
		return shardMsg{}, ctx.Err()
	case m := <-msgs:
		switch {
		case m.err != nil:
			return m, procs[m.index].failed(m.err)
		case m.reply.Error != "":
			return m, procs[m.index].failed(errors.New(m.reply.Error))
		}
		return m, nil
	}
}

// startShardProc starts child i; a goroutine (counted in readers) sends its
// replies to msgs until its stdout ends, then closes p.done once it exited.
func startShardProc(exe string, i int, msgs chan<- shardMsg, stop <-chan struct{}, readers *sync.WaitGroup) (*shardProc, error) {
	cmd := exec.Command(exe, "shard-child")
	cmd.Env = append(os.Environ(), shardChildEnv...)
	// Its own process group: a Ctrl-C reaches the parent alone, which
	// stops the children itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &shardProc{index: i, cmd: cmd, stderr: &tailWriter{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		stdout.Close()
		return nil, fmt.Errorf("shard %d: starting %s: %w", i, exe, err)
	}
	p.stdin = stdin
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer close(p.done)
		dec := json.NewDecoder(stdout)
		for {
			var r shardReply
			err := dec.Decode(&r)
			if err != nil {
				werr := cmd.Wait()
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("exited (%s)", exitStatus(werr))
				} else {
					io.Copy(io.Discard, stdout)
					cmd.Wait()
				}
				select {
				case msgs <- shardMsg{index: i, err: err}:
				case <-stop:
				}
				return
			}
			select {
			case msgs <- shardMsg{index: i, reply: r}:
			case <-stop:
			}
		}
	}()
	return p, nil
}

// exitStatus is a Wait error as text; nil is "exit status 0".
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// failed wraps err with the shard and the end of what it wrote on stderr.
func (p *shardProc) failed(err error) error {
	msg := fmt.Sprintf("shard %d (process %d): %v", p.index, p.cmd.Process.Pid, err)
	if tail := strings.TrimSpace(p.stderr.String()); tail != "" {
		msg += "; its stderr: " + tail
	}
	return errors.New(msg)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append(w.b[:0], w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
