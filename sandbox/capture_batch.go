package sandbox

import (
	"io"
	"slices"
	"sync"

	"github.com/vpclab/vpclab/netstack"
)

// batchWriter passes writes to the underlying writer from a goroutine of
// its own, which writes everything that is waiting in one write as soon as
// the previous one returned: nothing waits for a timer or a full buffer,
// but frames that arrive while a write system call runs share the next one
// (group commit). On this project's VM one write costs 8–30 µs whatever its
// size, about what a 64 KiB frame takes to cross the VPC, so a write per
// frame in the data path halves the throughput. At most max bytes wait;
// Write waits for room beyond that, so a writer slower than the VPC slows
// the VPC down rather than losing frames. The first write error fails every
// later Write and Close.
//
// A frame queued with writeFrame is not copied by the caller: the batch
// keeps a reference to its buffer views and the goroutine copies its bytes
// into the write, on its own core, off the data path.
type batchWriter struct {
	w   io.Writer
	max int

	mu      sync.Mutex
	work    sync.Cond // the goroutine waits for data or closing
	room    sync.Cond // writers wait for room
	pending []byte    // bytes to write, frames' data left out (see items)
	spare   []byte
	items   []batchFrame // frames to insert into pending, in order
	spareIt []batchFrame
	size    int // bytes waiting: pending and the frames' data
	out     []byte
	closing bool
	err     error
	done    chan struct{}
}

// batchFrame is a frame's data waiting in a batch: its first n bytes go
// before pending[at].
type batchFrame struct {
	at, n int
	f     netstack.FrameData
}

// maxBatchFrames bounds the frames a batch holds by reference (beyond it,
// writeFrame waits as for bytes): about 40 bytes each.
const maxBatchFrames = 1 << 14

// newBatchWriter starts a batchWriter over w holding at most max bytes;
// Close ends its goroutine.
func newBatchWriter(w io.Writer, max int) *batchWriter {
	// The buffers hold max bytes and one more frame from the start, so
	// appending never reallocates.
	b := &batchWriter{w: w, max: max, done: make(chan struct{}),
		pending: make([]byte, 0, max+MaxSnapLen), spare: make([]byte, 0, max+MaxSnapLen),
		items: make([]batchFrame, 0, maxBatchFrames), spareIt: make([]batchFrame, 0, maxBatchFrames),
		out: make([]byte, 0, max+2*MaxSnapLen)}
	b.work.L, b.room.L = &b.mu, &b.mu
	go b.run()
	return b
}

func (b *batchWriter) run() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.pending) == 0 && len(b.items) == 0 && !b.closing {
			b.work.Wait()
		}
		if len(b.pending) == 0 && len(b.items) == 0 {
			return
		}
		buf, items := b.pending, b.items
		b.pending, b.items, b.size = b.spare[:0], b.spareIt[:0], 0
		failed := b.err != nil
		b.mu.Unlock()
		var err error
		if !failed {
			err = b.write(buf, items)
		}
		for k := range items {
			items[k].f.Release()
			items[k] = batchFrame{}
		}
		b.mu.Lock()
		if err != nil && b.err == nil {
			b.err = err
		}
		b.spare, b.spareIt = buf[:0], items[:0]
		b.room.Broadcast()
	}
}

// write writes buf with the frames' data inserted, in one write. It runs
// in the goroutine, without the lock.
func (b *batchWriter) write(buf []byte, items []batchFrame) error {
	out := buf
	if len(items) > 0 {
		out = b.out[:0]
		prev := 0
		for _, it := range items {
			out = append(out, buf[prev:it.at]...)
			out = it.f.AppendTo(out, it.n)
			prev = it.at
		}
		out = append(out, buf[prev:]...)
		b.out = out[:0]
	}
	_, err := b.w.Write(out)
	return err
}

// wait waits until n more bytes (and, for a frame, one more item) fit, and
// returns the error that fails the write, if any. The caller holds b.mu.
func (b *batchWriter) wait(n int, frame bool) error {
	for b.err == nil && !b.closing &&
		(b.size > 0 && b.size+n > b.max || frame && len(b.items) == cap(b.items)) {
		b.room.Wait()
	}
	if b.err != nil {
		return b.err
	}
	if b.closing {
		return io.ErrClosedPipe
	}
	return nil
}

// Write queues a copy of p.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.wait(len(p), false); err != nil {
		return 0, err
	}
	b.pending = append(b.pending, p...)
	b.size += len(p)
	b.work.Signal()
	return len(p), nil
}

// writeFrame queues head, the first n bytes of f and tail, keeping a
// reference to f's views instead of copying it: the goroutine copies the
// bytes when it writes them.
func (b *batchWriter) writeFrame(head []byte, f netstack.FrameData, n int, tail []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	total := len(head) + n + len(tail)
	if err := b.wait(total, true); err != nil {
		return err
	}
	b.pending = append(b.pending, head...)
	b.items = append(b.items, batchFrame{at: len(b.pending), n: n, f: f.Clone()})
	b.pending = append(b.pending, tail...)
	b.size += total
	b.work.Signal()
	return nil
}

// grab waits for room as Write does and returns the next n bytes of the
// batch for the caller to fill in place (one copy, straight from where the
// data is), holding the batch's lock: the caller must call filled next,
// and only when grab returned no error.
func (b *batchWriter) grab(n int) ([]byte, error) {
	b.mu.Lock()
	if err := b.wait(n, false); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	at := len(b.pending)
	b.pending = slices.Grow(b.pending, n)[:at+n]
	b.size += n
	return b.pending[at : at+n : at+n], nil
}

// filled hands what grab returned to the writing goroutine.
func (b *batchWriter) filled() {
	b.work.Signal()
	b.mu.Unlock()
}

// Close writes what is waiting, ends the goroutine and returns the first
// write error. It is safe to call twice.
func (b *batchWriter) Close() error {
	b.mu.Lock()
	b.closing = true
	b.work.Signal()
	b.room.Broadcast()
	b.mu.Unlock()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
