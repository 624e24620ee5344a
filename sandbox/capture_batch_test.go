package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
)

// slowWriter records writes, each after a delay.
type slowWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

// TestBatchWriterKeepsOrderAndBatches: everything arrives, in order, and
// writes made while one is in flight share the next.
func TestBatchWriterKeepsOrderAndBatches(t *testing.T) {
	sw := &slowWriter{delay: time.Millisecond}
	b := newBatchWriter(sw, 1<<10)
	var want bytes.Buffer
	for i := range 500 {
		line := fmt.Sprintf("frame %d\n", i)
		want.WriteString(line)
		n, err := b.Write([]byte(line))
		require.NoError(t, err)
		require.Equal(t, len(line), n)
	}
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "twice is harmless")
	assert.Equal(t, want.String(), sw.buf.String())
	assert.Less(t, sw.writes, 100, "500 small writes while each write takes 1 ms share writes")
	_, err := b.Write([]byte("late"))
	assert.ErrorIs(t, err, io.ErrClosedPipe)
}

// TestBatchWriterBound: a writer slower than its producer makes Write wait
// once max bytes are waiting.
func TestBatchWriterBound(t *testing.T) {
	sw := &slowWriter{delay: 20 * time.Millisecond}
	b := newBatchWriter(sw, 100)
	defer b.Close()
	start := time.Now()
	for range 10 {
		_, err := b.Write(make([]byte, 60))
		require.NoError(t, err)
	}
	assert.Greater(t, time.Since(start), 60*time.Millisecond, "10 × 60 bytes through a 100-byte bound wait for the writer")
}

// TestBatchWriterError: a failed write fails later writes and Close.
func TestBatchWriterError(t *testing.T) {
	b := newBatchWriter(&failAfter{n: 0}, 1<<10)
	_, _ = b.Write([]byte("x"))
	require.ErrorIs(t, b.Close(), errDiskFull)
	_, err := b.Write([]byte("y"))
	require.ErrorIs(t, err, errDiskFull)
}

// TestBatchWriterFramesByReference: frames queued by reference come out
// in order with the bytes written around them, cut to their length, and
// their bytes are read when written, not when queued.
func TestBatchWriterFramesByReference(t *testing.T) {
	sw := &slowWriter{delay: time.Millisecond}
	b := newBatchWriter(sw, 1<<10)
	var want bytes.Buffer
	for i := range 300 {
		frame := []byte(fmt.Sprintf("<frame %d payload>", i))
		n := len(frame) - i%3 // some cut short, as by a snap length
		head, tail := []byte(fmt.Sprintf("[%d:", i)), []byte("]")
		f := netstack.FrameFromBytes(frame)
		require.NoError(t, b.writeFrame(head, f, n, tail))
		f.Release() // the batch holds its own reference
		want.Write(head)
		want.Write(frame[:n])
		want.Write(tail)
		if i%7 == 0 {
			_, err := b.Write([]byte("raw\n"))
			require.NoError(t, err)
			want.WriteString("raw\n")
		}
	}
	require.NoError(t, b.Close())
	assert.Equal(t, want.String(), sw.buf.String())
	assert.Less(t, sw.writes, 150, "frames queued while a write runs share the next")
	f := netstack.FrameFromBytes([]byte("late"))
	defer f.Release()
	assert.ErrorIs(t, b.writeFrame(nil, f, 4, nil), io.ErrClosedPipe)
}

// TestBatchWriterFrameBound: frames count against the bound like bytes.
func TestBatchWriterFrameBound(t *testing.T) {
	sw := &slowWriter{delay: 20 * time.Millisecond}
	b := newBatchWriter(sw, 100)
	defer b.Close()
	f := netstack.FrameFromBytes(make([]byte, 60))
	defer f.Release()
	start := time.Now()
	for range 10 {
		require.NoError(t, b.writeFrame(nil, f, 60, nil))
	}
	assert.Greater(t, time.Since(start), 60*time.Millisecond, "10 × 60 bytes through a 100-byte bound wait for the writer")
}
