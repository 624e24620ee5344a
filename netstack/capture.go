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

// captureRef is a port's capture hook: fn gets the frame's first snap
// bytes (0: all of them) and its whole size.
type captureRef struct {
	fn   func(tx bool, ip []byte, size int)
	snap int
}

// captureBuffers hold flattened frames for capture hooks (a frame is at most
// 64 KiB, a TCP super-segment).
var captureBuffers = sync.Pool{New: func() any { return new([1 << 16]byte) }}

// frame flattens buf, which it takes ownership of, and calls the hook.
func (c *captureRef) frame(tx bool, buf buffer.Buffer) {
	flat := captureBuffers.Get().(*[1 << 16]byte)
	size := int(buf.Size())
	n := min(size, len(flat))
	if c.snap > 0 {
		n = min(n, c.snap)
	}
	n, _ = buf.ReadAt(flat[:n], 0)
	buf.Release()
	c.fn(tx, flat[:n], size)
	captureBuffers.Put(flat)
}

// SetCapture installs fn as the port's capture hook (nil removes it). A
// pcap writer attaches here; without a hook the data path pays one atomic
// load per frame.
func (p *Port) SetCapture(fn CaptureFunc) {
	if fn == nil {
		p.capture.Store(nil)
		return
	}
	p.setCapture(func(tx bool, ip []byte, _ int) { fn(tx, ip) }, 0)
}

// setCapture installs fn as the port's capture hook, handing it the first
// snap bytes of each frame (0: all) and the frame's size; nil removes it.
func (p *Port) setCapture(fn func(tx bool, ip []byte, size int), snap int) {
	if fn == nil {
		p.capture.Store(nil)
		return
	}
	p.capture.Store(&captureRef{fn: fn, snap: snap})
}
