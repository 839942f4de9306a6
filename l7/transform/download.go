package transform

import (
	"io"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// DownloadAction decides on an attachment download (GetAttachment's
// AttachmentName, [MS-ASCMD] 2.2.3.14; an ItemOperations Fetch by
// FileReference, 2.2.3.67.1) by its file reference, in whatever encoding
// it is asked for: as the attachment lists that named it decide now
// (the strictest over their names; contentType, the type the download
// comes with, can only make it stricter), or, for a reference never
// listed to this user and device, by the unknown rule ([Plan.Unknown]).
// A reference's own text is never read as a file name: Exchange's carry
// none, and a client could append one. Allow when the plan has no
// attachment policy.
func (p *Plan) DownloadAction(ref, contentType string) attach.Action {
	a, _ := p.Download(ref, contentType)
	return a
}

// Download is DownloadAction that also reports whether the unknown rule
// decided (the reference was not listed to this user and device), for
// the transaction log.
func (p *Plan) Download(ref, contentType string) (a attach.Action, unlisted bool) {
	if p == nil || p.Attachment == nil {
		return attach.Allow, false
	}
	if p.Listed == nil {
		return p.Unknown, true
	}
	ls, ok := p.Listed(ref)
	if !ok {
		return p.Unknown, true
	}
	for _, l := range ls {
		a = attach.Stricter(a, p.listed(l))
		if contentType != "" && contentType != l.ContentType {
			a = attach.Stricter(a, p.Attachment(l.Name, contentType))
		}
	}
	return a, false
}

// listed decides an attachment by what its list said; an S/MIME
// container gets the unknown rule as well.
func (p *Plan) listed(l Listing) attach.Action {
	a := p.Attachment(l.Name, l.ContentType)
	if isContainer(l.Name, l.ContentType) {
		a = attach.Stricter(a, p.Unknown)
	}
	return a
}

// EncryptStream returns a reader of r's bytes encrypted with the plan's
// key, produced as they are read: the download streams, chunk by chunk.
func (p *Plan) EncryptStream(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		wc, err := p.Encrypt(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.Copy(wc, r); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(wc.Close())
	}()
	return pr
}
