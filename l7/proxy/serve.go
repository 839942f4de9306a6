package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// http2MaxStreams is the number of concurrent streams a client HTTP/2
// connection may open. A front proxy multiplexing devices over HTTP/2
// holds one stream per Ping long-poll, so Go's default of 250 is low.
const http2MaxStreams = 1000

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
// (unless PlainHTTP), at most MaxConns at a time, until ctx is done. It
// then stops accepting, gives requests in flight ShutdownTimeout to end,
// cancels and closes what remains, and returns nil. It closes l.
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
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: http2MaxStreams},
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
	l = newLimitListener(l, p.cfg.MaxConns)

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
// queue instead of being refused.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
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
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
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
