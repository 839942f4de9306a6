package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Why a request body was cut for its pace; wrapped with errClientBody and
// the read's timeout error, so the client gets 408.
var (
	// errBodyTooSlow: a BodyRateWindow brought less than MinBodyRate ×
	// BodyRateWindow bytes.
	errBodyTooSlow = errors.New("body below the minimum rate (MinBodyRate)")
	// errBodyTimeout: the body took longer than BodyTimeout.
	errBodyTimeout = errors.New("body took longer than BodyTimeout")
)

// bodyPace is the pace a request body must keep; a zero duration or rate
// is no limit.
type bodyPace struct {
	idle    time.Duration // BodyIdleTimeout: between two reads
	quota   int64         // MinBodyRate × window bytes ...
	window  time.Duration // ... per window of waiting for the client
	total   time.Duration // BodyTimeout: first read to the end
	slack   time.Duration // how far the deadline in force may lag the wanted one
	enabled bool
}

func newBodyPace(cfg *Config) bodyPace {
	bp := bodyPace{idle: max(cfg.BodyIdleTimeout, 0), total: max(cfg.BodyTimeout, 0)}
	if cfg.MinBodyRate > 0 && cfg.BodyRateWindow > 0 {
		bp.window = cfg.BodyRateWindow
		bp.quota = max(int64(float64(cfg.MinBodyRate)*cfg.BodyRateWindow.Seconds()), 1)
	}
	// Moving a read deadline costs a timer update (on HTTP/2 a message to
	// the connection's goroutine), so it moves only once the wanted one
	// is an eighth of the shortest sliding limit later: every limit then
	// gets at least seven eighths of its time.
	shortest := time.Duration(0)
	for _, d := range []time.Duration{bp.idle, bp.window} {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	bp.slack = shortest / 8
	bp.enabled = bp.idle > 0 || bp.window > 0 || bp.total > 0
	return bp
}

// paceLimit names the limit a read deadline comes from.
type paceLimit uint8

const (
	paceIdle paceLimit = iota
	paceRate
	paceTotal
)

// boundUnreadBody puts a deadline on what is left of a request body the
// gateway answered without reading (a refused or unrouted request, or one
// the mail server could not be asked): before it writes the response,
// Go's HTTP/1 server reads up to 256 KiB of an unread body, with no
// deadline of its own, so a client trickling its body would hold the
// response, and the connection, indefinitely. The rest of the body must
// then come within the shortest of the body limits; if it does not, the
// response goes out and the connection is closed.
func (p *Proxy) boundUnreadBody(w *responseWriter, r *http.Request, tx *txn) {
	if r.Body == nil || r.Body == http.NoBody || r.ProtoMajor != 1 || tx.body.paced() {
		return
	}
	pace := newBodyPace(&p.cfg)
	var d time.Duration
	for _, l := range []time.Duration{pace.idle, pace.window, pace.total} {
		if l > 0 && (d == 0 || l < d) {
			d = l
		}
	}
	if d > 0 {
		_ = w.rc.SetReadDeadline(time.Now().Add(d))
	}
}

// bodyReader wraps a client's request body: it counts bytes, keeps its
// pace with a read deadline on the client's connection (HTTP/1.1) or
// stream (HTTP/2), and marks its errors with errClientBody so they are
// not blamed on the mail server. The transport reads it on its own
// goroutine while the handler's goroutine may log it, hence the lock.
//
// The deadline is the earliest of three: BodyIdleTimeout after the read
// began; the end of the rate window, which counts only time spent
// waiting in Read (time the transport spends sending to a slow mail
// server is not the client's fault), and starts afresh each time the
// window's quota has arrived; and BodyTimeout after the first read. Each
// only ever moves later, so the deadline in force is never later than
// the wanted one.
type bodyReader struct {
	rc   io.ReadCloser
	ctl  *http.ResponseController
	pace bodyPace

	n       atomic.Int64
	mu      sync.Mutex
	failure error
	done    bool
	eof     bool

	// Guarded by mu; Read is called by one goroutine at a time.
	started  bool
	deadline time.Time     // BodyTimeout's deadline
	set      time.Time     // the read deadline in force
	winStart int64         // bytes read when the rate window began
	winUsed  time.Duration // time waited in Read in this window
}

func newBodyReader(rc io.ReadCloser, ctl *http.ResponseController, pace bodyPace) *bodyReader {
	return &bodyReader{rc: rc, ctl: ctl, pace: pace}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	var began time.Time
	if b.pace.enabled {
		began = time.Now()
		b.mu.Lock()
		if !b.done {
			b.arm(began)
		}
		b.mu.Unlock()
	}
	n, err := b.rc.Read(p)
	total := b.n.Add(int64(n))
	var limit paceLimit
	if b.pace.enabled {
		waited := time.Since(began)
		b.mu.Lock()
		limit = b.account(began, waited, total)
		b.mu.Unlock()
	}
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		b.end(true)
		return n, err
	}
	// After a failure the deadline stays: the server discards what is
	// left of a body before it answers, and must fail at once rather
	// than wait on a client that stalled.
	b.end(false)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return n, err
	}
	var ne net.Error
	switch {
	case !errors.As(err, &ne) || !ne.Timeout():
		err = fmt.Errorf("%w: %w", errClientBody, err)
	case limit == paceRate:
		err = fmt.Errorf("%w: %w: %w", errClientBody, errBodyTooSlow, err)
	case limit == paceTotal:
		err = fmt.Errorf("%w: %w: %w", errClientBody, errBodyTimeout, err)
	default:
		err = fmt.Errorf("%w: stalled (BodyIdleTimeout): %w", errClientBody, err)
	}
	b.mu.Lock()
	if b.failure == nil {
		b.failure = err
	}
	b.mu.Unlock()
	return n, err
}

// arm sets the read deadline for a read beginning at now, if the one in
// force lags the wanted one by slack or more.
func (b *bodyReader) arm(now time.Time) {
	bp := &b.pace
	if !b.started {
		b.started = true
		if bp.total > 0 {
			b.deadline = now.Add(bp.total)
		}
	}
	var want time.Time
	earliest := func(t time.Time) {
		if want.IsZero() || t.Before(want) {
			want = t
		}
	}
	if bp.idle > 0 {
		earliest(now.Add(bp.idle))
	}
	if bp.window > 0 {
		earliest(now.Add(bp.window - b.winUsed))
	}
	if !b.deadline.IsZero() {
		earliest(b.deadline)
	}
	if b.set.IsZero() || want.Sub(b.set) >= bp.slack && !want.Equal(b.set) {
		b.set = want
		_ = b.ctl.SetReadDeadline(want)
	}
}

// account adds a read that began at began, waited waited and brought the
// body to total bytes; it returns the limit a timeout of that read is
// blamed on.
func (b *bodyReader) account(began time.Time, waited time.Duration, total int64) paceLimit {
	bp := &b.pace
	if bp.window > 0 {
		b.winUsed += waited
		if total-b.winStart >= bp.quota {
			b.winStart, b.winUsed = total, 0
		}
	}
	now := began.Add(waited)
	switch {
	case !b.deadline.IsZero() && now.Add(bp.slack).After(b.deadline):
		return paceTotal
	case bp.window > 0 && b.winUsed+bp.slack >= bp.window:
		return paceRate
	}
	return paceIdle
}

// end stops pacing. With clear, once the body has been read to its end,
// it also removes the deadline, so that it cannot fire while the request
// waits for a long poll's answer (Go's HTTP/1 server clears it too when it
// starts watching for the client going away; an HTTP/2 stream's deadline
// would fire on its own).
func (b *bodyReader) end(clear bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done, b.eof = true, clear
		if clear && !b.set.IsZero() {
			_ = b.ctl.SetReadDeadline(time.Time{})
		}
	}
}

func (b *bodyReader) Close() error {
	b.end(false)
	return b.rc.Close()
}

// paced reports whether the body was read to its end or a read deadline
// keeps its pace.
func (b *bodyReader) paced() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof || !b.set.IsZero()
}

func (b *bodyReader) bytes() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}

func (b *bodyReader) err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failure
}
