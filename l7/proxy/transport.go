package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mailgate/enforcer/l7/configfile"
)

// newUpstreamTransport returns the pooled transport to the mail server:
// HTTP/1.1 (Exchange's EAS and EWS are served over it; a long poll per
// device would also exhaust an HTTP/2 connection's stream limit), TLS
// verified unless InsecureSkipVerify, no transparent decompression (the
// proxy passes bodies on as the server sent them), and no response header
// timeout of its own: timeoutTransport applies the per-command one.
//
// Over HTTP/1.1 a request in flight holds exactly one connection, so a
// client request (an HTTP/2 stream) holds at most one: a client
// connection holds at most HTTP2MaxStreams, and all clients together at
// most MaxUpstreamConns per host (MaxConnsPerHost; a request beyond it
// waits in the transport's queue, within its upstream response timeout).
func newUpstreamTransport(cfg *Config) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.UpstreamCAFile != "" {
		pem, err := configfile.ReadLinked(cfg.UpstreamCAFile, configfile.MaxPEMBytes)
		if err != nil {
			return nil, fmt.Errorf("proxy: read UpstreamCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "UpstreamCAFile", Problem: fmt.Sprintf("%s holds no PEM certificate", cfg.UpstreamCAFile)}
		}
		tlsCfg.RootCAs = pool
	}
	d := &net.Dialer{Timeout: cfg.UpstreamDialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // the mail server is reached directly, whatever HTTPS_PROXY says
		DialContext:            d.DialContext,
		TLSClientConfig:        tlsCfg,
		TLSHandshakeTimeout:    cfg.UpstreamDialTimeout,
		DisableCompression:     true,
		MaxIdleConns:           0, // no global cap; per host below
		MaxIdleConnsPerHost:    cfg.MaxIdleUpstream,
		MaxConnsPerHost:        max(cfg.MaxUpstreamConns, 0), // negative: no limit
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: int64(max(cfg.MaxHeaderBytes, 64<<10)),
		ForceAttemptHTTP2:      false,
	}, nil
}

// timeoutTransport applies the request's upstream response timeout: the
// mail server must answer with a response header within the timeout of
// the request being sent. While the body is being uploaded, every chunk
// the transport takes restarts the timer, so upload time is not counted
// as long as the server keeps accepting bytes (a stalled client is bounded
// by BodyIdleTimeout; a server that stops reading, by this timeout).
// Streaming the response body is not counted: WriteIdleTimeout bounds a
// slow reader, and the server decides how long a body takes.
type timeoutTransport struct {
	base http.RoundTripper
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tx := txnFrom(req.Context())
	if !tx.metered {
		return t.roundTrip(req, tx)
	}
	sent := time.Now()
	resp, err := t.roundTrip(req, tx)
	if err == nil {
		tx.upstreamAnswered, tx.upstreamWait = true, time.Since(sent)
	}
	return resp, err
}

func (t *timeoutTransport) roundTrip(req *http.Request, tx *txn) (*http.Response, error) {
	if tx.timeout <= 0 {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	g := &timeoutGuard{d: tx.timeout}
	g.timer = time.AfterFunc(tx.timeout, func() { cancel(errUpstreamTimeout) })
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &progressBody{ReadCloser: req.Body, g: g}
	}
	resp, err := t.base.RoundTrip(out)
	g.stop()
	if err != nil {
		timedOut := errors.Is(context.Cause(ctx), errUpstreamTimeout)
		cancel(nil)
		if timedOut {
			return nil, fmt.Errorf("%w (%v): %w", errUpstreamTimeout, tx.timeout, err)
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// timeoutGuard is the response timer of one round trip.
type timeoutGuard struct {
	d       time.Duration
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// restart pushes the deadline to now+d, unless the round trip is over.
func (g *timeoutGuard) restart() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped && g.timer.Stop() {
		g.timer.Reset(g.d)
	}
}

func (g *timeoutGuard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	g.timer.Stop()
}

// progressBody restarts the response timer on every read of the request
// body by the transport.
type progressBody struct {
	io.ReadCloser
	g *timeoutGuard
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 || err != nil {
		b.g.restart()
	}
	return n, err
}

// cancelBody releases the request's context once the response body is
// closed.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
