package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// dialTLS opens a TLS connection to the gateway; the handshake completes
// only once the gateway has accepted the connection and serves it.
func dialTLS(addr string, protos ...string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mustServeRequest sends a request on c and wants the gateway's 404.
func mustServeRequest(tb testing.TB, c net.Conn) {
	tb.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /nothing HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		tb.Fatalf("status %d, want 404", resp.StatusCode)
	}
}

// TestMaxConnsPerSource: an untrusted source gets MaxConnsPerSource
// connections and the next is closed unserved (until one of its own
// closes); a trusted proxy at the same address is not limited.
func TestMaxConnsPerSource(t *testing.T) {
	const limit = 3
	m := NewMetrics()
	s := serveDeps(t, func(c *Config) { c.MaxConnsPerSource = limit }, func(d *Deps) { d.Metrics = m })
	var held []*tls.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range limit {
		c, err := dialTLS(s.addr)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		held = append(held, c)
	}
	mustServeRequest(t, held[0])
	if c, err := dialTLS(s.addr); err == nil {
		c.Close()
		t.Fatalf("connection %d from one untrusted source was served", limit+1)
	}
	rec := s.logs.waitFor(t, "", func(r logRecord) bool { return strings.Contains(r.Msg, "MaxConnsPerSource") })
	if rec.Attrs["source"] != "127.0.0.1/32" || rec.Attrs["limit"] != int64(limit) {
		t.Errorf("refusal logged as %v", rec.Attrs)
	}
	if n := testutil.ToFloat64(m.refused); n != 1 {
		t.Errorf("connections_refused_total %v, want 1", n)
	}

	// One of the source's connections closes: its slot frees once the
	// gateway has seen the close.
	held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialTLS(s.addr)
		if err == nil {
			held = append(held, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one of the source's closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustServeRequest(t, held[len(held)-1])

	// The same address as a trusted proxy: no per-source limit.
	tp := serve(t, func(c *Config) {
		c.MaxConnsPerSource = limit
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for i := range 2 * limit {
		c, err := dialTLS(tp.addr)
		if err != nil {
			t.Fatalf("trusted proxy, connection %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	mustServeRequest(t, held[len(held)-1])
}

// TestSourcePrefix: IPv4 sources are counted per address, IPv6 per /64.
func TestSourcePrefix(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tc := range tests {
		if got := sourcePrefix(netip.MustParseAddr(tc.addr)); got.String() != tc.want {
			t.Errorf("sourcePrefix(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

const sendMailPath = pathEAS + "?Cmd=SendMail&User=jane&DeviceId=D1&DeviceType=iPhone"

// trickle writes chunk to w every interval until stop is closed or a
// write fails.
func trickle(w io.Writer, chunk []byte, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// slowUpload sends a SendMail whose body of size bytes comes as chunk
// every interval on a raw HTTP/1.1 connection, and returns the status the
// gateway answered (0 if it closed the connection instead) and how long
// after the body began that took. It gives up after limit.
func slowUpload(tb testing.TB, s *served, size int, chunk []byte, interval, limit time.Duration) (int, time.Duration) {
	tb.Helper()
	c, err := dialTLS(s.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic amFuZTp4\r\nMS-ASProtocolVersion: 14.1\r\nContent-Type: message/rfc822\r\nContent-Length: %d\r\n\r\n", sendMailPath, size)
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go trickle(c, chunk, interval, stop)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		tb.Fatalf("body of %d B/s not cut within %v", int(float64(len(chunk))/interval.Seconds()), limit)
	case err != nil:
		return 0, took // the connection was closed under the response
	}
	resp.Body.Close()
	if !resp.Close {
		tb.Errorf("%d without closing the connection: the rest of the body would be read as a request", resp.StatusCode)
	}
	return resp.StatusCode, took
}

// TestMinBodyRate: a body trickling below MinBodyRate is cut with 408
// about one BodyRateWindow into it, over HTTP/1.1 and HTTP/2, while an
// upload at full speed and one paced well above the rate pass.
func TestMinBodyRate(t *testing.T) {
	s := serve(t, func(c *Config) {
		c.MinBodyRate = 4096
		c.BodyRateWindow = time.Second
	})
	// 64 bytes every 100 ms: 640 B/s, always well within BodyIdleTimeout.
	status, took := slowUpload(t, s, 1<<20, bytes.Repeat([]byte("x"), 64), 100*time.Millisecond, 15*time.Second)
	t.Logf("slow body: status %d after %v", status, took)
	if status != http.StatusRequestTimeout && status != 0 {
		t.Errorf("slow body: status %d, want 408", status)
	}
	if took > 8*time.Second {
		t.Errorf("slow body cut after %v, want about the 1 s window", took)
	}
	rec := s.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["cmd"] == "SendMail" })
	if err, _ := rec.Attrs["err"].(string); rec.Attrs["status"] != int64(408) || !strings.Contains(err, "minimum rate") {
		t.Errorf("slow body logged %v", rec.Attrs)
	}

	// HTTP/2: the stream is cut, the connection's other streams live on.
	c := tlsClient(t, s.proxy.cfg.CertFile, true)
	pr, pw := io.Pipe()
	stop := make(chan struct{})
	go trickle(pw, bytes.Repeat([]byte("y"), 64), 100*time.Millisecond, stop)
	defer close(stop)
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+sendMailPath, pr)
	req.Header.Set("MS-ASProtocolVersion", "14.1")
	req.Header.Set("Authorization", "Basic amFuZTp4") // jane:x
	start := time.Now()
	done := make(chan struct{})
	var resp *http.Response
	var err error
	go func() { resp, err = c.Do(req); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		pw.CloseWithError(errors.New("test over"))
		<-done
		t.Fatal("HTTP/2 slow body not cut within 15 s")
	}
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || resp.ProtoMajor != 2 {
			t.Errorf("HTTP/2 slow body: %d %s, want 408 over HTTP/2", resp.StatusCode, resp.Proto)
		}
	}
	took = time.Since(start)
	t.Logf("HTTP/2 slow body: %v after %v", err, took)
	if took > 8*time.Second {
		t.Errorf("HTTP/2 slow body cut after %v", took)
	}

	// Full speed, 2 MB.
	big := bytes.Repeat([]byte("z"), 2<<20)
	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+sendMailPath, bytes.NewReader(big))
		req.Header.Set("MS-ASProtocolVersion", "14.1")
		req.Header.Set("Authorization", "Basic amFuZTp4") // jane:x
		resp, err := tlsClient(t, s.proxy.cfg.CertFile, h2).Do(req)
		if err != nil {
			t.Fatalf("h2=%v fast upload: %v", h2, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("h2=%v fast upload: %d", h2, resp.StatusCode)
		}
	}
	// Paced at 80 KiB/s, twenty times the minimum, across two windows.
	pr, pw = io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("p"), 4096)
		for range 40 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the client's pace, not synchronisation
		}
		pw.Close()
	}()
	req, _ = http.NewRequest(http.MethodPost, "https://"+s.addr+sendMailPath, pr)
	req.Header.Set("MS-ASProtocolVersion", "14.1")
	req.Header.Set("Authorization", "Basic amFuZTp4") // jane:x
	resp, err = tlsClient(t, s.proxy.cfg.CertFile, false).Do(req)
	if err != nil {
		t.Fatalf("paced upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("paced upload: %d", resp.StatusCode)
	}
	got := s.mail.requests()
	if n := len(got[len(got)-1].Body); n != 40*4096 {
		t.Errorf("paced upload: the mail server got %d bytes, want %d", n, 40*4096)
	}
}

// TestBodyTimeout: a body still coming after BodyTimeout is cut with 408,
// however steadily it comes.
func TestBodyTimeout(t *testing.T) {
	s := serve(t, func(c *Config) {
		c.MinBodyRate = -1
		c.BodyTimeout = time.Second
	})
	// 4 KiB every 50 ms, a megabyte: about 12 s if it were let through.
	status, took := slowUpload(t, s, 1<<20, bytes.Repeat([]byte("x"), 4096), 50*time.Millisecond, 15*time.Second)
	t.Logf("status %d after %v", status, took)
	if status != http.StatusRequestTimeout && status != 0 {
		t.Errorf("status %d, want 408", status)
	}
	if took > 8*time.Second {
		t.Errorf("cut after %v, want about the 1 s BodyTimeout", took)
	}
	rec := s.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["cmd"] == "SendMail" })
	if err, _ := rec.Attrs["err"].(string); rec.Attrs["status"] != int64(408) || !strings.Contains(err, "BodyTimeout") {
		t.Errorf("logged %v", rec.Attrs)
	}
}

// h2conn is a minimal HTTP/2 client that ignores the server's
// SETTINGS_MAX_CONCURRENT_STREAMS, as an attacker would: Go's client
// would queue or open another connection instead.
type h2conn struct {
	c  *tls.Conn
	mu sync.Mutex
	// per stream: frame types received
	frames map[uint32][]uint8
	goaway bool
	err    error
}

const (
	h2Headers  = 0x1
	h2RST      = 0x3
	h2Settings = 0x4
	h2Ping     = 0x6
	h2GoAway   = 0x7
)

func dialH2(tb testing.TB, addr string) *h2conn {
	tb.Helper()
	c, err := dialTLS(addr, "h2")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		tb.Fatalf("negotiated %q, want h2", p)
	}
	h := &h2conn{c: c, frames: map[uint32][]uint8{}}
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		tb.Fatal(err)
	}
	h.writeFrame(tb, h2Settings, 0, 0, nil)
	go h.readLoop()
	return h
}

func (h *h2conn) writeFrame(tb testing.TB, typ, flags uint8, stream uint32, payload []byte) {
	tb.Helper()
	var hdr [9]byte
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream&0x7fffffff)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.c.Write(append(hdr[:], payload...)); err != nil {
		tb.Fatalf("write frame: %v", err)
	}
}

// readLoop records the frames the server sends and acknowledges its
// SETTINGS and PINGs.
func (h *h2conn) readLoop() {
	br := bufio.NewReader(h.c)
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags := hdr[3], hdr[4]
		stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return
		}
		var reply []byte
		switch {
		case typ == h2Settings && flags&0x1 == 0:
			reply = []byte{0, 0, 0, h2Settings, 0x1, 0, 0, 0, 0}
		case typ == h2Ping && flags&0x1 == 0:
			reply = append([]byte{0, 0, 8, h2Ping, 0x1, 0, 0, 0, 0}, payload...)
		}
		h.mu.Lock()
		if reply != nil {
			_, _ = h.c.Write(reply)
		}
		if typ == h2GoAway {
			h.goaway = true
		}
		if stream != 0 {
			h.frames[stream] = append(h.frames[stream], typ)
		}
		h.mu.Unlock()
	}
}

// hpackLiteral encodes a header field as a literal without indexing and
// without Huffman coding (RFC 7541 section 6.2.2).
func hpackLiteral(b []byte, name, value string) []byte {
	b = append(b, 0)
	for _, s := range []string{name, value} {
		b = hpackInt(b, 7, len(s))
		b = append(b, s...)
	}
	return b
}

// hpackInt encodes n with an N-bit prefix (RFC 7541 section 5.1), the
// prefix's other bits zero.
func hpackInt(b []byte, bits uint, n int) []byte {
	max := 1<<bits - 1
	if n < max {
		return append(b, byte(n))
	}
	b = append(b, byte(max))
	for n -= max; n >= 128; n >>= 7 {
		b = append(b, byte(n&0x7f|0x80))
	}
	return append(b, byte(n))
}

// request opens a stream with a bodiless POST.
func (h *h2conn) request(tb testing.TB, stream uint32, authority, path string) {
	tb.Helper()
	var block []byte
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "https"}, {":authority", authority}, {":path", path},
		{"ms-asprotocolversion", "14.1"}, {"authorization", "Basic amFuZTp4"}, // jane:x
	} {
		block = hpackLiteral(block, f[0], f[1])
	}
	h.writeFrame(tb, h2Headers, 0x4|0x1, stream, block) // END_HEADERS, END_STREAM
}

// count returns how many streams got a frame of type typ.
func (h *h2conn) count(typ uint8) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, types := range h.frames {
		for _, t := range types {
			if t == typ {
				n++
				break
			}
		}
	}
	return n
}

// TestHTTP2MaxStreams: a client opening more HTTP/2 streams on one
// connection than HTTP2MaxStreams gets the excess reset; the mail server
// never sees more requests from that connection at once than the bound,
// each on its one upstream connection.
func TestHTTP2MaxStreams(t *testing.T) {
	const bound, opened = 4, 12
	s := serve(t, func(c *Config) { c.HTTP2MaxStreams = bound })
	var inFlight, most atomic.Int64
	conns := struct {
		sync.Mutex
		m map[string]int
	}{m: map[string]int{}}
	release := make(chan struct{})
	s.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		conns.Lock()
		conns.m[r.RemoteAddr]++
		dup := conns.m[r.RemoteAddr] > 1
		conns.Unlock()
		if dup {
			t.Errorf("two requests at once on upstream connection %s", r.RemoteAddr)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		conns.Lock()
		conns.m[r.RemoteAddr]--
		conns.Unlock()
		return false
	})
	h := dialH2(t, s.addr)
	for i := range opened {
		h.request(t, uint32(2*i+1), s.addr, syncPath)
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < bound || h.count(h2RST) < opened-bound {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("after %v: %d requests at the mail server, %d streams reset; want %d and %d (max at once %d)",
				10*time.Second, inFlight.Load(), h.count(h2RST), bound, opened-bound, most.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := most.Load(); m > bound {
		t.Errorf("the mail server saw %d requests at once from one client connection, want at most %d", m, bound)
	}
	// The held requests complete; the connection stays usable.
	close(release)
	for h.count(h2Headers) < bound {
		if time.Now().After(deadline) {
			t.Fatalf("%d responses, want %d", h.count(h2Headers), bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := most.Load(); m > bound {
		t.Errorf("the mail server saw %d requests at once from one client connection, want at most %d", m, bound)
	}
}

// TestMaxUpstreamConns: the gateway opens at most MaxUpstreamConns
// connections to the mail server; further requests wait for one and are
// then served.
func TestMaxUpstreamConns(t *testing.T) {
	const limit, clients = 2, 6
	m := NewMetrics()
	s := serveDeps(t, func(c *Config) { c.MaxUpstreamConns = limit }, func(d *Deps) { d.Metrics = m })
	var inFlight, most atomic.Int64
	release := make(chan struct{})
	s.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	c := tlsClient(t, s.proxy.cfg.CertFile, true) // HTTP/2: requests beyond the limit wait inside the gateway
	errc := make(chan error, clients)
	for range clients {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+syncPath, nil)
			req.Header.Set("MS-ASProtocolVersion", "14.1")
			req.Header.Set("Authorization", "Basic amFuZTp4") // jane:x
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errc <- err
		}()
	}
	// Every request is in the gateway, only limit of them at the server.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.inFlight) < clients || inFlight.Load() < limit {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%v requests in the gateway, %d at the mail server", testutil.ToFloat64(m.inFlight), inFlight.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := most.Load(); n > limit {
		t.Errorf("%d requests at the mail server at once, want at most %d", n, limit)
	}
	close(release)
	for range clients {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if n := most.Load(); n > limit {
		t.Errorf("%d requests at the mail server at once, want at most %d", n, limit)
	}
}

// TestBodyLimitsSpareLongPoll: a Ping whose body has arrived may wait for
// its answer far longer than BodyRateWindow and BodyTimeout, over HTTP/1.1
// and HTTP/2.
func TestBodyLimitsSpareLongPoll(t *testing.T) {
	const hold = 2500 * time.Millisecond
	s := serve(t, func(c *Config) {
		c.MinBodyRate = 1 << 20
		c.BodyRateWindow = time.Second
		c.BodyTimeout = time.Second
	})
	s.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		select { // the server holding the long poll
		case <-time.After(hold):
		case <-r.Context().Done():
		}
		return false
	})
	var wg sync.WaitGroup
	for _, h2 := range []bool{false, true} {
		c := tlsClient(t, s.proxy.cfg.CertFile, h2)
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+strings.Replace(syncPath, "Cmd=Sync", "Cmd=Ping", 1),
				strings.NewReader("heartbeat"))
			req.Header.Set("MS-ASProtocolVersion", "14.1")
			req.Header.Set("Authorization", "Basic amFuZTp4") // jane:x
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("h2=%v: %v", h2, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || time.Since(start) < hold {
				t.Errorf("h2=%v: Ping %d after %v, want 200 after the server's %v", h2, resp.StatusCode, time.Since(start), hold)
			}
		})
	}
	wg.Wait()
}

// TestUnreadBodyBounded: a request the gateway answers without reading
// its body (an unknown path; a mail server that cannot be reached) is
// answered within the body limits even while the client trickles the
// body: Go's HTTP/1 server reads what is left of a body before it writes
// the response.
func TestUnreadBodyBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name, path string
		upstream   string
		status     int
	}{
		{"unknown path", "/nothing", "", http.StatusNotFound},
		{"mail server down", sendMailPath, "https://" + down, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, func(c *Config) {
				c.MinBodyRate = 4096
				c.BodyRateWindow = time.Second
				if tc.upstream != "" {
					c.Upstream = tc.upstream
				}
			})
			c, err := dialTLS(s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic amFuZTp4\r\nMS-ASProtocolVersion: 14.1\r\nContent-Length: 100000\r\n\r\n", tc.path)
			stop := make(chan struct{})
			defer close(stop)
			start := time.Now()
			go trickle(c, []byte("x"), 100*time.Millisecond, stop)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no response after %v: %v", time.Since(start), err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("status %d close=%v, want %d and the connection closed", resp.StatusCode, resp.Close, tc.status)
			}
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("answered after %v, want about the 1 s window", took)
			}
		})
	}
}
