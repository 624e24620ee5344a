package netstack

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpclab/vpclab/firewall"
)

// DropEvent describes one frame the data plane dropped.
type DropEvent struct {
	Time     time.Time
	From, To string // instance or internet host names ("" unknown)
	// Flow is the frame's five-tuple as the deciding step saw it: the
	// VPC-side private view (after inbound translation, before outbound).
	Flow        firewall.Tuple
	Verdict     firewall.Verdict // code, direction, deciding entry
	Explanation firewall.Explanation
}

// DropSubscription receives drop events on C. Its buffer is bounded: when it
// is full, events are counted as missed and the data path goes on.
type DropSubscription struct {
	C <-chan DropEvent

	c      chan DropEvent
	hub    *dropHub
	mu     sync.RWMutex // senders hold it for reading; Close for writing
	closed bool
	missed atomic.Uint64
}

// Close ends the subscription and closes C. It is safe to call twice.
func (s *DropSubscription) Close() {
	s.hub.remove(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

// Missed returns how many events were dropped because C was full.
func (s *DropSubscription) Missed() uint64 { return s.missed.Load() }

func (s *DropSubscription) send(ev *DropEvent) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.c <- *ev:
	default:
		s.missed.Add(1)
	}
}

// dropHub fans drop events out to subscribers. The subscriber list is
// copy-on-write, so the data path checks for subscribers with one atomic
// load and builds an event only when someone listens.
type dropHub struct {
	mu   sync.Mutex
	subs atomic.Pointer[[]*DropSubscription]
}

func (h *dropHub) subscribe(buffer int) *DropSubscription {
	if buffer < 1 {
		buffer = 1
	}
	c := make(chan DropEvent, buffer)
	s := &DropSubscription{C: c, c: c, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	var next []*DropSubscription
	if old := h.subs.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	h.subs.Store(&next)
	return s
}

func (h *dropHub) remove(s *DropSubscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.subs.Load()
	if old == nil {
		return
	}
	next := make([]*DropSubscription, 0, len(*old))
	for _, x := range *old {
		if x != s {
			next = append(next, x)
		}
	}
	h.subs.Store(&next)
}

// active reports whether anyone listens.
func (h *dropHub) active() bool {
	s := h.subs.Load()
	return s != nil && len(*s) > 0
}

// publish sends ev to every subscriber without blocking.
func (h *dropHub) publish(ev *DropEvent) {
	s := h.subs.Load()
	if s == nil {
		return
	}
	for _, sub := range *s {
		sub.send(ev)
	}
}

// closeAll closes every subscription.
func (h *dropHub) closeAll() {
	s := h.subs.Load()
	if s == nil {
		return
	}
	for _, sub := range *s {
		sub.Close()
	}
}
