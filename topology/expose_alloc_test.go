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
