package proxy

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/eas"
)

// Log messages of the transaction log. Each request ends in exactly one
// "transaction" record (the summary), preceded by a "blocked" record
// (detail of a refused request, or of one test mode let through) and a "targeted" record (verbose detail
// for a user or device in Targets) where they apply.
const (
	MsgTransaction = "transaction"
	MsgBlocked     = "blocked"
	MsgTargeted    = "targeted"
)

// finish writes the request's log records and counts it in the metrics:
// the one place every request ends, refused or proxied, failed or not. It
// runs deferred, also when the reverse proxy aborts a response mid-body
// with http.ErrAbortHandler, which it lets continue to the server.
func (p *Proxy) finish(tx *txn, w *responseWriter, r *http.Request) {
	aborted := recover()
	if aborted == nil {
		w.finish()
	}
	status := w.status
	switch {
	case tx.status != 0:
		status = tx.status
	case aborted != nil && status == 0:
		status = StatusClientClosed
	case status == 0:
		status = http.StatusOK // nothing written: the server sends 200
	}
	dur := p.now().Sub(tx.start)
	if tx.metered {
		// Before the log: a reader of a request's summary finds it
		// counted.
		p.metrics.record(tx, status, w.written, time.Since(tx.mstart))
	}
	ctx := r.Context()
	attrs := p.summaryAttrs(tx, r, status, w.written, dur, aborted != nil)
	// Details first: a reader that has seen a request's summary has seen
	// all of its records.
	if tx.blocked || (tx.decided && tx.decision.TestMode) {
		p.log.LogAttrs(ctx, slog.LevelInfo, MsgBlocked, append(attrs[:len(attrs):len(attrs)], p.detailAttrs(tx, r, w)...)...)
	}
	if tx.targeted {
		p.log.LogAttrs(ctx, slog.LevelInfo, MsgTargeted, append(attrs[:len(attrs):len(attrs)], p.detailAttrs(tx, r, w)...)...)
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, MsgTransaction, attrs...)
	if aborted != nil {
		panic(aborted)
	}
}

// summaryAttrs is the transaction summary: who, what, outcome, cost.
func (p *Proxy) summaryAttrs(tx *txn, r *http.Request, status int, out int64, dur time.Duration, aborted bool) []slog.Attr {
	a := make([]slog.Attr, 0, 24)
	a = append(a,
		slog.Uint64("req", tx.id),
		slog.String("route", tx.route.String()),
		slog.String("method", r.Method),
		slog.String("user", tx.user),
		slog.String("device_id", tx.deviceID),
		slog.String("device_type", tx.deviceType),
		slog.String("cmd", tx.command),
		slog.Int("status", status),
		slog.Int64("bytes_in", tx.body.bytes()),
		slog.Int64("bytes_out", out),
		slog.Duration("duration", dur),
	)
	decision, reason := "pass", ""
	if tx.decided {
		decision, reason = tx.decision.Action.String(), string(tx.decision.Reason)
	}
	a = append(a, slog.String("decision", decision), slog.String("reason", reason))
	if tx.decided && tx.decision.TestMode {
		a = append(a, slog.Bool("test_mode", true), slog.String("intended", tx.decision.Intended.String()))
	}
	if tx.src.IsValid() {
		a = append(a, slog.String("src", tx.src.String()))
	}
	if tx.easStatus != 0 {
		a = append(a, slog.Int("eas_status", tx.easStatus))
	}
	if tx.target != nil {
		a = append(a, slog.String("upstream", tx.target.Host))
		if tx.viaRedirect {
			a = append(a, slog.Bool("via_451", true))
		}
	}
	if tx.upstreamStatus != 0 && tx.upstreamStatus != status {
		a = append(a, slog.Int("upstream_status", tx.upstreamStatus))
	}
	if tx.redirectTo != "" {
		a = append(a, slog.String("redirect_to", tx.redirectTo))
	}
	a = transformAttrs(a, tx)
	if aborted {
		a = append(a, slog.Bool("aborted", true))
	}
	if tx.err != nil {
		a = append(a, slog.String("err", tx.err.Error()))
	}
	return a
}

// detailAttrs adds what the blocked and targeted records carry beyond the
// summary: the rule that decided, protocol, client, query and headers
// (credentials and cookies redacted).
func (p *Proxy) detailAttrs(tx *txn, r *http.Request, w *responseWriter) []slog.Attr {
	a := []slog.Attr{
		slog.String("rule", tx.decision.Rule),
		slog.String("protocol", tx.protocol.String()),
		slog.String("user_agent", tx.userAgent),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.String("query", r.URL.RawQuery),
		slog.String("proto", r.Proto),
		headerAttr("request_headers", r.Header),
	}
	if tx.target != nil {
		a = append(a, slog.String("upstream_url", tx.target.String()), slog.Duration("upstream_timeout", tx.timeout))
	}
	if tx.targeted {
		a = append(a, headerAttr("response_headers", w.Header()))
	}
	return a
}

// redacted are headers whose values never reach the logs.
var redacted = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true}

// headerAttr logs headers as a group, sorted, multiple values joined;
// Authorization keeps only its scheme.
func headerAttr(name string, h http.Header) slog.Attr {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		v := strings.Join(h[k], ", ")
		if redacted[k] {
			if strings.HasSuffix(k, "Authorization") {
				v = logAuthScheme(h[k]) + " [redacted]"
			} else {
				v = "[redacted]"
			}
		}
		attrs = append(attrs, slog.String(k, v))
	}
	return slog.Group(name, attrs...)
}

// logAuthScheme is what the log shows of Authorization values: the
// scheme when each value is a well-formed auth-scheme (a token of at most
// eas.MaxAuthSchemeLen characters, then a space or the end;
// eas.ParseAuthorization), else "invalid". Anything else of a malformed
// value may be the credentials themselves ("Basic\t<base64>" has no
// scheme: all of it is credentials).
func logAuthScheme(vals []string) string {
	if len(vals) != 1 {
		return "invalid"
	}
	scheme, _, ok := eas.ParseAuthorization(vals[0])
	if !ok {
		return "invalid"
	}
	return scheme
}
