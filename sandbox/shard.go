package sandbox

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// A sharded `up` holds the whole security-group state on every shard (see
// netstack/shard.go), so a state-changing control request is applied on
// every shard or on none, in two phases over the shards' WireGuard link
// (netstack.ShardControl, never a host port):
//
//  1. the shard that receives the request takes its change slot, checks
//     the change against its own state, then asks every other shard to
//     prepare it: each takes its slot (one change at a time per shard) and
//     checks it, holding the slot until the outcome arrives;
//  2. if every shard prepared it, each applies it (commit); if any refused,
//     was busy with another change, is down or did not answer, every shard
//     that prepared it drops it (abort) and nothing changed anywhere. A
//     busy shard makes the coordinator retry for a while; a refusal or an
//     unreachable shard refuses the request, naming the shard.
//
// Each shard's audit log records the change with its actor and the shard
// that received it. A shard that starts replays the other shards' journal
// of applied changes before it takes part (catchUp), so a restarted shard,
// built from the file, does not diverge.

// Paths of the shard-to-shard API, served only on the control endpoint
// inside the tunnel.
const (
	peerPathPrepare = "/shard/v1/prepare"
	peerPathCommit  = "/shard/v1/commit"
	peerPathAbort   = "/shard/v1/abort"
	peerPathProbe   = "/shard/v1/probe"
	peerPathJournal = "/shard/v1/journal"
)

// Error codes of a refused sharded change (ours).
const (
	ErrShardUnavailable = "ShardUnavailable" // a shard is down or did not answer
	ErrShardBusy        = "ShardBusy"        // a shard is applying another change
	ErrShardRefused     = "ShardRefused"     // a shard's state refused the change (the shards' states differ)
	ErrShardTxNotFound  = "ShardTransaction.NotFound"
)

// Timing of the two phases.
const (
	peerTimeout   = 3 * time.Second        // one request to a shard
	busyRetryFor  = 5 * time.Second        // how long a coordinator retries busy shards
	prepareTTL    = 15 * time.Second       // a prepared change with no outcome is dropped
	commitRetries = 5                      // a commit that did not get through is re-sent
	slotWait      = 5 * time.Second        // how long a request waits for its own shard's slot
	doneKeep      = 256                    // committed transactions remembered, for re-sent commits
	commitBackoff = 200 * time.Millisecond // between commit re-sends
	catchUpWait   = 30 * time.Second       // how long a starting shard waits for another to catch up from
)

// change is one state-changing control request, as the shards exchange it.
type change struct {
	Op    string        `json:"op"` // rule-add, rule-remove, group-join, group-leave
	Rule  *RuleRequest  `json:"rule,omitempty"`
	Group *GroupRequest `json:"group,omitempty"`
}

type prepareRequest struct {
	Tx     string `json:"tx"`
	Change change `json:"change"`
}

type txRequest struct {
	Tx string `json:"tx"`
}

// applied is what a change did on one shard.
type applied struct {
	action string
	actor  string
	rule   firewall.Rule
	audit  []firewall.AuditRecord // the rule changes it made
	groups []string               // the instance's groups after a membership change
}

// plan turns a change into its firewall transaction, or the refusal of a
// malformed one.
func (s *Server) plan(c change) (fn func(*firewall.Tx) error, a applied, err error) {
	switch c.Op {
	case "rule-add", "rule-remove":
		req := c.Rule
		if req == nil {
			return nil, a, malformed("a rule change needs its rule")
		}
		rule, err := topology.ParseRule(req.Rule)
		if err != nil {
			return nil, a, err
		}
		a.rule, a.actor = rule, req.Actor
		if a.actor == "" {
			a.actor = rule.ManagedBy
		}
		if a.actor == "" {
			a.actor = "user"
		}
		if c.Op == "rule-add" {
			a.action = "authorize"
			return func(tx *firewall.Tx) error { return tx.AuthorizeRules(req.Group, a.actor, rule) }, a, nil
		}
		a.action = "revoke"
		return func(tx *firewall.Tx) error { return tx.RevokeRules(req.Group, a.actor, rule) }, a, nil
	case "group-join", "group-leave":
		req := c.Group
		if req == nil {
			return nil, a, malformed("a membership change needs its instance and group")
		}
		a.actor = req.Actor
		if a.actor == "" {
			a.actor = "user"
		}
		if c.Op == "group-join" {
			a.action = "join"
			return func(tx *firewall.Tx) error { return tx.JoinGroup(req.Instance, req.Group) }, a, nil
		}
		a.action = "leave"
		return func(tx *firewall.Tx) error { return tx.LeaveGroup(req.Instance, req.Group) }, a, nil
	}
	return nil, a, &firewall.Error{Code: "InvalidParameter", Rule: -1, Field: "op", Value: c.Op, Msg: "unknown change",
		Allowed: "rule-add, rule-remove, group-join, group-leave"}
}

func malformed(msg string) error {
	return &firewall.Error{Code: "InvalidParameter.MalformedRequest", Rule: -1, Msg: msg}
}

// applyLocal applies a planned change to this shard's firewall and records
// it in the audit log with the shard it came from (-1: unsharded).
func (s *Server) applyLocal(c change, fn func(*firewall.Tx) error, a applied, origin int) (applied, error) {
	fw := s.lab.VPC.Firewall()
	s.mu.Lock()
	defer s.mu.Unlock()
	before := fw.AuditLen()
	if err := fw.Update(fn); err != nil {
		return a, s.withAlternatives(err)
	}
	a.audit = fw.AuditSince(before)
	for i := range a.audit {
		s.origins[before+i] = origin
	}
	if origin >= 0 {
		s.journal = append(s.journal, journalEntry{Change: c, Origin: origin})
	}
	if c.Group != nil {
		a.groups = fw.NICGroups(c.Group.Instance)
		s.members = append(s.members, memberRecord{time: time.Now(), actor: a.actor, action: a.action,
			group: c.Group.Group, instance: c.Group.Instance, origin: origin, at: fw.AuditLen()})
	}
	return a, nil
}

// takeSlot takes this shard's change slot, waiting up to d (0: not at all).
func (s *Server) takeSlot(ctx context.Context, d time.Duration) bool {
	select {
	case s.slot <- struct{}{}:
		return true
	default:
		if d == 0 {
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case s.slot <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (s *Server) releaseSlot() { <-s.slot }

// applyChange applies a change requested on this shard: here alone when
// the lab is not sharded, else on every shard or none.
func (s *Server) applyChange(ctx context.Context, c change) (applied, error) {
	fn, a, err := s.plan(c)
	if err != nil {
		return a, err
	}
	if !s.takeSlot(ctx, slotWait) {
		return a, &firewall.Error{Code: ErrShardBusy, Rule: -1, Msg: "another change is being applied; try again"}
	}
	if s.peers == nil {
		defer s.releaseSlot()
		return s.applyLocal(c, fn, a, -1)
	}
	deadline := time.Now().Add(busyRetryFor)
	for {
		res, err, busy := s.coordinate(ctx, c, fn, a)
		if !busy {
			return res, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.releaseSlot()
			return a, &firewall.Error{Code: ErrShardBusy, Rule: -1,
				Msg: fmt.Sprintf("the other shards stayed busy with other changes for %s; nothing changed; try again", busyRetryFor)}
		}
		// Another shard is applying its own change: step back (our slot
		// too, so that its change can prepare here) and try again.
		s.releaseSlot()
		time.Sleep(time.Duration(20+rand.IntN(180)) * time.Millisecond)
		if !s.takeSlot(ctx, slotWait) {
			return a, &firewall.Error{Code: ErrShardBusy, Rule: -1, Msg: "another change is being applied; try again"}
		}
	}
}

// coordinate runs one attempt of the two phases; the caller holds the slot,
// which coordinate releases unless it reports busy.
func (s *Server) coordinate(ctx context.Context, c change, fn func(*firewall.Tx) error, a applied) (res applied, err error, busy bool) {
	release := true
	defer func() {
		if release {
			s.releaseSlot()
		}
	}()
	if err := s.lab.VPC.Firewall().Check(fn); err != nil {
		return a, s.withAlternatives(err), false
	}
	tx := newTxID()
	body, _ := json.Marshal(prepareRequest{Tx: tx, Change: c})
	peers := s.peers.ctl.Peers()
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for k, p := range peers {
		// A shard the link thinks down is asked all the same (a loaded
		// machine may delay keepalives); if it does not answer either, the
		// refusal says it is down.
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = s.peers.call(ctx, p, peerPathPrepare, body, nil)
			var ae *APIError
			if errs[k] != nil && !errors.As(errs[k], &ae) && !s.peers.ctl.PeerUp(p) {
				errs[k] = shardDown(p)
			}
		}()
	}
	wg.Wait()
	var refusals []error
	for k, e := range errs {
		if e == nil {
			continue
		}
		var ae *APIError
		if errors.As(e, &ae) && len(ae.Errors) > 0 && ae.Errors[0].Code == ErrShardBusy {
			busy = true
			continue
		}
		refusals = append(refusals, shardError(peers[k], e))
	}
	if len(refusals) > 0 || busy {
		s.abortAll(tx, peers, errs)
		if len(refusals) > 0 {
			return a, errors.Join(refusals...), false
		}
		release = false
		return a, nil, true
	}
	res, err = s.applyLocal(c, fn, a, s.peers.ctl.Index())
	if err != nil { // cannot happen: Check passed under the slot
		s.abortAll(tx, peers, errs)
		return res, err, false
	}
	commit, _ := json.Marshal(txRequest{Tx: tx})
	var lost []string
	var mu sync.Mutex
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			for range commitRetries {
				if err = s.peers.call(context.WithoutCancel(ctx), p, peerPathCommit, commit, nil); err == nil {
					return
				}
				time.Sleep(commitBackoff)
			}
			mu.Lock()
			lost = append(lost, fmt.Sprintf("shard %d (%v)", p, err))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lost) > 0 {
		// Every shard prepared it, so its state accepts it; a shard that did
		// not confirm drops it when its prepare expires. Say so loudly.
		s.log.Error("control: a committed change did not reach every shard", "tx", tx, "shards", strings.Join(lost, ", "))
		return res, &firewall.Error{Code: ErrShardUnavailable, Rule: -1, Field: "shard",
			Msg: fmt.Sprintf("the change was applied here and on the shards that confirmed it, but %s did not confirm it after %d tries; "+
				"the shards' policies may differ until it is reverted", strings.Join(lost, ", "), commitRetries)}, false
	}
	return res, nil, false
}

// abortAll tells every shard that prepared tx (errs[k] == nil) to drop it.
func (s *Server) abortAll(tx string, peers []int, errs []error) {
	body, _ := json.Marshal(txRequest{Tx: tx})
	var wg sync.WaitGroup
	for k, p := range peers {
		if errs[k] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.peers.call(context.Background(), p, peerPathAbort, body, nil); err != nil {
				s.log.Warn("control: abort did not reach a shard; its prepare expires", "tx", tx, "shard", p, "err", err)
			}
		}()
	}
	wg.Wait()
}

func newTxID() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func shardDown(p int) error {
	return &firewall.Error{Code: ErrShardUnavailable, Rule: -1, Field: "shard", Value: strconv.Itoa(p),
		Msg: fmt.Sprintf("shard %d is down (no WireGuard handshake or keepalive for %s): the change was applied on no shard", p, netstack.DefaultShardDownAfter)}
}

// shardError names the shard in a refusal it sent, or in its failure to
// answer.
func shardError(p int, err error) error {
	var fe *firewall.Error
	if errors.As(err, &fe) && fe.Code == ErrShardUnavailable {
		return err
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return &firewall.Error{Code: ErrShardUnavailable, Rule: -1, Field: "shard", Value: strconv.Itoa(p),
			Msg: fmt.Sprintf("shard %d did not answer over the shard link (%v): the change was applied on no shard", p, err)}
	}
	var out []error
	for _, e := range ae.Errors {
		out = append(out, &firewall.Error{Code: ErrShardRefused, Rule: -1, Field: "shard", Value: strconv.Itoa(p), Group: e.Group, NIC: e.NIC,
			Msg: fmt.Sprintf("shard %d refused the change (%s: %s): the change was applied on no shard", p, e.Code, e.Message)})
	}
	return errors.Join(out...)
}

// peerSet is a sharded server's side of the shard-to-shard API.
type peerSet struct {
	s      *Server
	ctl    *netstack.ShardControl
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	served chan struct{}

	wg    sync.WaitGroup // catchUp
	ready atomic.Bool    // caught up with the other shards' changes

	mu      sync.Mutex
	pending *pendingTx
	done    []string // committed transactions, newest last
}

// journalEntry is one change applied through the control API, as a shard
// that starts later replays it.
type journalEntry struct {
	Change change `json:"change"`
	Origin int    `json:"origin"`
}

type journalResponse struct {
	Ready   bool           `json:"ready"` // the shard has caught up itself
	Entries []journalEntry `json:"entries"`
}

// journal answers a starting shard with every change applied here.
func (ps *peerSet) journal(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !decode(w, r, &req) {
		return
	}
	ps.s.mu.Lock()
	resp := journalResponse{Ready: ps.ready.Load(), Entries: slices.Clone(ps.s.journal)}
	ps.s.mu.Unlock()
	if resp.Entries == nil {
		resp.Entries = []journalEntry{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// catchUp replays, on a shard that starts, the changes the other shards
// applied through the control API since they started (a restarted shard
// starts from the file). It holds the change slot meanwhile, so no change
// commits anywhere until it is done: any change needs this shard's
// prepare. It takes the longest journal of the shards that are caught up
// themselves or, when every other shard answers and none is (they all
// start), the longest of theirs.
func (ps *peerSet) catchUp() {
	defer ps.wg.Done()
	s := ps.s
	defer func() {
		ps.ready.Store(true)
		s.releaseSlot()
	}()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(catchUpWait)
	for {
		var best *journalResponse
		answered := 0
		peers := ps.ctl.Peers()
		got := make([]*journalResponse, len(peers))
		var wg sync.WaitGroup
		for k, p := range peers {
			if !ps.ctl.PeerReady(p) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var j journalResponse
				if ps.callWithin(s.ctx, time.Second, p, peerPathJournal, []byte("{}"), &j) == nil {
					got[k] = &j
				}
			}()
		}
		wg.Wait()
		for _, j := range got {
			if j == nil {
				continue
			}
			answered++
			if best == nil || j.Ready && !best.Ready || j.Ready == best.Ready && len(j.Entries) > len(best.Entries) {
				best = j
			}
		}
		late := time.Now().After(deadline)
		s.log.Debug("control: catching up", "answered", answered, "peers", len(peers), "best", best)
		if best != nil && (best.Ready || answered == len(peers) || late) {
			ps.replay(best.Entries)
			return
		}
		if late {
			s.log.Warn("control: no other shard answered; starting from the file's state")
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (ps *peerSet) replay(entries []journalEntry) {
	s := ps.s
	for _, e := range entries {
		fn, a, err := s.plan(e.Change)
		if err == nil {
			_, err = s.applyLocal(e.Change, fn, a, e.Origin)
		}
		if err != nil {
			s.log.Error("control: a change the other shards applied failed to replay here", "shard", e.Origin, "err", err)
		}
	}
	if len(entries) > 0 {
		s.log.Info("control: caught up with the other shards", "changes", len(entries))
	}
}

// pendingTx is a change this shard prepared for another shard.
type pendingTx struct {
	id     string
	origin int
	c      change
	fn     func(*firewall.Tx) error
	a      applied
	timer  *time.Timer
}

type remoteKey struct{}

// startPeers serves the shard-to-shard API on the lab's shard link.
func (s *Server) startPeers() error {
	link := s.lab.Shard
	if link == nil {
		return nil
	}
	ctl, err := link.StartControl()
	if err != nil {
		return fmt.Errorf("shard control endpoint: %w", err)
	}
	ln, err := ctl.Listen()
	if err != nil {
		ctl.Close()
		return fmt.Errorf("shard control endpoint: %w", err)
	}
	ps := &peerSet{s: s, ctl: ctl, ln: ln, served: make(chan struct{})}
	ps.client = &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			i, err := strconv.Atoi(strings.TrimPrefix(host, "shard-"))
			if err != nil {
				return nil, fmt.Errorf("bad shard host %q", host)
			}
			return ctl.Dial(ctx, i)
		},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+peerPathPrepare, ps.prepare)
	mux.HandleFunc("POST "+peerPathCommit, ps.commit)
	mux.HandleFunc("POST "+peerPathAbort, ps.abort)
	mux.HandleFunc("POST "+peerPathProbe, ps.probe)
	mux.HandleFunc("POST "+peerPathJournal, ps.journal)
	ps.srv = &http.Server{
		Handler:           ps.onlyPeers(mux),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, remoteKey{}, ctl.ShardOf(c.RemoteAddr()))
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(ps.served)
		ps.srv.Serve(ln)
	}()
	s.peers = ps
	s.slot <- struct{}{} // held until caught up
	ps.wg.Add(1)
	go ps.catchUp()
	return nil
}

func (ps *peerSet) close() {
	ps.wg.Wait() // catchUp ends with the server's context
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ps.srv.Shutdown(ctx); err != nil {
		ps.srv.Close()
	}
	<-ps.served
	ps.mu.Lock()
	if p := ps.pending; p != nil && p.timer.Stop() {
		ps.pending = nil
		ps.s.releaseSlot()
	}
	ps.mu.Unlock()
	ps.ctl.Close()
}

// onlyPeers refuses a connection that does not come from another shard's
// control address (WireGuard has checked that the address is the sender's).
func (ps *peerSet) onlyPeers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if from, _ := r.Context().Value(remoteKey{}).(int); from < 0 {
			writeError(w, http.StatusForbidden, []ErrorEntry{entry(&firewall.Error{Code: "Forbidden.NotAShard", Rule: -1,
				Msg: "the shard API answers only the other shards of the VPC"})})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func origin(r *http.Request) int { i, _ := r.Context().Value(remoteKey{}).(int); return i }

// call posts body to shard p's path and decodes the answer into out; a
// refusal is an *APIError.
func (ps *peerSet) call(ctx context.Context, p int, path string, body []byte, out any) error {
	return ps.callWithin(ctx, peerTimeout, p, path, body, out)
}

func (ps *peerSet) callWithin(ctx context.Context, d time.Duration, p int, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shard-"+strconv.Itoa(p)+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ps.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		ae := &APIError{}
		if json.Unmarshal(b, ae) != nil || len(ae.Errors) == 0 {
			return fmt.Errorf("shard %d: HTTP %d: %s", p, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return ae
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// prepare checks a change for another shard and holds this shard's slot
// until its outcome (or prepareTTL) comes.
func (ps *peerSet) prepare(w http.ResponseWriter, r *http.Request) {
	var req prepareRequest
	if !decode(w, r, &req) {
		return
	}
	s := ps.s
	fn, a, err := s.plan(req.Change)
	if err != nil {
		refuse(w, err)
		return
	}
	if !s.takeSlot(r.Context(), 0) {
		writeError(w, http.StatusConflict, []ErrorEntry{entry(&firewall.Error{Code: ErrShardBusy, Rule: -1,
			Msg: fmt.Sprintf("shard %d is applying another change", ps.ctl.Index())})})
		return
	}
	if err := s.lab.VPC.Firewall().Check(fn); err != nil {
		s.releaseSlot()
		refuse(w, s.withAlternatives(err))
		return
	}
	p := &pendingTx{id: req.Tx, origin: origin(r), c: req.Change, fn: fn, a: a}
	ps.mu.Lock()
	ps.pending = p
	p.timer = time.AfterFunc(prepareTTL, func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if ps.pending == p {
			ps.pending = nil
			s.releaseSlot()
			s.log.Error("control: a prepared change got no outcome from its shard and was dropped", "tx", p.id, "shard", p.origin)
		}
	})
	ps.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

// take removes the pending transaction id of shard from and stops its
// timer; nil if it is not the one pending.
func (ps *peerSet) take(id string, from int) *pendingTx {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.pending
	if p == nil || p.id != id || p.origin != from || !p.timer.Stop() {
		return nil
	}
	ps.pending = nil
	return p
}

func (ps *peerSet) commit(w http.ResponseWriter, r *http.Request) {
	var req txRequest
	if !decode(w, r, &req) {
		return
	}
	s := ps.s
	p := ps.take(req.Tx, origin(r))
	if p == nil {
		ps.mu.Lock()
		dup := false
		for _, d := range ps.done {
			dup = dup || d == req.Tx
		}
		ps.mu.Unlock()
		if dup { // a re-sent commit whose answer was lost
			writeJSON(w, http.StatusOK, struct{}{})
			return
		}
		writeError(w, http.StatusNotFound, []ErrorEntry{entry(&firewall.Error{Code: ErrShardTxNotFound, Rule: -1, Value: req.Tx,
			Msg: "no such prepared change (it expired or was aborted)"})})
		return
	}
	_, err := s.applyLocal(p.c, p.fn, p.a, p.origin)
	s.releaseSlot()
	if err != nil {
		s.log.Error("control: a prepared change failed to apply", "tx", p.id, "shard", p.origin, "err", err)
		refuse(w, err)
		return
	}
	ps.mu.Lock()
	ps.done = append(ps.done, p.id)
	if len(ps.done) > doneKeep {
		ps.done = ps.done[len(ps.done)-doneKeep:]
	}
	ps.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (ps *peerSet) abort(w http.ResponseWriter, r *http.Request) {
	var req txRequest
	if !decode(w, r, &req) {
		return
	}
	if p := ps.take(req.Tx, origin(r)); p != nil {
		ps.s.releaseSlot()
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// forwardProbe runs a probe from an instance of another shard on that
// shard, which alone runs its netstack.
func (ps *peerSet) forwardProbe(ctx context.Context, req ProbeRequest) (topology.Result, error) {
	owner := topology.ShardOf(req.From, len(ps.ctl.Peers())+1)
	if !ps.ctl.PeerUp(owner) {
		return topology.Result{}, &firewall.Error{Code: ErrShardUnavailable, Rule: -1, Field: "from", Value: req.From,
			Msg: fmt.Sprintf("%s runs on shard %d, which is down (no WireGuard handshake or keepalive for %s)", req.From, owner, netstack.DefaultShardDownAfter)}
	}
	body, _ := json.Marshal(req)
	timeout := 2 * time.Second
	if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	var res topology.Result
	if err := ps.callWithin(ctx, timeout+peerTimeout, owner, peerPathProbe, body, &res); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return res, ae
		}
		return res, &firewall.Error{Code: ErrShardUnavailable, Rule: -1, Field: "from", Value: req.From,
			Msg: fmt.Sprintf("%s runs on shard %d, which did not answer over the shard link: %v", req.From, owner, err)}
	}
	return res, nil
}

// probe runs a probe another shard forwarded (from one of this shard's
// instances).
func (ps *peerSet) probe(w http.ResponseWriter, r *http.Request) {
	var req ProbeRequest
	if !decode(w, r, &req) {
		return
	}
	if !ps.s.lab.Local(req.From) {
		refuse(w, &firewall.Error{Code: ErrInstanceNotFound, Rule: -1, Field: "from", Value: req.From,
			Msg: fmt.Sprintf("%s does not run on shard %d", req.From, ps.ctl.Index())})
		return
	}
	res, err := ps.s.runProbe(r.Context(), req)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
