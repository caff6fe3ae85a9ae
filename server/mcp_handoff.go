package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Connection hand-off between Fiber and net/http on one port.
//
// Fiber (fasthttp) accepts every connection. The MCP streamable HTTP
// transport needs a net/http ResponseWriter that really streams (Fiber's
// adaptor buffers whole responses), so the /mcp route takes the connection
// over: it writes the request it was given back into a byte prefix, and
// passes the raw connection with that prefix to an http.Server that serves
// connections from a queue (connQueue). The http.Server then reads that
// request again and every later one on the same connection. A later request
// for another path (a client's connection pool reusing the connection) is
// handed back to Fiber the same way. Each hand-off unwraps the previous
// one, so a connection that alternates keeps a constant depth.
//
// Nothing of this runs for a connection that never asks for /mcp: the chat
// routes see Fiber as before, plus one static route.

// handoffConn is a connection whose first bytes are prefix, then conn's.
// bounced marks a connection net/http handed back to Fiber: its first
// request was not for /mcp by net/http's reading, so Fiber must not hand
// that request over again (two parsers that disagree on a path, e.g.
// "//mcp", would otherwise pass it back and forth for ever).
type handoffConn struct {
	net.Conn
	mu      sync.Mutex
	prefix  []byte
	bounced bool
}

func (c *handoffConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// rest takes what is left of the prefix.
func (c *handoffConn) rest() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.prefix
	c.prefix = nil
	return r
}

// rewrap returns conn with prefix in front, unwrapping a handoffConn so
// that hand-offs do not nest.
func rewrap(conn net.Conn, prefix []byte, bounced bool) net.Conn {
	if hc, ok := conn.(*handoffConn); ok {
		prefix = append(prefix, hc.rest()...)
		conn = hc.Conn
	}
	return &handoffConn{Conn: conn, prefix: prefix, bounced: bounced}
}

// connQueue is a net.Listener whose connections are pushed to it.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// push hands c to the server, or reports false once the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

// unsafeConner is fasthttp's hijacked connection: UnsafeConn is the
// connection it wraps, without its read buffer.
type unsafeConner interface{ UnsafeConn() net.Conn }

// drainBuffered reads what c has already buffered (fasthttp's read buffer
// of a hijacked connection) without waiting for the network: reads against
// a deadline in the past return buffered bytes and then time out before
// any system call.
func drainBuffered(c net.Conn) ([]byte, error) {
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return out, c.SetDeadline(time.Time{})
}

// fiberToHTTP takes a Fiber request's connection over for the net/http
// server: the request is replayed from a prefix. Fiber writes no response.
func (m *mcpService) fiberToHTTP(c *fiber.Ctx) error {
	rc := c.Context()
	hc, _ := rc.Conn().(*handoffConn)
	if c.Path() != mcpPath || (hc != nil && hc.bounced && rc.ConnRequestNum() == 1) {
		// Fiber's routing ignores case and a trailing slash; MCP's does not.
		return notFound(fmt.Sprintf("no route %s %s (the MCP server is at %s)", c.Method(), c.Path(), mcpPath))
	}
	if !m.start() {
		return unavailable("the server is shutting down")
	}
	head := fiberRequestBytes(c)
	rc.HijackSetNoResponse(true)
	rc.Hijack(func(hj net.Conn) {
		buffered, err := drainBuffered(hj)
		if err != nil {
			hj.Close()
			return
		}
		u, ok := hj.(unsafeConner)
		if !ok { // fasthttp would recycle the buffer hj reads from
			m.s.log.Error("mcp: fasthttp's hijacked connection has no UnsafeConn; closing it")
			hj.Close()
			return
		}
		raw := u.UnsafeConn()
		if !m.conns.push(rewrap(raw, append(head, buffered...), false)) {
			raw.Close()
		}
	})
	return nil
}

// fiberRequestBytes is the request c holds, in HTTP/1.1 wire form, with its
// body (already read, de-chunked) under a Content-Length.
func fiberRequestBytes(c *fiber.Ctx) []byte {
	rc := c.Context()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", rc.Method(), rc.RequestURI(), rc.Request.Header.Protocol())
	rc.Request.Header.VisitAll(func(k, v []byte) {
		if skipReplayHeader(string(k)) {
			return
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
		b.WriteString("\r\n")
	})
	body := rc.Request.Body()
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// skipReplayHeader leaves out the framing headers a replayed request gets
// anew, and Expect: the first server already answered 100 Continue.
func skipReplayHeader(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "expect":
		return true
	}
	return false
}

// httpToFiber hands a net/http request for another path, with its
// connection, back to Fiber.
func (m *mcpService) httpToFiber(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(m.s.opts.BodyLimit)+1))
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "this connection cannot be handed over", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", r.Method, r.RequestURI, r.Proto, r.Host)
	for k, vs := range r.Header {
		if skipReplayHeader(k) {
			continue
		}
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	if n := rw.Reader.Buffered(); n > 0 {
		rest, _ := rw.Reader.Peek(n)
		b.Write(rest)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return
	}
	// ServeConn closes the connection when it is done with it.
	_ = m.s.app.Server().ServeConn(rewrap(conn, b.Bytes(), true))
}
