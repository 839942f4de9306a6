package devicesync

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Push server limits: what a client of the push API may hold. Device
// management is one well-behaved client; these bound a misbehaving or
// hostile one (slowloris, connection floods) without limiting it.
const (
	// DefaultPushReadHeaderTimeout bounds reading a request's header.
	DefaultPushReadHeaderTimeout = 10 * time.Second
	// DefaultPushReadTimeout bounds reading a whole request, body
	// included: a 64 MiB bulk push needs at least 0.6 MiB/s.
	DefaultPushReadTimeout = 2 * time.Minute
	// DefaultPushWriteTimeout bounds a request from the end of its header
	// to the end of the answer (a bulk push is applied in between).
	DefaultPushWriteTimeout = 5 * time.Minute
	// DefaultPushIdleTimeout closes a kept-alive connection left idle.
	DefaultPushIdleTimeout = 2 * time.Minute
	// DefaultPushMaxHeaderBytes bounds a request's header.
	DefaultPushMaxHeaderBytes = 64 << 10
	// DefaultPushMaxConns caps the connections open at once; one more
	// waits in the kernel's accept queue until one closes.
	DefaultPushMaxConns = 32
)

// PushServerOptions are the limits of [NewPushServer]; each zero field
// takes its DefaultPush* value.
type PushServerOptions struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	MaxConns                                                  int
	// Logger receives the server's own errors (TLS handshakes, bad
	// requests) at debug level. Default slog.Default().
	Logger *slog.Logger
}

// NewPushServer returns the HTTP server for the push API handler h with
// the options' limits, and a function that wraps its listener in the
// connection cap: serve with srv.Serve(limit(l)).
func NewPushServer(h http.Handler, o PushServerOptions) (srv *http.Server, limit func(net.Listener) net.Listener) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, DefaultPushReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultPushReadTimeout)
	def(&o.WriteTimeout, DefaultPushWriteTimeout)
	def(&o.IdleTimeout, DefaultPushIdleTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultPushMaxHeaderBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultPushMaxConns
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	srv = &http.Server{Handler: h,
		ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout,
		MaxHeaderBytes: o.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	n := o.MaxConns
	return srv, func(l net.Listener) net.Listener { return newLimitListener(l, n) }
}

// limitListener accepts at most n connections open at once: Accept waits
// for one to close. Waiting connections queue in the kernel (its backlog),
// where they cost the daemon nothing.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
