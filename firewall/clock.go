package firewall

import (
	"sync"
	"sync/atomic"
	"time"
)

// Tick is a coarse timestamp in whole seconds since a Clock started.
type Tick = uint32

// Clock is the coarse clock of the connection-tracking table: the data path
// reads an atomic counter of seconds instead of calling time.Now for every
// packet. A real clock refreshes the counter from a ticker goroutine every
// 250 ms (Start/Stop); a manual clock (NewManualClock) moves only when the
// caller calls Advance, which makes timeouts testable without sleeping.
type Clock struct {
	now    atomic.Uint32
	offset atomic.Int64 // nanoseconds added by Advance
	base   time.Time
	manual bool

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// clockPeriod is how often a real clock refreshes its counter.
const clockPeriod = 250 * time.Millisecond

// NewClock returns a real clock, not yet running: call Start, and Stop when
// done.
func NewClock() *Clock { return &Clock{base: time.Now()} }

// NewManualClock returns a clock that stands still until Advance moves it.
func NewManualClock() *Clock { return &Clock{manual: true} }

// Now returns the current tick.
func (c *Clock) Now() Tick { return c.now.Load() }

// Advance moves the clock forward by d (both kinds of clock).
func (c *Clock) Advance(d time.Duration) {
	c.offset.Add(int64(d))
	c.refresh()
}

func (c *Clock) refresh() {
	d := time.Duration(c.offset.Load())
	if !c.manual {
		d += time.Since(c.base)
	}
	c.now.Store(Tick(d / time.Second))
}

// Start runs the refresh goroutine of a real clock; it is a no-op for a
// manual clock or one already running.
func (c *Clock) Start() {
	if c.manual {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.run(c.stop, c.done)
}

func (c *Clock) run(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(clockPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.refresh()
		}
	}
}

// Stop ends the refresh goroutine and waits for it to exit. It is safe to
// call more than once.
func (c *Clock) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop == nil {
		return
	}
	close(c.stop)
	<-c.done
	c.stop, c.done = nil, nil
}

// ticks converts a duration to whole ticks, at least 1.
func ticks(d time.Duration) uint32 {
	t := d / time.Second
	if t < 1 {
		t = 1
	}
	if t > 1<<30 {
		t = 1 << 30
	}
	return uint32(t)
}
