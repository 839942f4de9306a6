package proxy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/tlscert"
	"github.com/mailgate/enforcer/l7/transform"
)

// Deps are what the proxy needs from the rest of the gateway.
type Deps struct {
	// Store holds the device records and receives discovered devices.
	// Required.
	Store *device.Store
	// Policy returns the policy in force; it is called once per request,
	// so a reloaded policy applies from the next request on. Default
	// Store.Policy. A nil result means no policy is loaded (fail closed).
	Policy func() *device.Policy
	// Logger receives the transaction log and the proxy's own messages.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of decisions, discovery, the 451 mappings and the
	// transaction log's durations. Default time.Now.
	Now func() time.Time
	// Metrics receives the proxy's metrics (see [Metrics]). Default nil:
	// none are kept, at no cost per request.
	Metrics *Metrics
	// Transforms returns the email security rules in force (package
	// transform); called once per allowed request that may carry mail, so
	// a reload applies from the next request on. Default nil: responses
	// pass untouched.
	Transforms func() *transform.Rules
}

// Proxy is the gateway's HTTP reverse proxy in front of one mail server.
type Proxy struct {
	cfg        Config
	upstream   *url.URL
	store      *device.Store
	policy     func() *device.Policy
	transforms func() *transform.Rules
	log        *slog.Logger
	now        func() time.Time
	transport  *http.Transport
	rp         *httputil.ReverseProxy
	redirects  *redirects
	targets    Targets
	certs      *tlscert.Reloader // nil with PlainHTTP
	clientCAs  *x509.CertPool    // nil: no client certificates asked for
	metrics    *Metrics          // nil: none kept
	redirHost  map[string]bool

	ids     atomic.Uint64
	ewsPols atomic.Pointer[ewsPolicies]
	conns   atomic.Int64

	// Connections refused by MaxConnsPerSource, and when the last warning
	// about them was logged (Unix nanoseconds).
	refusedConns  atomic.Uint64
	refusedLogged atomic.Int64
	// Requests in flight to the mail server per untrusted source; nil
	// without MaxConnsPerSource.
	upstreamBySource *sourceCounts
}

// New validates cfg (defaults applied), loads the certificate and builds
// the proxy. It logs a warning when the mail server's certificate will not
// be verified or clients are served without TLS.
func New(cfg Config, deps Deps) (*Proxy, error) {
	cfg = cfg.WithDefaults()
	up, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("proxy: Deps.Store is nil: %w", ErrInvalidConfig)
	}
	p := &Proxy{
		cfg:        cfg,
		upstream:   up,
		store:      deps.Store,
		policy:     deps.Policy,
		transforms: deps.Transforms,
		log:        deps.Logger,
		now:        deps.Now,
		redirects:  newRedirects(cfg.MaxRedirects),
		metrics:    deps.Metrics,
	}
	if p.policy == nil {
		p.policy = deps.Store.Policy
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if len(cfg.RedirectHosts) > 0 {
		p.redirHost = make(map[string]bool, len(cfg.RedirectHosts))
		for _, h := range cfg.RedirectHosts {
			p.redirHost[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	if cfg.MaxConnsPerSource > 0 {
		p.upstreamBySource = newSourceCounts(cfg.MaxConnsPerSource)
	}
	p.transport, err = newUpstreamTransport(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.ClientCAFile != "" {
		if p.clientCAs, err = loadClientCAs(cfg.ClientCAFile); err != nil {
			return nil, err
		}
	}
	if !cfg.PlainHTTP {
		p.certs, err = tlscert.New(cfg.CertFile, cfg.KeyFile, cfg.CertCheckInterval, p.log)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &timeoutTransport{base: p.transport},
		FlushInterval:  0, // see the package documentation, "Streaming"
		ErrorHandler:   p.proxyError,
		ModifyResponse: p.modifyResponse,
		BufferPool:     copyBuffers,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	if p.metrics != nil {
		p.metrics.proxy.Store(p)
	}
	if cfg.InsecureSkipVerify {
		p.log.Warn("the mail server's TLS certificate will NOT be verified (InsecureSkipVerify): anyone on the path to it can read every password and message",
			"upstream", up.String())
	}
	if cfg.TrustQueryUser {
		p.log.Warn("ActiveSync requests without Basic credentials or a client certificate are identified by their query's User (TrustQueryUser): only safe if the mail server refuses a User that is not the authenticated account")
	}
	if cfg.PlainHTTP {
		p.log.Warn("serving clients without TLS (PlainHTTP): only safe behind a TLS terminator on a trusted network")
	}
	return p, nil
}

// Handler returns the proxy's HTTP handler.
func (p *Proxy) Handler() http.Handler { return p }

// Targets returns the set of users and devices logged verbosely.
func (p *Proxy) Targets() *Targets { return &p.targets }

// Redirects returns the remembered 451 mappings, most recently used first.
func (p *Proxy) Redirects() []RedirectMapping { return p.redirects.list() }

// ForgetRedirect drops the 451 mapping of a user (or, for user "", of a
// device); it reports whether one existed.
func (p *Proxy) ForgetRedirect(user, deviceID string) bool {
	return p.redirects.forget(user, deviceID)
}

// WriteRedirectsCSV writes the 451 mappings as CSV with the header
// RedirectsCSVHeader.
func (p *Proxy) WriteRedirectsCSV(w io.Writer) error {
	return writeRedirectsCSV(w, p.redirects.list())
}

// OpenConns returns the number of client connections Serve holds open.
func (p *Proxy) OpenConns() int64 { return p.conns.Load() }

// CloseIdleConnections closes idle connections to the mail server.
func (p *Proxy) CloseIdleConnections() { p.transport.CloseIdleConnections() }

// ServeHTTP routes a request (see the package documentation).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tx := &txn{id: p.ids.Add(1), start: p.now(), inHost: r.Host, inPath: r.URL.EscapedPath()}
	tx.src, tx.trustedPeer = p.clientAddr(r)
	tx.inScheme = requestScheme(r, tx.trustedPeer)
	rw := newResponseWriter(w, p.cfg.WriteIdleTimeout)
	if p.metrics != nil {
		tx.metered, tx.mstart = true, time.Now()
		p.metrics.begin()
	}
	defer p.finish(tx, rw, r)
	defer p.boundUnreadBody(rw, r, tx) // before finish flushes the response

	if !saneRequestPath(r) {
		tx.err = errors.New("path not in normal form")
		writeError(rw, http.StatusBadRequest, nil)
		return
	}
	tx.route = p.route(r.URL.Path)
	switch tx.route {
	case routeEAS:
		p.serveEAS(rw, r, tx)
	case routeEWS:
		p.serveEWS(rw, r, tx)
	case routeAutodiscover, routeWebmail:
		tx.user = basicUser(r)
		tx.targeted = p.targets.Match(tx.user, "")
		p.forward(rw, r, tx, p.upstream, p.cfg.CommandTimeout)
	default:
		writeError(rw, http.StatusNotFound, nil)
	}
}

// requestScheme is the scheme the client used to reach the gateway.
func requestScheme(r *http.Request, trustedPeer bool) string {
	if r.TLS != nil {
		return "https"
	}
	if trustedPeer && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "https"
	}
	return "http"
}

// forward sends the request to target through the reverse proxy with the
// given upstream response timeout.
func (p *Proxy) forward(w *responseWriter, r *http.Request, tx *txn, target *url.URL, timeout time.Duration) {
	tx.target, tx.timeout = target, timeout
	release, ok := p.holdUpstream(tx)
	if !ok {
		writeError(w, http.StatusTooManyRequests, http.Header{"Retry-After": {sourceBusyRetryAfter}})
		return
	}
	defer release()
	if r.Body != nil && r.Body != http.NoBody {
		body := r.Body
		if p.cfg.MaxRequestBodyBytes > 0 {
			// The server's own writer: MaxBytesReader tells it to close
			// the connection after the 413, and does not look through
			// wrappers.
			body = http.MaxBytesReader(w.ResponseWriter, body, p.cfg.MaxRequestBodyBytes)
		}
		tx.body = newBodyReader(body, w.rc, newBodyPace(&p.cfg))
		r.Body = tx.body
	}
	p.rp.ServeHTTP(w, r.WithContext(withTxn(r.Context(), tx)))
}

// rewrite builds the upstream request (httputil.ReverseProxy.Rewrite; the
// reverse proxy has already removed hop-by-hop headers, including those
// named by Connection, RFC 9110 section 7.6.1, and the client's
// Forwarded and X-Forwarded-* headers).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	tx := txnFrom(pr.In.Context())
	pr.SetURL(tx.target)
	if tx.route == routeEAS {
		// The decision was made on exactly this query; the mail server
		// must see it unchanged (ReverseProxy would re-encode a query
		// url.ParseQuery rejects, which the EAS parser already refused).
		pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	}
	if tx.trustedPeer {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	}
	pr.SetXForwarded()
	if tx.trustedPeer && tx.inScheme == "https" {
		pr.Out.Header.Set("X-Forwarded-Proto", "https")
	}
}

// modifyResponse inspects the mail server's response before it is copied.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	tx := txnFrom(resp.Request.Context())
	tx.upstreamStatus = resp.StatusCode
	// The client's body broke off (stalled, too slow, too large) while it
	// was being sent: the mail server may still answer, having taken the
	// truncated body as whole (seen with an HTTP/2 upstream, where the
	// transport can end the stream before it resets it). That answer is to
	// a request the client never finished: refuse it (408 and the like)
	// rather than pass it.
	if be := tx.body.err(); be != nil {
		return be // ReverseProxy closes resp.Body and calls proxyError
	}
	if tx.route == routeEAS && resp.StatusCode == 451 {
		return p.rewrite451(resp, tx)
	}
	if tx.plan != nil {
		return p.transformResponse(resp, tx)
	}
	return nil
}

// proxyError answers a request the reverse proxy could not complete
// before writing a response header (see errorStatus).
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	tx := txnFrom(r.Context())
	if be := tx.body.err(); be != nil && !errors.Is(err, errClientBody) {
		err = fmt.Errorf("%w (upstream: %v)", be, err)
	}
	tx.err = err
	status := errorStatus(r.Context(), err)
	if statusIsUpstreamError(status) {
		tx.upstreamErr = upstreamErrorKind(err)
	}
	if tx.viaRedirect && (status == http.StatusBadGateway || status == http.StatusGatewayTimeout) {
		// The remembered server is gone or broken: the next request tries
		// the configured upstream, which redirects again if it must.
		if p.redirects.forget(tx.user, tx.deviceID) {
			p.log.Warn("451 mapping dropped after upstream error", "user", tx.user, "device_id", tx.deviceID,
				"upstream", tx.target.String(), "err", err)
		}
	}
	if status == StatusClientClosed {
		tx.status = status
		return
	}
	writeError(w, status, nil)
}

// copyBuffers pools the 32 KiB buffers of response copies.
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }
