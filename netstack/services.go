package netstack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Service kinds an instance can run.
const (
	ServiceHTTP   = "http"   // answers GET and HEAD with the instance name
	ServiceEcho   = "echo"   // TCP: copies the stream back; UDP: returns each datagram
	ServiceBanner = "banner" // TCP: writes its text, holds the connection (BannerHold); UDP: answers each datagram with it
)

// ServiceSpec describes a built-in service.
type ServiceSpec struct {
	Kind     string // ServiceHTTP, ServiceEcho or ServiceBanner
	Port     uint16
	Protocol string // "tcp" (default) or "udp"; http is TCP only
	Text     string // the banner; "" is DefaultBanner(instance, Port)
}

// httpReadTimeout bounds how long the http service waits for a request.
const httpReadTimeout = 30 * time.Second

// Serve starts a built-in service. It runs until the instance closes; its
// goroutines (one per listener, one per TCP connection) end with Close.
// Port AllPorts starts a catch-all service (services_all.go).
func (i *Instance) Serve(spec ServiceSpec) error {
	proto := spec.Protocol
	if proto == "" {
		proto = "tcp"
	}
	if spec.Port == AllPorts {
		return i.serveAll(spec, proto)
	}
	var handle func(net.Conn)
	var answer func([]byte) []byte
	switch {
	case spec.Kind == ServiceHTTP && proto == "tcp":
		handle = i.serveHTTP
	case spec.Kind == ServiceEcho && proto == "tcp":
		handle = serveEcho
	case spec.Kind == ServiceEcho && proto == "udp":
		answer = func(b []byte) []byte { return b }
	case spec.Kind == ServiceBanner && proto == "tcp":
		text, hold := bannerBytes(i.name, spec), bannerHold
		handle = func(c net.Conn) { serveBanner(c, text, hold) }
	case spec.Kind == ServiceBanner && proto == "udp":
		text := bannerBytes(i.name, spec)
		answer = func([]byte) []byte { return text }
	default:
		return fmt.Errorf("instance %s: serve %s/%s on port %d: unsupported service", i.name, spec.Kind, proto, spec.Port)
	}

	var c io.Closer
	var err error
	if handle != nil {
		c, err = i.Listen(spec.Port)
	} else {
		c, err = i.ListenPacket(spec.Port)
	}
	if err != nil {
		return err
	}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		c.Close()
		return fmt.Errorf("instance %s: serve %s: instance closed", i.name, spec.Kind)
	}
	i.services = append(i.services, c)
	i.wg.Add(1)
	i.mu.Unlock()

	if handle != nil {
		go i.acceptLoop(c.(net.Listener), handle)
	} else {
		go i.packetLoop(c.(net.PacketConn), answer)
	}
	return nil
}

// acceptLoop runs one TCP service until its listener is closed.
func (i *Instance) acceptLoop(l net.Listener, handle func(net.Conn)) {
	defer i.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return // the listener or the stack was closed
		}
		i.wg.Add(1) // legal during Close's Wait: this goroutine still counts
		go func() {
			defer i.wg.Done()
			defer c.Close()
			handle(c)
		}()
	}
}

// packetLoop runs one UDP service until its socket is closed.
func (i *Instance) packetLoop(pc net.PacketConn, answer func([]byte) []byte) {
	defer i.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if i.isClosed() {
				return
			}
			continue // an ICMP error about an earlier answer, for instance
		}
		pc.WriteTo(answer(buf[:n]), from)
	}
}

// BannerHold is how long a TCP banner keeps a connection open after its
// text when the client does not close it first. A real client (ssh, an
// SMTP client) sends its own greeting after reading the server's and
// reports a connection closed before it spoke as a failure.
const BannerHold = 10 * time.Second

// bannerHold is BannerHold; tests shorten it. Serve reads it once per
// service.
var bannerHold = BannerHold

// DefaultBanner is the text of a banner service without one: a plausible
// greeting for the port, naming the instance where the protocol does.
// 22: an SSH identification string; 25, 465, 587: an SMTP 220 greeting;
// any other port: the instance name.
func DefaultBanner(instance string, port uint16) string {
	switch port {
	case 22:
		return "SSH-2.0-OpenSSH_9.6"
	case 25, 465, 587:
		return "220 " + instance + " ESMTP vpclab"
	}
	return instance
}

// bannerBytes is what a banner service writes: its text (DefaultBanner
// when empty) followed by CRLF unless the text already ends a line. SSH
// (RFC 4253 §4.2) and SMTP (RFC 5321 §4.2) clients read the greeting as a
// CRLF-terminated line. UDP answers carry the same bytes.
func bannerBytes(instance string, spec ServiceSpec) []byte {
	text := spec.Text
	if text == "" {
		text = DefaultBanner(instance, spec.Port)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\r\n"
	}
	return []byte(text)
}

// serveBanner writes text, then reads and discards what the client sends
// until it closes or hold has passed since the connection was accepted,
// and returns (the caller closes c).
func serveBanner(c net.Conn, text []byte, hold time.Duration) {
	c.SetDeadline(time.Now().Add(hold))
	if _, err := c.Write(text); err != nil {
		return
	}
	io.Copy(io.Discard, c) // io.Discard reads through a small pooled buffer
}

func (i *Instance) isClosed() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closed
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func serveEcho(c net.Conn) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	io.CopyBuffer(c, c, *buf)
}

// httpMaxHeaderBytes bounds the request line and headers the http service
// reads, as net/http's server does (http.DefaultMaxHeaderBytes, plus the
// same 4 KiB of bufio slack): a longer request is answered with 431.
const httpMaxHeaderBytes = http.DefaultMaxHeaderBytes + 4<<10

// httpLinger bounds the lingering close after an answer: the service
// half-closes, then reads and discards at most httpLingerBytes for at most
// httpLinger, so that a client still sending (a body the service never
// reads, an overlong request) gets the answer instead of a RST that
// discards it. net/http waits 500 ms (rstAvoidanceDelay) and discards at
// most 256 KiB of an unread body (maxPostHandlerReadBytes).
const (
	httpLinger      = 500 * time.Millisecond
	httpLingerBytes = 256 << 10
)

// http431 is net/http's answer to a request whose headers are too large.
const http431 = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"

// serveHTTP answers one request and closes the connection. It is a minimal
// responder over http.ReadRequest rather than an http.Server: every
// goroutine it runs is the instance's (http.Server keeps a background read
// goroutine per connection and does not wait for its handlers on Close),
// and a probe needs no keep-alive.
//
// It holds at most httpMaxHeaderBytes of a request and never reads a body:
// what the client sends beyond the headers stays in the TCP receive buffer
// (bounded by the window) until the lingering close discards a bounded
// amount of it.
func (i *Instance) serveHTTP(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(httpReadTimeout))
	limited := &io.LimitedReader{R: c, N: httpMaxHeaderBytes}
	req, err := http.ReadRequest(bufio.NewReaderSize(limited, 4<<10))
	if err != nil {
		if limited.N <= 0 {
			io.WriteString(c, http431)
			lingerClose(c)
		}
		return
	}
	status, body := "200 OK", i.name+"\n"
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		status, body = "405 Method Not Allowed", "method not allowed\n"
	}
	resp := make([]byte, 0, 128+len(body))
	resp = append(resp, "HTTP/1.1 "...)
	resp = append(resp, status...)
	resp = append(resp, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	resp = strconv.AppendInt(resp, int64(len(body)), 10)
	resp = append(resp, "\r\nConnection: close\r\n\r\n"...)
	if req.Method != http.MethodHead {
		resp = append(resp, body...)
	}
	if _, err := c.Write(resp); err != nil {
		return
	}
	lingerClose(c)
}

// lingerClose half-closes c after an answer and discards what the client
// still sends, within httpLinger and httpLingerBytes; the caller then
// closes c. A client that closes after reading the answer ends it at once.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() != nil {
			return
		}
	}
	c.SetReadDeadline(time.Now().Add(httpLinger))
	io.CopyN(io.Discard, c, httpLingerBytes)
}
