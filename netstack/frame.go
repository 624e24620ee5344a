package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// maxHeaderBytes is the most a Filter is promised to see contiguously: the
// largest IPv4 header, an ICMP error header, the largest quoted IPv4 header
// and the 8 quoted transport bytes. A TCP header with all its options
// (60 + 60 bytes) fits too.
const maxHeaderBytes = 60 + 8 + 60 + 8

// IPv4 protocol numbers and ICMP types the header walk looks at.
const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17

	icmpDestUnreachable = 3
	icmpSourceQuench    = 4
	icmpRedirect        = 5
	icmpTimeExceeded    = 11
	icmpParamProblem    = 12
)

// headerLen returns how many bytes from the start of the IPv4 packet b a
// filter needs: the IPv4 header plus the transport header (TCP with its
// options, UDP, ICMP; for an ICMP error also the quoted IPv4 header and the 8
// bytes after it), capped at the packet's size. ok is false when b is too
// short to hold them (or to tell how many there are).
func headerLen(b []byte, size int) (n int, ok bool) {
	if len(b) < 20 {
		return 0, false
	}
	ihl := int(b[0]&0x0f) * 4
	n = ihl
	if ihl >= 20 && b[6]&0x1f == 0 && b[7] == 0 { // first (or only) fragment
		switch b[9] {
		case protoTCP:
			if len(b) < ihl+13 {
				if size < ihl+13 {
					return size, len(b) >= size
				}
				return 0, false
			}
			n = ihl + max(20, int(b[ihl+12]>>4)*4)
		case protoUDP:
			n = ihl + 8
		case protoICMP:
			n = ihl + 8
			if len(b) < ihl+9 {
				if size < ihl+9 {
					return size, len(b) >= size
				}
				return 0, false
			}
			switch b[ihl] {
			case icmpDestUnreachable, icmpSourceQuench, icmpRedirect, icmpTimeExceeded, icmpParamProblem:
				n += int(b[ihl+8]&0x0f)*4 + 8
			}
		}
	}
	n = min(n, size)
	return n, len(b) >= n
}

// scratchPool holds buffers for frames whose headers are not contiguous in
// the sender's first buffer view (ICMP messages built by the IP layer put
// their ICMP header in the payload).
var scratchPool = sync.Pool{New: func() any { return new([maxHeaderBytes]byte) }}

// frameHeaders returns the frame's IPv4 header and transport header as one
// contiguous slice (see headerLen), valid until release is called with the
// returned scratch (which may be nil). In the common case — TCP and UDP
// packets built by gVisor, whose headers are pushed into one reserved view —
// the slice aliases the packet and nothing is copied.
func frameHeaders(pkt *stack.PacketBuffer) (hdr []byte, scratch *[maxHeaderBytes]byte) {
	views, off := pkt.AsViewList()
	v := views.Front()
	for v != nil && off >= v.Size() {
		off -= v.Size()
		v = v.Next()
	}
	if v == nil {
		return nil, nil
	}
	first := v.AsSlice()[off:]
	size := pkt.Size()
	if n, ok := headerLen(first, size); ok {
		return first[:n], nil
	}
	// Gather the first bytes of the packet from as many views as needed.
	scratch = scratchPool.Get().(*[maxHeaderBytes]byte)
	want := min(size, maxHeaderBytes)
	got := copy(scratch[:want], first)
	for v = v.Next(); v != nil && got < want; v = v.Next() {
		got += copy(scratch[got:want], v.AsSlice())
	}
	n, _ := headerLen(scratch[:got], size)
	return scratch[:n], scratch
}

func releaseScratch(scratch *[maxHeaderBytes]byte) {
	if scratch != nil {
		scratchPool.Put(scratch)
	}
}
