package topology

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestExposeProxyAlloc: moving bytes through an exposed connection
// allocates nothing per read or write, idle timeout armed included (the
// deadlines are set once per idle period, not per read).
func TestExposeProxyAlloc(t *testing.T) {
	if exposeUnderRace {
		t.Skip("the race detector allocates; make test runs this without it")
	}
	host, client := net.Pipe()
	vc, instance := net.Pipe()
	p := &proxy{host: host, vc: vc, idle: time.Minute, start: time.Now()}
	done := make(chan bool)
	go func() { done <- p.run() }()
	defer func() {
		client.Close()
		instance.Close()
		<-done
	}()

	msg, got := make([]byte, 1500), make([]byte, 1500)
	roundTrip := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(instance, got); err != nil {
			t.Fatal(err)
		}
		if _, err := instance.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the copy buffers come from their pool once
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Errorf("a round trip through the proxy allocates %v times, want 0", n)
	}
}

// sizeRecorder is a net.Conn that records the size of each write.
type sizeRecorder struct {
	net.Conn
	sizes chan int
}

func (r *sizeRecorder) Write(b []byte) (int, error) {
	r.sizes <- len(b)
	return r.Conn.Write(b)
}

// TestExposeProxyBulkBuffer: a direction whose read fills the small copy
// buffer moves to the bulk one, so a bulk transfer is copied 64 KiB at a
// time after its first 16 KiB.
func TestExposeProxyBulkBuffer(t *testing.T) {
	host, client := net.Pipe()
	vcEnd, instance := net.Pipe()
	vc := &sizeRecorder{Conn: vcEnd, sizes: make(chan int, 64)}
	p := &proxy{host: host, vc: vc, start: time.Now()}
	done := make(chan bool)
	go func() { done <- p.run() }()
	defer func() {
		client.Close()
		instance.Close()
		<-done
	}()
	go client.Write(make([]byte, copyBufferSize+3*bulkBufferSize))
	go io.Copy(io.Discard, instance)
	var got []int
	for range 4 {
		got = append(got, <-vc.sizes)
	}
	want := []int{copyBufferSize, bulkBufferSize, bulkBufferSize, bulkBufferSize}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("writes of %v bytes, want %v", got, want)
		}
	}
}
