package netstack

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// viewCapture copies every frame it is handed as views into a buffer it
// reuses, and records the last one per direction.
type viewCapture struct {
	recordCapture // Frame is never called for a ViewCapture
	mu            sync.Mutex
	views         int
	last          map[firewall.Direction][]byte
	buf           []byte
}

func (v *viewCapture) FrameViews(_ string, _ OwnerKind, dir firewall.Direction, f FrameData) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.views++
	v.buf = f.AppendTo(v.buf[:0], -1)
	if v.last != nil {
		v.last[dir] = append(v.last[dir][:0], v.buf...)
	}
}

// TestViewCaptureGetsWholeFramesWithoutACopy: a ViewCapture gets each
// frame's bytes from the views, on both NICs, beside a flat capture with a
// snap length, and the data path allocates nothing for either.
func TestViewCaptureGetsWholeFramesWithoutACopy(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg", Rules: []firewall.Rule{allowIn("udp", "1/65535", "10.0.0.0/16")}})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg"}})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", Addr: netip.MustParseAddr("10.0.1.20"), Groups: []string{"sg"}})
	srv.NIC().Attach(&countingDispatcher{})
	vc := &viewCapture{last: map[firewall.Direction][]byte{}, buf: make([]byte, 0, 1<<16)}
	flat := &snapCapture{snap: 64}
	remove, err := v.AddCapture(vc)
	require.NoError(t, err)
	defer remove()
	removeFlat, err := v.AddCapture(flat)
	require.NoError(t, err)
	defer removeFlat()

	pkt := ipFrame(17, cli.Addr(), srv.Addr(), l4(40001, 5001, 8, 0), 3000)
	defer pkt.DecRef()
	view := pkt.ToView()
	want := bytes.Clone(view.AsSlice())
	view.Release()
	src := v.Fabric().Port(cli.Addr())
	src.transmit(pkt)
	assert.Equal(t, 2, vc.views, "the frame on the sender's and the receiver's NIC")
	assert.True(t, bytes.Equal(want, vc.last[firewall.Egress]), "egress frame differs")
	assert.True(t, bytes.Equal(want, vc.last[firewall.Ingress]), "ingress frame differs")
	frames, _ := flat.snapshot()
	require.Len(t, frames, 2)
	assert.Equal(t, 64, frames[0].n, "the flat capture gets its snap length")
	assert.Equal(t, len(want), frames[0].size)
	frames, _ = vc.snapshot()
	assert.Empty(t, frames, "a ViewCapture is not handed flat frames")

	if raceEnabled {
		return // the race detector allocates
	}
	vc.last = nil
	allocs := testing.AllocsPerRun(1000, func() { src.transmit(pkt) })
	assert.Zero(t, allocs, "allocations per captured frame")
}

func TestFrameDataAppendTo(t *testing.T) {
	pkt := ipFrame(17, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), l4(1, 2, 8, 0), 100)
	defer pkt.DecRef()
	view := pkt.ToView()
	whole := bytes.Clone(view.AsSlice())
	view.Release()
	f := FrameData{buf: pkt.ToBuffer()}
	defer f.buf.Release()
	for _, tc := range []struct {
		name string
		dst  []byte
		n    int
		want []byte
	}{
		{"all", nil, -1, whole},
		{"more than all", nil, 10000, whole},
		{"snap across views", []byte("ab"), 30, append([]byte("ab"), whole[:30]...)},
		{"none", []byte("ab"), 0, []byte("ab")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, f.AppendTo(tc.dst, tc.n))
		})
	}
	assert.Equal(t, len(whole), f.Len())
}

// copyCapture copies each frame into a reused buffer, as a capture file's
// writer copies it into its batch: flat through Frame (after the data
// path's flattening copy), or straight from the views as a ViewCapture.
type copyCapture struct {
	recordCapture
	buf []byte
}

func (c *copyCapture) Frame(_ string, _ OwnerKind, _ firewall.Direction, ip []byte, _ int) {
	c.buf = append(c.buf[:0], ip...)
}

type copyViewCapture struct{ copyCapture }

func (c *copyViewCapture) FrameViews(_ string, _ OwnerKind, _ firewall.Direction, f FrameData) {
	c.buf = f.AppendTo(c.buf[:0], -1)
}

// refViewCapture keeps a reference to each frame's views, as the pcapng
// batch does, and drops it at once (its writer would copy the bytes later,
// on its own goroutine).
type refViewCapture struct{ recordCapture }

func (*refViewCapture) FrameViews(_ string, _ OwnerKind, _ firewall.Direction, f FrameData) {
	f.Clone().Release()
}

// BenchmarkCaptureFrame measures the data path's cost of capturing one
// 64 KiB super-segment between two instances (on the sender's and the
// receiver's NIC) with no capture, a flat capture (the frame flattened,
// then copied by the capture), a ViewCapture that copies once, from the
// views, and one that only takes a reference to them (ref). The receiver is a stub, so the figure is the fabric's and the
// capture's work alone, without TCP.
func BenchmarkCaptureFrame(b *testing.B) {
	for _, mode := range []string{"off", "flat", "views", "ref"} {
		b.Run("capture="+mode, func(b *testing.B) {
			v := newTestVPC(b)
			createGroup(b, v, firewall.Group{Name: "sg", Rules: []firewall.Rule{allowIn("udp", "1/65535", "10.0.0.0/16")}})
			cli := addInstance(b, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg"}})
			srv := addInstance(b, v, InstanceSpec{Name: "srv", Addr: netip.MustParseAddr("10.0.1.20"), Groups: []string{"sg"}})
			srv.NIC().Attach(&countingDispatcher{})
			var c Capture
			switch mode {
			case "flat":
				c = &copyCapture{buf: make([]byte, 0, 1<<16)}
			case "views":
				c = &copyViewCapture{copyCapture{buf: make([]byte, 0, 1<<16)}}
			case "ref":
				c = &refViewCapture{}
			}
			if c != nil {
				remove, err := v.AddCapture(c)
				require.NoError(b, err)
				defer remove()
			}
			pkt := ipFrame(17, cli.Addr(), srv.Addr(), l4(40001, 5001, 8, 0), 65000)
			defer pkt.DecRef()
			src := v.Fabric().Port(cli.Addr())
			b.SetBytes(int64(pkt.Size()))
			b.ReportAllocs()
			for b.Loop() {
				src.transmit(pkt)
			}
		})
	}
}
