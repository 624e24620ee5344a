package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// Options configure a control server.
type Options struct {
	Name string // the sandbox name (see Name)
	File string // the topology file, for info.json
	// Dir is the run directory; "" means BaseDir()/Name.
	Dir string
	// OnDown is called once when a client asks the sandbox to stop
	// (`vpclab down`); the owner then closes the server.
	OnDown func()
	// Logger gets refused connections; nil: quiet.
	Logger *slog.Logger
	// OnProbe, if set, gets the result of every probe the API runs (up
	// counts them in its metrics). It is called from request goroutines.
	OnProbe func(topology.Result)
}

// Server serves the control API of one running lab on its run directory's
// socket. Close stops it and removes the run directory.
type Server struct {
	lab     *topology.Lab
	rd      *RunDir
	mux     *http.ServeMux
	srv     *http.Server
	served  chan struct{} // closed when Serve has returned
	ctx     context.Context
	cancel  context.CancelFunc
	uid     int
	onDown  func()
	onProbe func(topology.Result)
	down    sync.Once
	mu      sync.Mutex // serializes changes, so a change's audit records are its own
	closed  sync.Once
	log     *slog.Logger

	// slot is held by the one change being applied (or, on a sharded lab,
	// prepared for another shard): see shard.go.
	slot  chan struct{}
	peers *peerSet // nil unless the lab is a shard
	// Under mu: the shard each rule change of the firewall's audit log came
	// from (by index; -1 or absent: this unsharded sandbox or the file),
	// and the membership changes, which the firewall does not log.
	origins map[int]int
	members []memberRecord
	journal []journalEntry // the changes applied through the API, when sharded
}

// memberRecord is one group join or leave for the audit log; at is the
// firewall's audit length when it happened, to order it among rule changes.
type memberRecord struct {
	time                           time.Time
	actor, action, group, instance string
	origin, at                     int
}

type peerKey struct{}

// Start claims the run directory and serves the control API of lab until
// Close. It refuses when a live sandbox of that name runs.
func Start(lab *topology.Lab, opts Options) (*Server, error) {
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	base, dir := "", opts.Dir
	if dir == "" {
		base = BaseDir()
		dir = base + "/" + opts.Name
	}
	rd, err := OpenRunDir(base, dir, Info{Name: opts.Name, PID: os.Getpid(), File: opts.File, Started: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	s := &Server{lab: lab, rd: rd, served: make(chan struct{}), uid: os.Getuid(), onDown: opts.OnDown, onProbe: opts.OnProbe, log: opts.Logger,
		slot: make(chan struct{}, 1), origins: map[int]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.startPeers(); err != nil {
		s.cancel()
		rd.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	s.mux = mux
	mux.HandleFunc("GET "+PathInfo, s.info)
	mux.HandleFunc("POST "+PathRuleAdd, s.rule(true))
	mux.HandleFunc("POST "+PathRuleRemove, s.rule(false))
	mux.HandleFunc("POST "+PathGroupJoin, s.group(true))
	mux.HandleFunc("POST "+PathGroupLeave, s.group(false))
	mux.HandleFunc("POST "+PathProbe, s.probe)
	mux.HandleFunc("GET "+PathConntrack, s.conntrack)
	mux.HandleFunc("POST "+PathConntrackFlush, s.flush)
	mux.HandleFunc("GET "+PathStats, s.stats)
	mux.HandleFunc("GET "+PathLint, s.lint)
	mux.HandleFunc("GET "+PathAudit, s.audit)
	mux.HandleFunc("POST "+PathDown, s.stop)
	mux.HandleFunc("GET "+PathCapture, s.capture)
	s.srv = &http.Server{
		Handler:           s.owner(mux),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerUID(c))
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.served)
		s.srv.Serve(rd.Listener())
	}()
	return s, nil
}

// Info returns what info.json says: name, pid, socket.
func (s *Server) Info() Info { return s.rd.Info }

// Lab returns the lab the server controls.
func (s *Server) Lab() *topology.Lab { return s.lab }

// Handle adds an endpoint to the API, for parts of the sandbox served
// beside the control verbs (a packet capture stream). Only the owner reaches
// it, as every endpoint. The request's context ends when the client goes or
// the server closes, so a streaming handler must return then.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Close stops serving (requests in flight are cancelled), and removes the
// socket, info.json and the run directory. It is safe to call twice.
func (s *Server) Close() error {
	s.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.cancel() // probes in flight end
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		<-s.served
		if s.peers != nil {
			s.peers.close()
		}
		s.rd.Close()
	})
	return nil
}

// peerUID returns the uid of the process at the other end of a Unix
// socket connection, or -1 when it cannot be known.
func peerUID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	uid := -1
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}

// owner refuses every request from another user than the sandbox's (403),
// beside the socket's 0600 mode: a socket made reachable by a chmod, or
// passed on, still answers only its owner.
func (s *Server) owner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := r.Context().Value(peerKey{}).(int)
		if uid != s.uid {
			s.log.Warn("control: refused a request from another user", "uid", uid, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, []ErrorEntry{entry(&firewall.Error{Code: "Forbidden.NotOwner", Rule: -1,
				Msg: fmt.Sprintf("the control socket answers only its owner (uid %d); the request came from uid %d", s.uid, uid)})})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.rd.Info) }

// stop answers, then asks the owner to stop the sandbox.
func (s *Server) stop(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusAccepted, s.rd.Info)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.down.Do(func() {
		if s.onDown != nil {
			s.onDown()
		}
	})
}

// decode reads a JSON request body strictly; a malformed one is a 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, []ErrorEntry{entry(&firewall.Error{Code: "InvalidParameter.MalformedRequest", Rule: -1,
			Msg: "the request is not the JSON this endpoint takes: " + err.Error()})})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, errs []ErrorEntry) {
	writeJSON(w, status, &APIError{Status: status, Errors: errs})
}

func entry(e *firewall.Error) ErrorEntry {
	x := ErrorEntry{Code: e.Code, Group: e.Group, NIC: e.NIC, Field: e.Field, Value: e.Value, Allowed: e.Allowed,
		Message: e.Msg, Text: e.Error(), Rule: -1}
	if e.Group != "" {
		x.Rule = e.Rule
	}
	return x
}

// refuse writes err, a refusal of the firewall or the rule parser, with the
// status its codes call for: 404 for something that does not exist, 409 for
// a conflict with the sandbox's state (quotas, membership), else 400.
func refuse(w http.ResponseWriter, err error) {
	fes := firewall.Errors(err)
	if len(fes) == 0 {
		fes = []*firewall.Error{{Code: "InternalError", Rule: -1, Msg: err.Error()}}
	}
	status := http.StatusBadRequest
	entries := make([]ErrorEntry, len(fes))
	for i, e := range fes {
		entries[i] = entry(e)
		if i == 0 {
			status = statusOf(e.Code)
		}
	}
	writeError(w, status, entries)
}

func statusOf(code string) int {
	switch {
	case code == ErrShardUnavailable:
		return http.StatusServiceUnavailable
	case code == ErrShardBusy:
		return http.StatusConflict
	case strings.HasSuffix(code, ".NotFound"):
		return http.StatusNotFound
	case strings.Contains(code, "LimitExceed"), strings.HasSuffix(code, ".Conflict"), strings.HasSuffix(code, "AlreadyExists"),
		strings.HasPrefix(code, "InvalidNetworkInterface."), code == firewall.ErrQuotaBelowUsage, code == firewall.ErrGroupInUse:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// ErrInstanceNotFound is the cloud's code for an instance that does not
// exist (probe and conntrack name instances, not NICs).
const ErrInstanceNotFound = "InvalidInstanceId.NotFound"

// withAlternatives adds the valid names to a not-found error that has none.
func (s *Server) withAlternatives(err error) error {
	fw := s.lab.VPC.Firewall()
	for _, e := range firewall.Errors(err) {
		if e.Allowed != "" {
			continue
		}
		switch e.Code {
		case firewall.ErrGroupNotFound:
			e.Allowed = strings.Join(fw.Groups(), ", ")
		case firewall.ErrNICNotFound:
			e.Allowed = strings.Join(s.instanceNames(), ", ")
		}
	}
	return err
}

func (s *Server) isInstance(name string) bool {
	for _, in := range s.lab.Topology.Instances {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) instanceNames() []string {
	names := make([]string, len(s.lab.Topology.Instances))
	for i, in := range s.lab.Topology.Instances {
		names[i] = in.Name
	}
	return names
}

// rule adds (authorize) or removes (revoke) one rule: on every shard of a
// sharded lab, or on none.
func (s *Server) rule(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req RuleRequest
		if !decode(w, r, &req) {
			return
		}
		c := change{Op: "rule-add", Rule: &req}
		if !add {
			c.Op = "rule-remove"
		}
		a, err := s.applyChange(r.Context(), c)
		if err != nil {
			refuse(w, err)
			return
		}
		resp := RuleResponse{Action: a.action, Group: req.Group, Actor: a.actor, Rule: a.rule.String(), Changed: len(a.audit) > 0}
		if resp.Changed {
			last := a.audit[len(a.audit)-1]
			resp.Actor, resp.Rule = last.Actor, last.Rule.String()
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// group makes an instance join or leave a group: on every shard of a
// sharded lab, or on none.
func (s *Server) group(join bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req GroupRequest
		if !decode(w, r, &req) {
			return
		}
		c := change{Op: "group-join", Group: &req}
		if !join {
			c.Op = "group-leave"
		}
		a, err := s.applyChange(r.Context(), c)
		if err != nil {
			refuse(w, err)
			return
		}
		writeJSON(w, http.StatusOK, GroupResponse{Instance: req.Instance, Action: a.action, Group: req.Group, Groups: a.groups})
	}
}

// probe runs one real probe through the data plane, as `vpclab test` runs
// an expect line.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	var req ProbeRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := s.runProbe(r.Context(), req)
	if err != nil {
		refuse(w, err)
		return
	}
	if s.onProbe != nil {
		s.onProbe(res)
	}
	writeJSON(w, http.StatusOK, res)
}

// runProbe checks a probe request and runs it here, or on the shard that
// runs its from.
func (s *Server) runProbe(ctx context.Context, req ProbeRequest) (topology.Result, error) {
	var errs []error
	bad := func(code, field, value, msg, allowed string) {
		errs = append(errs, &firewall.Error{Code: code, Rule: -1, Field: field, Value: value, Msg: msg, Allowed: allowed})
	}
	t := s.lab.Topology
	// An imported instance may be named short (web[0]).
	req.From, req.To = t.Resolve(req.From), t.Resolve(req.To)
	proto := strings.ToLower(req.Protocol)
	switch proto {
	case "":
		proto = "tcp"
		fallthrough
	case "tcp", "udp":
		if req.Port < 1 || req.Port > 65535 {
			bad(firewall.ErrInvalidPortRange, "port", fmt.Sprint(req.Port), fmt.Sprintf("%s needs a destination port", proto), "1..65535")
		}
	case "icmp":
		req.Port = 0
	default:
		bad(firewall.ErrInvalidIPProtocol, "protocol", req.Protocol, "unknown protocol", "tcp, udp, icmp")
	}
	for _, n := range []struct {
		field, name string
		addr        bool
	}{{"from", req.From, false}, {"to", req.To, true}} {
		if err := t.CheckName(n.name, n.addr); err != nil {
			var ne *topology.NameError
			allowed := ""
			if errors.As(err, &ne) {
				allowed = "instances: " + strings.Join(ne.Instances, ", ") + "; internet hosts: " + strings.Join(ne.Hosts, ", ")
				if n.addr {
					allowed += "; or an IPv4 address"
				}
			}
			bad(ErrInstanceNotFound, n.field, n.name, err.Error(), allowed)
		}
	}
	switch req.Expect {
	case "", topology.Allow, topology.Block, topology.Refuse:
	default:
		bad("InvalidParameter", "expect", req.Expect, "unknown result", "allow, block, refuse")
	}
	timeout := 2 * time.Second
	if req.TimeoutMs < 0 || req.TimeoutMs > 60_000 {
		bad("InvalidParameter", "timeout_ms", fmt.Sprint(req.TimeoutMs), "out of range", "1..60000")
	} else if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	if len(errs) > 0 {
		return topology.Result{}, errors.Join(errs...)
	}
	if s.peers != nil && s.isInstance(req.From) && !s.lab.Local(req.From) {
		return s.peers.forwardProbe(ctx, req)
	}
	res := s.lab.RunExpects(ctx, []topology.Expect{{From: req.From, To: req.To, Protocol: proto, Port: req.Port, Result: req.Expect}},
		topology.RunOptions{Timeout: timeout, Parallel: 1})[0]
	if req.Expect == "" {
		res.Pass = res.Observed != topology.Failed
		if res.Observed == topology.Allow {
			res.Why = nil // the static analysis is for a surprise; nothing was expected
		}
	}
	return res, nil
}

// instanceAddr returns an instance's private address, or writes a 404.
func (s *Server) instanceAddr(w http.ResponseWriter, name string) (string, bool) {
	for _, in := range s.lab.Topology.Instances {
		if in.Name == name {
			return in.IP.String(), true
		}
	}
	refuse(w, &firewall.Error{Code: ErrInstanceNotFound, Rule: -1, Field: "instance", Value: name,
		Msg: "no such instance", Allowed: strings.Join(s.instanceNames(), ", ")})
	return "", false
}

func (s *Server) conntrack(w http.ResponseWriter, r *http.Request) {
	inst := r.URL.Query().Get("instance")
	limit := DefaultConntrackLimit
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			refuse(w, &firewall.Error{Code: "InvalidParameter", Rule: -1, Field: "limit", Value: l,
				Msg: "want a count of entries", Allowed: "an integer >= 0 (0: all)"})
			return
		}
		limit = n
	}
	addr := ""
	if inst != "" {
		var ok bool
		if addr, ok = s.instanceAddr(w, inst); !ok {
			return
		}
	}
	ct := s.lab.VPC.Firewall().Conntrack()
	resp := ConntrackResponse{Instance: inst, Entries: []ConntrackEntry{}, Stats: ct.Stats()}
	names := map[string]string{}
	name := func(a string) string {
		n, ok := names[a]
		if !ok {
			ad, _ := parseAddr(a)
			n, _ = s.lab.VPC.Owner(ad)
			names[a] = n
		}
		return n
	}
	ct.Entries(func(e firewall.ConntrackEntry) bool {
		a, b := e.A.Addr().String(), e.B.Addr().String()
		if addr != "" && a != addr && b != addr {
			return true
		}
		if limit > 0 && len(resp.Entries) >= limit {
			resp.Omitted++
			return true
		}
		resp.Entries = append(resp.Entries, ConntrackEntry{Protocol: firewall.ProtoName(e.Proto), A: e.A.String(), B: e.B.String(),
			AName: name(a), BName: name(b), State: e.State, IdleS: e.Idle, IPID: e.IPID, IsFrag: e.Fragment})
		return true
	})
	sortEntries(resp.Entries)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) flush(w http.ResponseWriter, r *http.Request) {
	var req FlushRequest
	if !decode(w, r, &req) {
		return
	}
	ct := s.lab.VPC.Firewall().Conntrack()
	if req.Instance == "" {
		n := 0
		ct.Entries(func(firewall.ConntrackEntry) bool { n++; return true })
		ct.Flush()
		writeJSON(w, http.StatusOK, FlushResponse{Flushed: n})
		return
	}
	a, ok := s.instanceAddr(w, req.Instance)
	if !ok {
		return
	}
	ad, _ := parseAddr(a)
	writeJSON(w, http.StatusOK, FlushResponse{Instance: req.Instance, Flushed: ct.FlushAddr(ad)})
}

func (s *Server) audit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.auditLog())
}

// auditLog is the firewall's rule changes with the shard each came from,
// and the membership changes in the order they happened.
func (s *Server) auditLog() []AuditRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.lab.VPC.Firewall().AuditLog()
	out := make([]AuditRecord, 0, len(log)+len(s.members))
	shard := func(o int) *int {
		if o < 0 {
			return nil
		}
		return &o
	}
	m := 0
	for i := 0; i <= len(log); i++ {
		for ; m < len(s.members) && s.members[m].at <= i; m++ {
			r := s.members[m]
			out = append(out, AuditRecord{Time: r.time, Actor: r.actor, Action: r.action, Group: r.group, Instance: r.instance, Shard: shard(r.origin)})
		}
		if i == len(log) {
			break
		}
		a := log[i]
		o, ok := s.origins[i]
		if !ok {
			o = -1
		}
		out = append(out, AuditRecord{Time: a.Time, Actor: a.Actor, Action: a.Action, Group: a.Group, Rule: a.Rule.String(),
			Description: a.Rule.Description, Shard: shard(o)})
	}
	return out
}
