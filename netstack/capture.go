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

type captureRef struct{ fn CaptureFunc }

// captureBuffers hold flattened frames for capture hooks (a frame is at most
// 64 KiB, a TCP super-segment).
var captureBuffers = sync.Pool{New: func() any { return new([1 << 16]byte) }}

// frame flattens buf, which it takes ownership of, and calls the hook.
func (c *captureRef) frame(tx bool, buf buffer.Buffer) {
	flat := captureBuffers.Get().(*[1 << 16]byte)
	n, _ := buf.ReadAt(flat[:min(int(buf.Size()), len(flat))], 0)
	buf.Release()
	c.fn(tx, flat[:n])
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
	p.capture.Store(&captureRef{fn: fn})
}
