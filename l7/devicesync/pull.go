package devicesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

const (
	// DefaultPullInterval is how often the puller syncs.
	DefaultPullInterval = 10 * time.Minute
	// DefaultMaxPageBytes bounds one pull response.
	DefaultMaxPageBytes = 64 << 20
	// DefaultMaxPages bounds the pages of one sync.
	DefaultMaxPages = 100_000
	// DefaultPullTimeout is the timeout of the default HTTP client, per
	// page.
	DefaultPullTimeout = time.Minute
	// maxRetryDelay is the first delay after a failed sync, when the
	// interval is longer; it doubles on each failure up to the interval.
	maxRetryDelay = 30 * time.Second
)

// PullOptions configure [NewPuller].
type PullOptions struct {
	// URL is device management's delta endpoint, http or https; the
	// puller adds the cursor query parameter. Required.
	URL string
	// Interval is the time between two syncs, jittered by up to ±10% so
	// that gateways spread their load. Default (0) DefaultPullInterval,
	// 10 minutes.
	Interval time.Duration
	// Token is sent as "Authorization: Bearer <Token>". Default none: no
	// Authorization header.
	Token []byte
	// Client makes the requests. Default a client with a timeout of
	// DefaultPullTimeout.
	Client *http.Client
	// Logger receives a line per sync. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock, for the durations logged. Default time.Now.
	Now func() time.Time
	// MaxPageBytes bounds one response body; a larger one fails the sync
	// before its page is applied. Default (0) DefaultMaxPageBytes, 64 MiB.
	MaxPageBytes int64
	// MaxPages bounds the pages of one sync, against a server that never
	// says it is done. Default (0) DefaultMaxPages.
	MaxPages int
	// Transforms checks and puts in force an email security document a
	// page carries. Without Check, a page that carries one fails the sync.
	Transforms TransformsHook
}

// Puller brings device management's changes in by delta sync (see the
// package documentation, "Pull").
type Puller struct {
	db   *DB
	st   *device.Store
	url  *url.URL
	opts PullOptions
}

// NewPuller returns a puller that applies what it fetches to db and st.
func NewPuller(db *DB, st *device.Store, opts PullOptions) (*Puller, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("device pull url %q: want an absolute http or https URL", opts.URL)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultPullInterval
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: DefaultPullTimeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = DefaultMaxPageBytes
	}
	if opts.MaxPages <= 0 {
		opts.MaxPages = DefaultMaxPages
	}
	return &Puller{db: db, st: st, url: u, opts: opts}, nil
}

// Run syncs at once, then every Interval (jittered) until ctx is done,
// when it returns nil. A failed sync is logged and retried after a delay
// that starts at 30 seconds (or Interval, if shorter) and doubles up to
// Interval.
func (p *Puller) Run(ctx context.Context) error {
	failures := 0
	for {
		start := p.opts.Now()
		res, err := p.SyncOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if err != nil {
			failures++
			wait = min(min(maxRetryDelay, p.opts.Interval)<<min(failures-1, 20), p.opts.Interval)
			p.opts.Logger.Warn("device pull failed", "url", p.redacted(), "error", err, "failures", failures, "retry_in", wait,
				"upserted", res.Upserted, "deleted", res.Deleted)
		} else {
			failures = 0
			wait = p.opts.Interval
			p.opts.Logger.Info("device pull done", "url", p.redacted(), "duration", p.opts.Now().Sub(start),
				"upserted", res.Upserted, "deleted", res.Deleted, "stale", res.Stale, "unchanged", res.Unchanged, "policy", res.Policy)
		}
		// ±10%: gateways started together drift apart.
		wait = time.Duration(float64(wait) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// redacted is the URL for logs, without user information.
func (p *Puller) redacted() string { return p.url.Redacted() }

// SyncOnce fetches pages from the committed cursor until the server says
// there are no more, applying each page with its cursor in one
// transaction. It returns the counts of the pages applied, also on error:
// the pages before the failure stay applied, and the next sync resumes
// after the last of them.
func (p *Puller) SyncOnce(ctx context.Context) (Result, error) {
	var total Result
	cursor, err := p.db.Cursor()
	if err != nil {
		return total, err
	}
	for n := 0; ; n++ {
		if n >= p.opts.MaxPages {
			return total, fmt.Errorf("pull %s: more than %d pages in one sync; the server keeps saying more", p.redacted(), p.opts.MaxPages)
		}
		page, err := p.fetch(ctx, cursor)
		if err != nil {
			return total, err
		}
		ch := Change{Delete: page.Deleted, Replace: page.Full, More: page.More, Policy: page.Policy, Time: page.Time, Transforms: page.Transforms}
		if err := p.checkTransforms(page.Transforms); err != nil {
			return total, fmt.Errorf("pull %s: page after cursor %q: transforms: %w", p.redacted(), cursor, err)
		}
		if len(page.Records) > 0 {
			ch.Upsert = make([]device.Record, len(page.Records))
			for i := range page.Records {
				ch.Upsert[i] = page.Records[i].Record()
			}
		}
		res, err := p.db.Apply(p.st, ch, &page.Cursor)
		if err != nil {
			return total, fmt.Errorf("pull %s: page after cursor %q: %w", p.redacted(), cursor, err)
		}
		total.Add(res)
		if page.Transforms != nil && p.opts.Transforms.Apply != nil {
			if transformsRemoved(page.Transforms) {
				p.opts.Transforms.Apply(nil)
			} else {
				p.opts.Transforms.Apply(page.Transforms)
			}
			p.opts.Logger.Info("email security document from pull", "url", p.redacted(), "removed", transformsRemoved(page.Transforms))
		}
		if !page.More {
			return total, nil
		}
		if page.Cursor == cursor {
			return total, fmt.Errorf("pull %s: page after cursor %q says more but returns the same cursor", p.redacted(), cursor)
		}
		cursor = page.Cursor
	}
}

// checkTransforms refuses a page's email security document the gateway
// cannot apply, before anything of the page is.
func (p *Puller) checkTransforms(doc json.RawMessage) error {
	switch {
	case doc == nil, transformsRemoved(doc):
		return nil
	case p.opts.Transforms.Check == nil:
		return errors.New("this gateway takes no email security document")
	}
	return p.opts.Transforms.Check(doc)
}

// fetch gets and decodes the page after cursor.
func (p *Puller) fetch(ctx context.Context, cursor string) (*PageDoc, error) {
	u := *p.url
	q := u.Query()
	q.Del("cursor")
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.redacted(), err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "enforcer-devicesync/1")
	if len(p.opts.Token) > 0 {
		req.Header.Set("Authorization", "Bearer "+string(p.opts.Token))
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &HTTPStatusError{URL: p.redacted(), Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, fmt.Errorf("pull %s: content type %q: want application/json", p.redacted(), ct)
		}
	}
	if resp.ContentLength > p.opts.MaxPageBytes {
		return nil, fmt.Errorf("pull %s: page of %d bytes is over the limit of %d", p.redacted(), resp.ContentLength, p.opts.MaxPageBytes)
	}
	var page PageDoc
	body := &limitedReader{r: resp.Body, n: p.opts.MaxPageBytes}
	if err := decodeStrict(body, &page); err != nil {
		if body.over {
			return nil, fmt.Errorf("pull %s: page is over the limit of %d bytes", p.redacted(), p.opts.MaxPageBytes)
		}
		return nil, fmt.Errorf("pull %s: page after cursor %q: %w", p.redacted(), cursor, err)
	}
	if page.Cursor == "" {
		return nil, fmt.Errorf("pull %s: page after cursor %q: field cursor: empty; every page must carry the cursor of the next", p.redacted(), cursor)
	}
	return &page, nil
}

// limitedReader fails once more than n bytes are read.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

var errPageTooLarge = errors.New("page too large")

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n < 0 {
		l.over = true
		return 0, errPageTooLarge
	}
	if int64(len(b)) > l.n+1 {
		b = b[:l.n+1]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	if l.n < 0 {
		l.over = true
		return n, errPageTooLarge
	}
	return n, err
}
