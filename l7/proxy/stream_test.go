package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

// TestStreamingResponse: a response the mail server flushes in parts
// reaches the client in parts, before the server has finished it.
func TestStreamingResponse(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	release := make(chan struct{})
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "multipart/related")
		_, _ = io.WriteString(w, "part-one;")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "part-two")
		return true
	})
	resp, err := http.DefaultClient.Do(e.easRequest(t, easReq{cmd: "ItemOperations", user: "jane", deviceID: "D1", devType: "iPhone"}))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("part-one;"))
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); got <- err }()
	select {
	case err := <-got:
		if err != nil || string(first) != "part-one;" {
			t.Fatalf("first part %q, %v", first, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first part did not arrive while the server held the rest: the response was buffered")
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "part-two" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// TestStreamingRequest: the request body reaches the mail server while the
// client is still sending it.
func TestStreamingRequest(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}))
	gotFirst := make(chan string, 1)
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		buf := make([]byte, 6)
		_, _ = io.ReadFull(r.Body, buf)
		gotFirst <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write(rest)
		return true
	})
	pr, pw := io.Pipe()
	req := e.easRequest(t, easReq{cmd: "SendMail", user: "jane", deviceID: "D1", devType: "iPhone"})
	req.Body = pr
	req.ContentLength = -1
	req.Header.Set("X-Test-Stream-Body", "1")
	done := make(chan result, 1)
	go func() { done <- do(t, req) }()
	if _, err := io.WriteString(pw, "chunk1"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-gotFirst:
		if s != "chunk1" {
			t.Fatalf("server read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first chunk did not reach the server before the body ended: the request was buffered")
	}
	_, _ = io.WriteString(pw, "chunk2")
	pw.Close()
	if r := <-done; r.Status != 200 || string(r.Body) != "chunk2" {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	rec := e.logs.waitFor(t, MsgTransaction, nil)
	if rec.Attrs["bytes_in"] != int64(12) || rec.Attrs["bytes_out"] != int64(6) {
		t.Errorf("bytes_in %v bytes_out %v, want 12 and 6", rec.Attrs["bytes_in"], rec.Attrs["bytes_out"])
	}
}

// TestLongPoll: a Ping may wait for the long-poll timeout while other
// commands get the short one; a slow answer to a short command is 504.
func TestLongPoll(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) {
		c.CommandTimeout = 150 * time.Millisecond
		c.LongPollTimeout = 10 * time.Second
		// Shorter than the poll: the sliding deadlines must not cut a
		// request that has sent its body and waits for its answer.
		c.BodyIdleTimeout = 100 * time.Millisecond
		c.WriteIdleTimeout = 100 * time.Millisecond
	})
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		time.Sleep(400 * time.Millisecond) // the server holding a long poll
		return false
	})
	ping := e.eas(t, easReq{cmd: "Ping", user: "jane", deviceID: "D1", devType: "iPhone", body: "heartbeat"})
	if st, _ := decodeStatus(t, ping.Body); ping.Status != 200 || st != "1" {
		t.Fatalf("Ping: %d %q", ping.Status, ping.Body)
	}
	sync := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"})
	if sync.Status != 200 {
		t.Fatalf("Sync (may carry Wait): %d", sync.Status)
	}
	fs := e.eas(t, easReq{cmd: "FolderSync", user: "jane", deviceID: "D1", devType: "iPhone"})
	if fs.Status != http.StatusGatewayTimeout || !strings.HasPrefix(string(fs.Body), "gateway:") {
		t.Fatalf("FolderSync: %d %q, want 504 with a plain body", fs.Status, fs.Body)
	}
	rec := e.logs.waitFor(t, MsgTransaction, func(r logRecord) bool { return r.Attrs["cmd"] == "FolderSync" })
	if rec.Attrs["status"] != int64(504) || !strings.Contains(rec.Attrs["err"].(string), "upstream response timeout") {
		t.Errorf("log %v", rec.Attrs)
	}
}

// TestUpstreamDown: an unreachable mail server is 502 with a plain body.
func TestUpstreamDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) { c.Upstream = "https://" + addr })
	got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"})
	if got.Status != http.StatusBadGateway || got.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("got %d %v %q", got.Status, got.Header, got.Body)
	}
}

// TestUpstreamTLSVerified: a mail server whose certificate the gateway
// does not trust is 502, unless InsecureSkipVerify, which logs a warning.
func TestUpstreamTLSVerified(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) { c.UpstreamCAFile = "" })
	if got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}); got.Status != http.StatusBadGateway {
		t.Fatalf("untrusted upstream: %d, want 502", got.Status)
	}
	if n := len(e.mail.requests()); n != 0 {
		t.Fatalf("mail server got %d requests over an unverified connection", n)
	}
	e = newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) { c.UpstreamCAFile = ""; c.InsecureSkipVerify = true })
	if got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}); got.Status != 200 {
		t.Fatalf("InsecureSkipVerify: %d", got.Status)
	}
	var warned bool
	for _, r := range e.logs.all("") {
		warned = warned || (r.Level == slog.LevelWarn && strings.Contains(r.Msg, "NOT be verified"))
	}
	if !warned {
		t.Error("no warning logged for InsecureSkipVerify")
	}
}

// TestBodyLimits: an upload over MaxRequestBodyBytes is 413; a client that
// stalls mid-body past BodyIdleTimeout is 408.
func TestBodyLimits(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{}), func(c *Config, _ *device.StoreOptions) {
		c.MaxRequestBodyBytes = 10
		c.BodyIdleTimeout = 200 * time.Millisecond
	})
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if _, err := io.ReadAll(r.Body); err != nil {
			return true
		}
		return false
	})
	got := e.eas(t, easReq{cmd: "SendMail", user: "jane", deviceID: "D1", devType: "iPhone", body: strings.Repeat("x", 100)})
	if got.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", got.Status)
	}

	c, err := net.Dial("tcp", e.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "POST "+pathEAS+"?Cmd=SendMail&User=jane&DeviceId=D1&DeviceType=iPhone HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic amFuZTp4\r\nContent-Length: 8\r\nMS-ASProtocolVersion: 14.1\r\n\r\nabc")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("stalled body: %v; logs %v", err, e.logs.all(""))
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("stalled body: %d, want 408; header %v body %q; mail saw %d; logs %v", resp.StatusCode, resp.Header, b, len(e.mail.requests()), e.logs.all(""))
	}
}
