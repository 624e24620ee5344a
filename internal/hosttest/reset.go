// Package hosttest holds helpers for tests that act as host clients of an
// exposed port: what one host socket sees, shared by the topology and CLI
// tests.
package hosttest

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// ResetAtOnce dials addr and reports an error unless the connection is
// reset within a second, at its connect (the reset overtook it) or at its
// first read.
func ResetAtOnce(addr string) error {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%v, want ECONNRESET", err)
	}
	if d := time.Since(start); d > time.Second {
		return fmt.Errorf("reset after %v, want at once", d)
	}
	return nil
}
