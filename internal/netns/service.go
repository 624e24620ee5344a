package netns

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// Serve starts a service in node n: kind http, echo or banner on a TCP
// port, or echo on a UDP port. The sockets are made inside the namespace;
// the goroutines serving them end at Close.
func (l *Lab) Serve(n Node, kind, proto string, port int, text string) error {
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(port))
	var closer io.Closer
	err := inNS(n.NS, func() error {
		if proto == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			closer = pc
			l.wg.Go(func() { serveUDP(pc) })
			return nil
		}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		closer = ln
		l.wg.Go(func() { l.serveTCP(ln, kind, text) })
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		closer.Close()
		return errClosed
	}
	l.closers = append(l.closers, func() { closer.Close() })
	return nil
}

func serveUDP(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], from)
	}
}

// serveTCP answers each connection as the kind says, for at most 10 s; the
// connections end with the listener.
func (l *Lab) serveTCP(ln net.Listener, kind, text string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.wg.Go(func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			switch kind {
			case "http":
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" || line == "\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"+text+"\n")
			case "echo":
				io.Copy(c, c)
			case "banner":
				io.WriteString(c, text+"\r\n")
				io.Copy(io.Discard, c)
			case "sink":
				io.Copy(io.Discard, c)
			}
		})
	}
}
