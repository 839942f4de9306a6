package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
)

// Email security (package transform) on the responses that carry mail:
// Sync, ItemOperations and Search answers are walked item by item;
// GetAttachment downloads are refused or encrypted as the listing decided.

// planFor returns the plan for an allowed EAS request, nil when none.
func (p *Proxy) planFor(id device.Identity, rec *device.Record) *transform.Plan {
	if p.transforms == nil {
		return nil
	}
	rules := p.transforms()
	if rules == nil {
		return nil
	}
	return rules.Plan(transform.Who{Managed: rec != nil && rec.Managed, DeviceID: id.DeviceID, User: id.User, UserAgent: id.UserAgent})
}

// carriesMail reports whether a command's response may carry messages or
// attachments.
func carriesMail(c eas.Command) bool {
	switch c {
	case eas.Sync, eas.ItemOperations, eas.Search, eas.Find, eas.GetAttachment:
		return true
	}
	return false
}

// transformResponse applies tx.plan to the mail server's response.
func (p *Proxy) transformResponse(resp *http.Response, tx *txn) error {
	plan := tx.plan
	if resp.StatusCode != http.StatusOK || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// Asked without Accept-Encoding, the server compressed anyway:
		// the walk cannot read it, and passing it would skip the
		// transforms. Fail closed.
		resp.Body.Close()
		return fmt.Errorf("%w (Content-Encoding %q)", errEncodedUnderPlan, ce)
	}
	if tx.cmd == eas.GetAttachment {
		act, unlisted := plan.Download(tx.attachmentName, resp.Header.Get("Content-Type"))
		switch act {
		case attach.Block:
			resp.Body.Close()
			tx.transformed.Store(&transformResult{rep: transform.Report{DownloadBlocked: true, AttachmentsBlocked: 1, DownloadUnlisted: unlisted}})
			// GetAttachment has no WBXML response ([MS-ASCMD]
			// 2.2.1.7): 403, as for any refused download.
			*resp = http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
				Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Cache-Control": {"private, no-store"}},
				Body:   io.NopCloser(bytes.NewReader([]byte("attachment blocked by policy\n"))), ContentLength: 28, Request: resp.Request}
			return nil
		case attach.Encrypt:
			if plan.Encrypt == nil {
				return errors.New("transform: encrypt without a key")
			}
			if resp.ContentLength >= 0 && plan.EncryptedSize != nil {
				resp.ContentLength = plan.EncryptedSize(resp.ContentLength)
				resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
			} else {
				resp.ContentLength = -1
				resp.Header.Del("Content-Length")
			}
			resp.Header.Set("Content-Type", "application/octet-stream")
			resp.Body = plan.EncryptStream(resp.Body)
			tx.transformed.Store(&transformResult{rep: transform.Report{DownloadEncrypted: true, AttachmentsEncrypted: 1, DownloadUnlisted: unlisted}})
		}
		return nil
	}
	switch mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt {
	case WBXMLContentType:
	case MultipartContentType:
		// Asked without the multipart preference, the server answered
		// with parts the walk cannot see into: fail closed.
		resp.Body.Close()
		return errMultipartUnderPlan
	default:
		return nil // no mail in it (an empty Sync, an error page)
	}
	// The response streams through the walk: a pipe between the
	// transform, reading the mail server's body, and the copy to the
	// client.
	src := resp.Body
	pr, pw := io.Pipe()
	resp.Body = pr
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	go func() {
		defer src.Close()
		rep, err := plan.WBXML(pw, src, transform.Limits{})
		// Stored before the pipe closes: the copy that sees the end,
		// and the log after it, see the report.
		tx.transformed.Store(&transformResult{rep: rep, err: err})
		pw.CloseWithError(err)
	}()
	return nil
}

// transformResult is what a response's transform did.
type transformResult struct {
	rep transform.Report
	err error
}

// transformAttrs are the transaction log's transform fields.
func transformAttrs(a []slog.Attr, tx *txn) []slog.Attr {
	tr := tx.transformed.Load()
	if tr == nil {
		return a
	}
	r := tr.rep
	if r.LinksChanged > 0 {
		a = append(a, slog.Int("links_rewritten", r.LinksChanged))
	}
	if r.AttachmentsBlocked > 0 {
		a = append(a, slog.Int("attachments_blocked", r.AttachmentsBlocked))
	}
	if r.AttachmentsEncrypted > 0 {
		a = append(a, slog.Int("attachments_encrypted", r.AttachmentsEncrypted))
	}
	if r.MessagesBlocked > 0 {
		a = append(a, slog.Int("messages_blocked", r.MessagesBlocked))
	}
	if r.SMIMEPassed > 0 {
		a = append(a, slog.Int("smime_passed", r.SMIMEPassed))
	}
	if r.DownloadUnlisted {
		// Decided by the unknown rule: never listed to this user and
		// device, or listed before a restart.
		a = append(a, slog.Bool("attachment_unlisted", true))
	}
	if r.SMIMEBlocked > 0 {
		a = append(a, slog.Int("smime_blocked", r.SMIMEBlocked))
	}
	if tr.err != nil {
		a = append(a, slog.String("transform_err", tr.err.Error()))
	}
	return a
}
