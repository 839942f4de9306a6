package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
)

// HeaderMSLocation carries the new server of a 451 redirect ([MS-ASHTTP]
// 2.2.2.1.1).
const HeaderMSLocation = "X-MS-Location"

// serveEAS decides on an ActiveSync request and proxies or refuses it.
func (p *Proxy) serveEAS(w *responseWriter, r *http.Request, tx *txn) {
	if r.Method == http.MethodOptions {
		// OPTIONS asks only which protocol versions and commands the
		// server speaks ([MS-ASHTTP] 2.2.3): nothing to decide on, and
		// clients need the answer to choose a version. Nothing was
		// decided, so nothing else goes with it: a query (Cmd=Sync of a
		// blocked DeviceId) or a body would reach the mail server
		// unchecked.
		tx.user = basicUser(r)
		tx.targeted = p.targets.Match(tx.user, "")
		// A copy: the server reads the client's request (its
		// ContentLength) to discard an unread body before it answers.
		r = r.Clone(r.Context())
		r.URL.RawQuery, r.URL.ForceQuery = "", false
		r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
		r.Header.Del("Content-Length")
		r.Header.Del("Content-Type")
		r.Header.Del("Content-Encoding")
		p.forward(w, r, tx, p.upstream, p.cfg.CommandTimeout)
		return
	}
	req, err := eas.ParseRequest(r)
	if req != nil {
		tx.setEAS(req)
	}
	tx.targeted = p.targets.Match(tx.user, tx.deviceID)
	if err != nil {
		// Refused before any decision and never forwarded: what the
		// gateway cannot read, it cannot vouch for.
		tx.err = err
		writeError(w, http.StatusBadRequest, nil)
		return
	}
	if r.Method != http.MethodPost {
		// Every command is a POST ([MS-ASHTTP] 2.2.1.1); anything else
		// is a probe.
		tx.err = fmt.Errorf("method %s", r.Method)
		writeError(w, http.StatusMethodNotAllowed, http.Header{"Allow": {"OPTIONS, POST"}})
		return
	}

	now := p.now()
	id := device.NewIdentity(req, tx.src)
	idn := p.resolveUser(r, req.AuthUser, req.Query.User)
	id.User, tx.user = idn.user, idn.user
	if idn.reason != "" {
		// Before the store and the policy: an unidentified request is
		// neither discovered nor decided on as anyone.
		d := identityDecision(idn.reason)
		tx.decided, tx.decision = true, d
		tx.err = identityErr(idn.reason, req.AuthScheme, req.Query.User)
		b := easBlock(req.Command, req.ProtocolVersion, d, p.cfg.NoPolicyRetryAfter)
		tx.blocked, tx.easStatus = true, b.easStatus
		b.write(w)
		return
	}
	rec := p.store.Lookup(id.DeviceID)
	d := device.Decide(id, rec, p.policy(), now)
	tx.decided, tx.decision = true, d
	if rec == nil {
		p.store.Observe(id, now)
	}
	if !d.Allowed() {
		b := easBlock(req.Command, req.ProtocolVersion, d, p.cfg.NoPolicyRetryAfter)
		tx.blocked, tx.easStatus = true, b.easStatus
		b.write(w)
		return
	}

	if carriesMail(req.Command) {
		if tx.plan = p.planFor(id, rec); tx.plan != nil {
			tx.attachmentName = req.Query.AttachmentName
			// A multipart ItemOperations answer would carry attachments
			// outside the WBXML the walk reads; asked without the
			// preference (the header, or the base64 query's Options bit)
			// the server sends them inline, where they are checked.
			r.Header.Del("MS-ASAcceptMultiPart")
			// The walk reads the body as the server encodes it: ask for
			// it plain (a compressed answer is refused, see
			// transformResponse).
			r.Header.Del("Accept-Encoding")
			if req.Query.Form == eas.FormBase64 && req.Query.AcceptMultiPart {
				q := req.Query
				q.AcceptMultiPart = false
				enc, err := q.EncodeBase64()
				if err != nil {
					// It was decoded from these bytes: cannot happen.
					tx.err = fmt.Errorf("re-encode the query without AcceptMultiPart: %w", err)
					writeError(w, http.StatusInternalServerError, nil)
					return
				}
				r.URL.RawQuery = enc
			}
			if req.Command == eas.GetAttachment {
				if act, unlisted := tx.plan.Download(tx.attachmentName, ""); act == attach.Block {
					// Blocked (by what its listing named, or unlisted
					// under a blocking unknown rule): refused without
					// fetching it from the mail server.
					tx.transformed.Store(&transformResult{rep: transform.Report{DownloadBlocked: true, AttachmentsBlocked: 1, DownloadUnlisted: unlisted}})
					tx.blocked = true
					writeError(w, http.StatusForbidden, nil)
					return
				}
			}
		}
	}
	target := p.upstream
	if t, ok := p.redirects.lookup(id.User, id.DeviceID, now); ok {
		target, tx.viaRedirect = t, true
	}
	timeout := p.cfg.CommandTimeout
	if req.Command == eas.Ping || req.Command == eas.Sync {
		// A Ping, and a Sync with Wait or HeartbeatInterval, is held by the
		// server for the heartbeat; the body that says how long is not
		// parsed, so both get the ceiling.
		timeout = p.cfg.LongPollTimeout
	}
	p.forward(w, r, tx, target, timeout)
}

// rewrite451 handles a 451 redirect ([MS-ASHTTP] 3.2.5.1): the client would
// follow X-MS-Location straight to the other mail server, past the
// gateway. The location is rewritten to the same path and query on the
// gateway's own host, and the user's (or device's) later requests are sent
// to the server named.
func (p *Proxy) rewrite451(resp *http.Response, tx *txn) error {
	raw := resp.Header.Get(HeaderMSLocation)
	loc, err := url.Parse(raw)
	switch {
	case raw == "":
		// Nothing to follow or rewrite; the client will retry here.
		return nil
	case err != nil || (loc.Scheme != "https" && loc.Scheme != "http") || loc.Host == "":
		return fmt.Errorf("%w: %s %q is not an absolute http(s) URL", errBadRedirect, HeaderMSLocation, raw)
	case p.redirHost != nil && !p.redirHost[strings.ToLower(loc.Hostname())]:
		return fmt.Errorf("%w: %s names %q, not in RedirectHosts", errBadRedirect, HeaderMSLocation, loc.Hostname())
	}
	pth, q := loc.EscapedPath(), loc.RawQuery
	if staticRoute(loc.Path) != routeEAS {
		// A path the gateway does not route as ActiveSync would leave
		// the client with 404s: keep the one it used.
		pth, q = tx.inPath, ""
	}
	gw := &url.URL{Scheme: tx.inScheme, Host: tx.inHost}
	resp.Header.Set(HeaderMSLocation, gw.String()+pth+queryPart(q))
	p.redirects.remember(tx.user, tx.deviceID, loc, p.now())
	tx.redirectTo = (&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String()
	p.log.Info("451 redirect remembered", "user", tx.user, "device_id", tx.deviceID, "upstream", tx.redirectTo)
	return nil
}

func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}
