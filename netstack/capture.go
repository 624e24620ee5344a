package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
)

// CaptureFunc receives one frame crossing a port: tx is true for frames the
// port's VNIC transmitted (as the instance sent them, before any NAT), false
// for frames delivered to it (after NAT). ip is the whole raw IPv4 packet,
// valid only during the call. It runs in the sending stack's goroutine and
// must not block for long: the data path waits for it.
type CaptureFunc func(tx bool, ip []byte)

// FrameData is a frame crossing a port as the stack holds it: gVisor's
// buffer views, scattered. A capture copies what it keeps straight from
// them (AppendTo), once, instead of getting a flattened copy first. It is
// valid only during the call that hands it over.
type FrameData struct {
	buf buffer.Buffer
}

// Len returns the frame's whole length.
func (f FrameData) Len() int { return int(f.buf.Size()) }

// AppendTo appends the frame's first n bytes (all of them when n is larger
// or negative) to dst and returns the extended slice; it allocates only when
// dst lacks the room.
func (f FrameData) AppendTo(dst []byte, n int) []byte {
	size := int(f.buf.Size())
	if n < 0 || n > size {
		n = size
	}
	at := len(dst)
	if cap(dst)-at < n {
		grown := make([]byte, at, at+n)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:at+n]
	f.buf.ReadAt(dst[at:], 0)
	return dst
}

// Clone returns a FrameData that shares the frame's bytes (the views'
// chunks are reference-counted: no byte is copied) and stays valid after
// the call that handed f over, until Release. A capture that copies
// frames later, off the data path, keeps a clone.
func (f FrameData) Clone() FrameData { return FrameData{buf: f.buf.Clone()} }

// Release drops a clone's references; the clone must not be used after.
func (f FrameData) Release() { f.buf.Release() }

// FrameFromBytes returns a FrameData over a copy of b, to hand a
// ViewCapture a frame outside the data path (a replay, a test); Release
// it after.
func FrameFromBytes(b []byte) FrameData {
	return FrameData{buf: buffer.MakeWithData(b)}
}

// captureRef is a port's capture hook: fn gets the frame's first snap
// bytes (0: all of them), flattened, and its whole size; views gets the
// frame as it is. Either may be nil.
type captureRef struct {
	fn    func(tx bool, ip []byte, size int)
	views func(tx bool, f FrameData)
	snap  int
}

// captureBuffers hold flattened frames for capture hooks (a frame is at most
// 64 KiB, a TCP super-segment).
var captureBuffers = sync.Pool{New: func() any { return new([1 << 16]byte) }}

// frame hands buf, which it takes ownership of, to the hooks: as views to
// one that takes them, flattened (a copy) to one that needs a slice.
func (c *captureRef) frame(tx bool, buf buffer.Buffer) {
	if c.views != nil {
		c.views(tx, FrameData{buf: buf})
	}
	if c.fn != nil {
		flat := captureBuffers.Get().(*[1 << 16]byte)
		size := int(buf.Size())
		n := min(size, len(flat))
		if c.snap > 0 {
			n = min(n, c.snap)
		}
		n, _ = buf.ReadAt(flat[:n], 0)
		c.fn(tx, flat[:n], size)
		captureBuffers.Put(flat)
	}
	buf.Release()
}

// SetCapture installs fn as the port's capture hook (nil removes it). A
// pcap writer attaches here; without a hook the data path pays one atomic
// load per frame.
func (p *Port) SetCapture(fn CaptureFunc) {
	if fn == nil {
		p.capture.Store(nil)
		return
	}
	p.setCapture(func(tx bool, ip []byte, _ int) { fn(tx, ip) }, nil, 0)
}

// setCapture installs the port's capture hook: fn gets the first snap
// bytes of each frame (0: all) flattened and the frame's size, views the
// frame's views; both nil remove it.
func (p *Port) setCapture(fn func(tx bool, ip []byte, size int), views func(tx bool, f FrameData), snap int) {
	if fn == nil && views == nil {
		p.capture.Store(nil)
		return
	}
	p.capture.Store(&captureRef{fn: fn, views: views, snap: snap})
}
