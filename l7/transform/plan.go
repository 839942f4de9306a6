package transform

import (
	"io"
	"strings"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// Plan is the email security that applies to one request's response. A
// nil function turns its part off. The zero Plan changes nothing.
type Plan struct {
	// HTML and Text rewrite links in an HTML or plain text body; they
	// return their input and 0 when nothing changed.
	HTML func([]byte) ([]byte, int)
	Text func([]byte) ([]byte, int)
	// MIME transforms a whole MIME message (body type 4): links in its text
	// parts, its attachments, its classification.
	MIME func(w io.Writer, r io.Reader) (MIMEReport, error)
	// Attachment decides on an attachment by file name and content type
	// ("" when unknown).
	Attachment func(name, contentType string) attach.Action
	// Encrypt wraps a download in the device-user key's encryption.
	Encrypt func(w io.Writer) (io.WriteCloser, error)
	// EncryptedSize is the size of n bytes once encrypted.
	EncryptedSize func(n int64) int64
	// Classify decides on a message by its subject (and, for MIME bodies,
	// MIME decides on its headers itself): block replaces the body with
	// notice.
	Classify func(subject string) (block bool, notice []byte)
	// BlockedNotice is appended to a text body whose attachments were
	// removed.
	BlockedNotice string
	// Remember notes what an attachment list said of the attachment
	// behind a file reference, so that its download is decided the same
	// way.
	Remember func(fileRef string, l Listing)
	// Listed returns what Remember noted for a file reference (in any
	// of its encodings); false when it was never listed to this user and
	// device, was forgotten, or is ambiguous.
	Listed func(fileRef string) ([]Listing, bool)
	// Unknown is the action for an attachment the gateway cannot see: a
	// download Listed does not know, the content of encrypted S/MIME, an
	// S/MIME container attachment. With a policy it is the strictest
	// action of the device's rule set ([attach.Policy.Unknown]).
	Unknown attach.Action
}

// Listing is what an attachment list said of one attachment: the name and
// type its decision rests on.
type Listing struct {
	Name, ContentType string
}

// MIMEReport is what a MIME transform did.
type MIMEReport struct {
	LinksChanged         int
	AttachmentsBlocked   int
	AttachmentsEncrypted int
	Blocked              bool // the message was replaced (classification, S/MIME)
	SMIME                bool
	SMIMEBlocked         int
	Changed              bool
}

// Active reports whether the plan may change anything.
func (p *Plan) Active() bool {
	return p != nil && (p.HTML != nil || p.Text != nil || p.MIME != nil || p.Attachment != nil || p.Classify != nil)
}

// Report is what a response's transform did, for the transaction log.
type Report struct {
	Items                int // items looked at
	LinksChanged         int
	AttachmentsBlocked   int
	AttachmentsEncrypted int
	MessagesBlocked      int
	SMIMEPassed          int
	// SMIMEBlocked counts S/MIME content replaced by the notice.
	SMIMEBlocked int
	// DownloadBlocked and DownloadEncrypted are set for an attachment
	// download.
	DownloadBlocked   bool
	DownloadEncrypted bool
	// DownloadUnlisted: a download's reference was not listed to this
	// user and device (or was forgotten): the unknown rule decided.
	DownloadUnlisted bool
}

// Changed reports whether anything was changed.
func (r Report) Changed() bool {
	return r.LinksChanged+r.AttachmentsBlocked+r.AttachmentsEncrypted+r.MessagesBlocked > 0 || r.DownloadBlocked || r.DownloadEncrypted
}

func (r *Report) addMIME(m MIMEReport) {
	r.LinksChanged += m.LinksChanged
	r.AttachmentsBlocked += m.AttachmentsBlocked
	r.AttachmentsEncrypted += m.AttachmentsEncrypted
	if m.Blocked {
		r.MessagesBlocked++
	}
	if m.SMIME {
		r.SMIMEPassed++
	}
	r.SMIMEBlocked += m.SMIMEBlocked
}

// isContainer reports whether an attachment is an S/MIME container: the
// smime.p7m that holds a signed or encrypted message (Exchange lists one
// for IPM.Note.SMIME and IPM.Note.SMIME.MultipartSigned mail, [MS-ASEMAIL]
// 2.2.2.41), or a .p7m attached to other mail. The gateway does not open
// it, so whatever it holds is unknown.
func isContainer(name, contentType string) bool {
	if n := strings.ToLower(strings.TrimRight(strings.TrimSpace(name), ". \t")); strings.HasSuffix(n, ".p7m") {
		return true
	}
	mt, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch strings.TrimSpace(mt) {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return true
	}
	return false
}

// Limits bound what a transform holds.
type Limits struct {
	// MaxItemBytes bounds one item held while its body and attachments are
	// rewritten. Default 64 MiB.
	MaxItemBytes int64
}

// DefaultMaxItemBytes is the default of Limits.MaxItemBytes.
const DefaultMaxItemBytes = 64 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxItemBytes <= 0 {
		l.MaxItemBytes = DefaultMaxItemBytes
	}
	return l
}
