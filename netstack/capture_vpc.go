package netstack

import (
	"slices"
	"sync/atomic"

	"github.com/vpclab/vpclab/firewall"
)

// Capture watches a VPC's NICs: the frames crossing them and the frames the
// data plane drops. Its methods run in the sending stack's goroutine,
// concurrently for different frames, and must not block for long: the data
// path waits for them. ip is valid only during the call.
type Capture interface {
	// Frame gets one frame crossing the NIC of endpoint name, an instance
	// or an internet host (kind says which): Egress as the endpoint sent it
	// (before any NAT), Ingress as delivered to it (after NAT). ip is the
	// whole frame, or its first SnapLen bytes for a Snapper; size is the
	// frame's whole length.
	Frame(name string, kind OwnerKind, dir firewall.Direction, ip []byte, size int)
	// Dropped gets a frame the data plane dropped, on the NIC the drop is
	// charged to (the receiver's for an ingress security-group verdict, the
	// sender's otherwise; see NICStats), with the event saying why. ip is
	// the frame as sent, as far as the firewall saw it: its headers and the
	// payload bytes that were contiguous with them; size is the frame's
	// whole length. The frame was already seen by Frame as the sender's
	// Egress frame.
	Dropped(name string, kind OwnerKind, ip []byte, size int, ev *DropEvent)
}

// Snapper is a Capture that keeps at most SnapLen bytes of each frame (0:
// all): the data path copies no more than the largest snap length of the
// captures watching a NIC.
type Snapper interface {
	SnapLen() int
}

// ViewCapture is a Capture that takes frames as the stack holds them,
// scattered over gVisor's buffer views, and copies what it keeps from
// them itself: FrameViews is called instead of Frame, and the data path
// makes no flattened copy for it. A capture file of whole frames moves
// every byte a VPC carries, twice (each NIC); a copy less is most of its
// cost.
type ViewCapture interface {
	Capture
	FrameViews(name string, kind OwnerKind, dir firewall.Direction, f FrameData)
}

// tap is one Capture started on some NICs (nil names: every NIC, including
// those added later).
type tap struct {
	c     Capture
	names map[string]bool
}

func (t *tap) covers(name string) bool { return t.names == nil || t.names[name] }

// AddCapture starts c on the NICs of the named instances and internet hosts
// (no names: every NIC of the VPC, including those added later) and returns
// a function that stops it; once that returns, c is not called again. An
// unknown name is an ErrInstanceNotFound error and starts nothing. Several
// captures may watch the same NIC.
func (v *VPC) AddCapture(c Capture, names ...string) (remove func(), err error) {
	t := &tap{c: c}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, vpcErr(ErrVPCClosed, "vpc %s: closed", v.name)
	}
	if len(names) > 0 {
		t.names = make(map[string]bool, len(names))
		for _, n := range names {
			if _, ok := v.endpoints[n]; !ok {
				return nil, vpcErr(ErrInstanceNotFound, "capture: no instance or internet host %q in vpc %s", n, v.name)
			}
			t.names[n] = true
		}
	}
	v.taps = append(v.taps, t)
	v.retap(t)
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.taps = slices.DeleteFunc(v.taps, func(x *tap) bool { return x == t })
		v.retap(t)
	}, nil
}

// retap reinstalls the capture hooks of the NICs t covers (all, when t
// covers every NIC) and the drop taps. The caller holds v.mu.
func (v *VPC) retap(t *tap) {
	for name, ep := range v.endpoints {
		if t.covers(name) {
			v.tapEndpoint(ep)
		}
	}
	drops := slices.Clone(v.taps)
	v.dropTaps.Store(&drops)
}

// tapEndpoint installs on ep's port one hook calling every tap covering it
// (none: no hook, so the data path pays one atomic load). ViewCaptures get
// the frame's views; the others share one flattened copy, of the largest
// snap length among them. The caller holds v.mu.
func (v *VPC) tapEndpoint(ep *endpoint) {
	var cs []Capture
	var vcs []ViewCapture
	snap := 0
	for _, t := range v.taps {
		if !t.covers(ep.name) {
			continue
		}
		if vc, ok := t.c.(ViewCapture); ok {
			vcs = append(vcs, vc)
			continue
		}
		n := 0
		if s, ok := t.c.(Snapper); ok {
			n = s.SnapLen()
		}
		if len(cs) == 0 || snap > 0 && (n <= 0 || n > snap) {
			snap = max(n, 0)
		}
		cs = append(cs, t.c)
	}
	name, kind := ep.name, ep.kind
	var flat func(tx bool, ip []byte, size int)
	var views func(tx bool, f FrameData)
	if len(cs) > 0 {
		flat = func(tx bool, ip []byte, size int) {
			dir := firewall.Ingress
			if tx {
				dir = firewall.Egress
			}
			for _, c := range cs {
				c.Frame(name, kind, dir, ip, size)
			}
		}
	}
	if len(vcs) > 0 {
		views = func(tx bool, f FrameData) {
			dir := firewall.Ingress
			if tx {
				dir = firewall.Egress
			}
			for _, c := range vcs {
				c.FrameViews(name, kind, dir, f)
			}
		}
	}
	ep.port.setCapture(flat, views, snap)
}

// captureDrop hands a dropped frame to every tap covering the endpoint it
// is charged to. ev is built only when a tap covers it.
func (v *VPC) captureDrop(charge *endpoint, ip []byte, size int, ev *DropEvent) {
	taps := v.dropTaps.Load()
	if taps == nil || charge == nil {
		return
	}
	for _, t := range *taps {
		if t.covers(charge.name) {
			t.c.Dropped(charge.name, charge.kind, ip, size, ev)
		}
	}
}

// funcCapture adapts SetCapture's function to a Capture of frames only.
type funcCapture func(dir firewall.Direction, ip []byte)

func (f funcCapture) Frame(_ string, _ OwnerKind, dir firewall.Direction, ip []byte, _ int) {
	f(dir, ip)
}

func (funcCapture) Dropped(string, OwnerKind, []byte, int, *DropEvent) {}

// captures reports whether a tap covers the NIC of ep: one atomic load
// when no capture runs.
func (v *VPC) captures(ep *endpoint) bool {
	taps := v.dropTaps.Load()
	if taps == nil || ep == nil {
		return false
	}
	for _, t := range *taps {
		if t.covers(ep.name) {
			return true
		}
	}
	return false
}
