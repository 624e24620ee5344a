package netstack

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// recordCapture keeps what a Capture was handed.
type recordCapture struct {
	mu      sync.Mutex
	frames  []capturedFrame
	dropped []capturedDrop
}

type capturedFrame struct {
	name     string
	kind     OwnerKind
	dir      firewall.Direction
	src, dst netip.Addr
	n, size  int
}

type capturedDrop struct {
	name string
	kind OwnerKind
	n    int // len(ip)
	size int
	ev   DropEvent
}

func (r *recordCapture) Frame(name string, kind OwnerKind, dir firewall.Direction, ip []byte, size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, capturedFrame{name, kind, dir,
		netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), len(ip), size})
}

// snapCapture is a recordCapture that keeps snap bytes of each frame.
type snapCapture struct {
	recordCapture
	snap int
}

func (s *snapCapture) SnapLen() int { return s.snap }

func (r *recordCapture) Dropped(name string, kind OwnerKind, ip []byte, size int, ev *DropEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped = append(r.dropped, capturedDrop{name, kind, len(ip), size, *ev})
}

func (r *recordCapture) snapshot() ([]capturedFrame, []capturedDrop) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]capturedFrame(nil), r.frames...), append([]capturedDrop(nil), r.dropped...)
}

// TestAddCaptureSeesFramesAndDrops: a VPC-wide capture sees frames on every
// NIC, internet hosts included (even one added after it started), and a
// blocked SYN on the NIC whose ingress rules dropped it, with its verdict.
func TestAddCaptureSeesFramesAndDrops(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "0.0.0.0/0")}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Groups: []string{"sg-web"}, EIP: netip.MustParseAddr("47.0.0.80")})
	createGroup(t, v, firewall.Group{Name: "sg-cli"})
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Groups: []string{"sg-cli"}})
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	all := &recordCapture{}
	remove, err := v.AddCapture(all)
	require.NoError(t, err)
	host := addHost(t, v, "client", "203.0.113.7")

	_, body, err := httpGet(ctxTimeout(t, allowWait), host, netip.MustParseAddrPort("47.0.0.80:80"))
	require.NoError(t, err)
	assert.Equal(t, "web\n", body)
	err = probe(cli, "tcp", ap(web.Addr(), 22), 300*time.Millisecond)
	require.Error(t, err, "port 22 is closed by sg-web")
	remove()
	remove() // twice is harmless

	frames, drops := all.snapshot()
	seen := map[capturedFrame]bool{}
	for _, f := range frames {
		seen[capturedFrame{name: f.name, kind: f.kind, dir: f.dir}] = true
	}
	for _, want := range []capturedFrame{
		{name: "client", kind: OwnerInternetHost, dir: firewall.Egress},
		{name: "client", kind: OwnerInternetHost, dir: firewall.Ingress},
		{name: "web", kind: OwnerInstance, dir: firewall.Ingress},
		{name: "web", kind: OwnerInstance, dir: firewall.Egress},
		{name: "cli", kind: OwnerInstance, dir: firewall.Egress},
	} {
		assert.True(t, seen[want], "no %v frame on %s", want.dir, want.name)
	}
	require.NotEmpty(t, drops, "the blocked SYN is handed to Dropped")
	d := drops[0]
	assert.Equal(t, "web", d.name, "an ingress drop is charged to the receiver's NIC")
	assert.Equal(t, OwnerInstance, d.kind)
	assert.Equal(t, firewall.SGDefaultDeny, d.ev.Verdict.Code)
	assert.Equal(t, firewall.Ingress, d.ev.Verdict.Dir)
	assert.Equal(t, "cli", d.ev.From)
	assert.Equal(t, "web", d.ev.To)
	assert.Equal(t, d.size, d.n, "a SYN is all headers: the whole frame is handed over")

	nFrames, nDrops := len(frames), len(drops)
	_, _, err = httpGet(ctxTimeout(t, allowWait), host, netip.MustParseAddrPort("47.0.0.80:80"))
	require.NoError(t, err)
	require.Error(t, probe(cli, "tcp", ap(web.Addr(), 22), 100*time.Millisecond))
	frames, drops = all.snapshot()
	assert.Equal(t, nFrames, len(frames), "no frame after remove")
	assert.Equal(t, nDrops, len(drops), "no drop after remove")
}

// TestAddCaptureNamedNICs: a capture of some NICs sees only those; several
// captures and SetCapture watch the same NIC independently.
func TestAddCaptureNamedNICs(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg", Rules: []firewall.Rule{allowIn("tcp", "7/7", "10.0.0.0/16")}})
	a := addInstance(t, v, InstanceSpec{Name: "a", Groups: []string{"sg"}})
	b := addInstance(t, v, InstanceSpec{Name: "b", Groups: []string{"sg"}})
	serve(t, b, ServiceSpec{Kind: ServiceEcho, Port: 7})

	onB, onB2 := &recordCapture{}, &recordCapture{}
	removeB, err := v.AddCapture(onB, "b")
	require.NoError(t, err)
	removeB2, err := v.AddCapture(onB2, "b")
	require.NoError(t, err)
	var legacy sync.Mutex
	legacyFrames := 0
	v.SetCapture("b", func(firewall.Direction, []byte) { legacy.Lock(); legacyFrames++; legacy.Unlock() })

	require.NoError(t, probe(a, "tcp", ap(b.Addr(), 7), allowWait))
	removeB2()
	require.NoError(t, probe(a, "tcp", ap(b.Addr(), 7), allowWait))
	removeB()
	v.SetCapture("b", nil)

	fb, _ := onB.snapshot()
	fb2, _ := onB2.snapshot()
	require.NotEmpty(t, fb)
	for _, f := range fb {
		assert.Equal(t, "b", f.name, "a capture of b sees only b's NIC")
	}
	assert.Less(t, len(fb2), len(fb), "the capture removed first saw only the first probe")
	legacy.Lock()
	assert.Equal(t, len(fb), legacyFrames, "SetCapture sees what AddCapture sees")
	legacy.Unlock()

	_, err = v.AddCapture(onB, "b", "nope")
	var verr *Error
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, ErrInstanceNotFound, verr.Code)
	assert.Contains(t, verr.Msg, `"nope"`)
}

// TestAddCaptureSnapLen: a Snapper gets no more than its snap length of a
// frame and the frame's whole size — unless another capture of the NIC
// wants more, when both get as much as the larger wants.
func TestAddCaptureSnapLen(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.0.0.0/16")}})
	a := addInstance(t, v, InstanceSpec{Name: "a", Groups: []string{"sg"}})
	b := addInstance(t, v, InstanceSpec{Name: "b", Groups: []string{"sg"}})
	serve(t, b, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	get := func() {
		t.Helper()
		_, _, err := httpGet(ctxTimeout(t, allowWait), a, ap(b.Addr(), 80))
		require.NoError(t, err)
	}
	longest := func(fs []capturedFrame) (n, size int) {
		for _, f := range fs {
			n, size = max(n, f.n), max(size, f.size)
		}
		return n, size
	}

	s40 := &snapCapture{snap: 40}
	remove40, err := v.AddCapture(s40, "b")
	require.NoError(t, err)
	get()
	f40, _ := s40.snapshot()
	n, size := longest(f40)
	assert.Equal(t, 40, n, "a Snapper gets its snap length")
	assert.Greater(t, size, 40, "and each frame's whole size")

	s60, whole := &snapCapture{snap: 60}, &recordCapture{}
	remove60, err := v.AddCapture(s60, "b")
	require.NoError(t, err)
	f40, _ = s40.snapshot()
	seen40 := len(f40)
	get()
	f40, _ = s40.snapshot()
	n, _ = longest(f40[seen40:])
	assert.Equal(t, 60, n, "the larger snap length of two")

	removeWhole, err := v.AddCapture(whole)
	require.NoError(t, err)
	get()
	fw, _ := whole.snapshot()
	for _, f := range fw {
		assert.Equal(t, f.size, f.n, "a capture without a snap length gets whole frames")
	}
	removeWhole()
	remove60()
	remove40()
}
