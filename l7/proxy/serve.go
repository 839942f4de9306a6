package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// ListenAndServe listens on cfg.Listen and serves until ctx is done (see
// Serve).
func (p *Proxy) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w", p.cfg.Listen, err)
	}
	return p.Serve(ctx, l)
}

// Serve accepts client connections on l, TLS with HTTP/2 and HTTP/1.1
// (unless PlainHTTP), at most MaxConns at a time and MaxConnsPerSource
// from one untrusted source, until ctx is done. It then stops accepting,
// gives requests in flight ShutdownTimeout to end, cancels and closes what
// remains, and returns nil. It closes l.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout, // also bounds the TLS handshake
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		// No ReadTimeout or WriteTimeout: they would cut long polls. The
		// handler keeps sliding per-request deadlines instead
		// (BodyIdleTimeout, WriteIdleTimeout).
		ErrorLog:    slog.NewLogLogger(p.log.Handler(), slog.LevelDebug), // TLS handshake noise from scanners
		BaseContext: func(net.Listener) context.Context { return base },
		ConnState:   p.connState,
		// Go's server also runs at most this many handlers per
		// connection, streams reset by the client included (a handler
		// beyond it waits, and a connection queueing too many is closed):
		// with one upstream connection per handler, an HTTP/2 client
		// connection holds at most HTTP2MaxStreams upstream connections.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: p.cfg.HTTP2MaxStreams},
	}
	if !p.cfg.PlainHTTP {
		srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: p.certs.GetCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
			ClientAuth:     p.clientAuth(),
			ClientCAs:      p.clientCAs,
		}
	}
	l = p.newLimitListener(l)

	errc := make(chan error, 1)
	go func() {
		if p.cfg.PlainHTTP {
			errc <- srv.Serve(l)
		} else {
			errc <- srv.ServeTLS(l, "", "")
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("proxy: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running (long polls): cancel their upstream
		// requests and close their connections.
		cancelBase()
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("proxy: serve: %w", err)
	}
	p.transport.CloseIdleConnections()
	return nil
}

func (p *Proxy) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		p.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		p.conns.Add(-1)
	}
}

// limitListener bounds the number of open connections it has accepted:
// Accept waits for a slot, so excess clients wait in the kernel's accept
// queue instead of being refused. A source that is not a trusted proxy
// (see sourcePrefix) may hold at most MaxConnsPerSource of the slots: a
// connection beyond that is closed at once. Waiting would not do there:
// the source's excess would sit in the shared accept queue ahead of
// everyone else.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	bySource *sourceCounts         // nil: no per-source limit
	exempt   func(netip.Addr) bool // trusted proxies
	refused  func(src netip.Prefix, peer netip.Addr)
}

func (p *Proxy) newLimitListener(l net.Listener) net.Listener {
	ll := &limitListener{
		Listener: l,
		slots:    make(chan struct{}, p.cfg.MaxConns),
		done:     make(chan struct{}),
		exempt:   p.trusted,
		refused:  p.connRefused,
	}
	if p.cfg.MaxConnsPerSource > 0 {
		ll.bySource = newSourceCounts(p.cfg.MaxConnsPerSource)
	}
	return ll
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		src, limited, ok := l.admit(c)
		if !ok {
			<-l.slots
			refuse(c)
			continue
		}
		release := func() { <-l.slots }
		if limited {
			release = func() { l.bySource.release(src); <-l.slots }
		}
		return &limitConn{Conn: c, release: release}, nil
	}
}

// admit counts c against its source's limit; limited says whether it
// was counted, ok whether it may be served.
func (l *limitListener) admit(c net.Conn) (src netip.Prefix, limited, ok bool) {
	if l.bySource == nil {
		return src, false, true
	}
	ta, isTCP := c.RemoteAddr().(*net.TCPAddr)
	if !isTCP {
		return src, false, true
	}
	peer := ta.AddrPort().Addr().Unmap()
	if l.exempt(peer) {
		return src, false, true
	}
	src = sourcePrefix(peer)
	if !l.bySource.acquire(src) {
		l.refused(src, peer)
		return src, false, false
	}
	return src, true, true
}

// refuse closes a connection over its source's limit with a reset: a
// source that reconnects at once then leaves no TIME_WAIT socket behind
// for each attempt.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connRefusedLogEvery spaces the warnings about refused connections: a
// source hammering the gateway would otherwise write a line per attempt.
const connRefusedLogEvery = 30 * time.Second

// connRefused counts a connection refused by MaxConnsPerSource and logs
// it, at most once per connRefusedLogEvery, with the number refused since
// the start.
func (p *Proxy) connRefused(src netip.Prefix, peer netip.Addr) {
	n := p.refusedConns.Add(1)
	if p.metrics != nil {
		p.metrics.refused.Inc()
	}
	now := time.Now().UnixNano()
	last := p.refusedLogged.Load()
	if now-last < int64(connRefusedLogEvery) || !p.refusedLogged.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("client connection refused: too many from one source (MaxConnsPerSource); if the source is a load balancer or reverse proxy, list it in TrustedProxies",
		"src", peer.String(), "source", src.String(), "limit", p.cfg.MaxConnsPerSource,
		"refused_total", n)
}

// errSourceBusy: an untrusted source already has MaxConnsPerSource
// requests in flight to the mail server.
var errSourceBusy = errors.New("too many requests in flight from the source (MaxConnsPerSource)")

// sourceBusyRetryAfter is the Retry-After, in seconds, of the 429 that
// answers a request over its source's limit.
const sourceBusyRetryAfter = "10"

// holdUpstream counts a request about to be sent to the mail server
// against its source's MaxConnsPerSource, unless the peer is a trusted
// proxy. Over HTTP/1.1 a source's requests in flight never exceed its
// connections, so this only bites an HTTP/2 client: without it a source
// could hold MaxConnsPerSource × HTTP2MaxStreams upstream connections,
// enough to take all MaxUpstreamConns from everyone else.
func (p *Proxy) holdUpstream(tx *txn) (release func(), ok bool) {
	if p.upstreamBySource == nil || tx.trustedPeer || !tx.src.IsValid() {
		return func() {}, true
	}
	src := sourcePrefix(tx.src)
	if !p.upstreamBySource.acquire(src) {
		tx.err = errSourceBusy
		return nil, false
	}
	return func() { p.upstreamBySource.release(src) }, true
}
