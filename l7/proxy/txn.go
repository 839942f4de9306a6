package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/transform"
)

// txn is what the proxy learns about one request on its way through; the
// transaction log is written from it when the request ends.
type txn struct {
	id    uint64
	start time.Time
	route route

	src         netip.Addr
	trustedPeer bool // the TCP peer is a trusted proxy
	inHost      string
	inPath      string // escaped
	inScheme    string

	// Identity; command is "" outside EAS, cmd its code when it is not.
	user, deviceID, deviceType, command string
	cmd                                 eas.Command
	userAgent                           string
	protocol                            eas.Version

	decided  bool
	decision device.Decision
	// blocked: the gateway answered instead of the mail server.
	blocked   bool
	easStatus int

	target      *url.URL
	viaRedirect bool // target is a remembered 451 upstream
	timeout     time.Duration
	redirectTo  string // a 451 rewritten: the mail server's X-MS-Location

	upstreamStatus int
	// plan is the email security of an allowed request that may carry
	// mail; transformed what it did, transformDone closed when the walk
	// of a streamed response ended.
	plan           *transform.Plan
	attachmentName string
	transformed    atomic.Pointer[transformResult]
	body           *bodyReader
	err            error
	status         int // overrides the writer's status (499)
	targeted       bool

	// With Deps.Metrics only: the request's start on the monotonic clock
	// (start is Deps.Now's), and how long the mail server took to send
	// its response header.
	metered          bool
	mstart           time.Time
	upstreamAnswered bool
	upstreamWait     time.Duration
	// upstreamErr classifies the error that left the request without a
	// usable response header from the mail server.
	upstreamErr upstreamErr
}

type txnKey struct{}

func withTxn(ctx context.Context, tx *txn) context.Context {
	return context.WithValue(ctx, txnKey{}, tx)
}

// txnFrom returns the request's transaction; every request that reaches
// the reverse proxy carries one.
func txnFrom(ctx context.Context) *txn {
	tx, _ := ctx.Value(txnKey{}).(*txn)
	if tx == nil {
		// Only a programming error gets here; a fresh txn keeps the
		// request from panicking on a nil pointer.
		tx = &txn{}
	}
	return tx
}

// setEAS records the identity of an EAS request (also a partial one, for
// the log of a request refused as malformed).
func (tx *txn) setEAS(r *eas.Request) {
	tx.user = r.User
	if r.AuthUser != "" {
		tx.user = r.AuthUser
	}
	tx.deviceID = r.DeviceID
	tx.deviceType = r.DeviceType
	if r.Query.Form != 0 { // the query parsed: the command is real
		tx.command, tx.cmd = r.Command.String(), r.Command
	}
	tx.userAgent = r.UserAgent
	tx.protocol = r.ProtocolVersion
}

// responseWriter counts what is written, remembers the status, and keeps a
// sliding write deadline of WriteIdleTimeout: a client that stops reading
// is dropped, while a long poll, which writes nothing for up to an hour and
// then everything at once, is not.
type responseWriter struct {
	http.ResponseWriter
	rc        *http.ResponseController
	idle      time.Duration
	lastSet   time.Time
	status    int
	written   int64
	deadlined bool
}

func newResponseWriter(w http.ResponseWriter, idle time.Duration) *responseWriter {
	rw := &responseWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: idle}
	// A deadline left on a keep-alive connection by the previous response
	// would fail this request's first write (or its 100 Continue).
	if idle > 0 {
		_ = rw.rc.SetWriteDeadline(time.Time{})
	}
	return rw
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.extend()
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.extend()
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// FlushError flushes buffered data to the client (http.ResponseController
// finds it before Unwrap).
func (w *responseWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// extend pushes the write deadline to now+idle. Setting a deadline costs a
// timer update (on HTTP/2 a message to the connection's goroutine), so it
// is moved only once a quarter of the idle time has passed: a write then
// always has at least three quarters of WriteIdleTimeout.
func (w *responseWriter) extend() {
	if w.idle <= 0 {
		return
	}
	now := time.Now()
	if w.deadlined && now.Sub(w.lastSet) < w.idle/4 {
		return
	}
	w.lastSet = now
	w.deadlined = true
	_ = w.rc.SetWriteDeadline(now.Add(w.idle))
}

// finish flushes what is buffered while the deadline still guards it, then
// clears the deadline, so that a timer armed for this response does not
// fire on the connection (HTTP/1.1) or stream (HTTP/2) after it is done.
func (w *responseWriter) finish() {
	if !w.deadlined {
		return
	}
	_ = w.rc.Flush()
	_ = w.rc.SetWriteDeadline(time.Time{})
}
