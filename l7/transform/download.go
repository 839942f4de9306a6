package transform

import (
	"io"
	"path"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// DownloadAction decides on an attachment download by its file reference
// (GetAttachment's AttachmentName, [MS-ASCMD] 2.2.3.14): what the Sync
// that listed it decided, else the policy on the reference's last segment
// (mail servers end it with the file name) and the response's content
// type. Allow when the plan has no attachment policy.
func (p *Plan) DownloadAction(ref, contentType string) attach.Action {
	if p == nil {
		return attach.Allow
	}
	if p.Decided != nil {
		if a, ok := p.Decided(ref); ok {
			return a
		}
	}
	if p.Attachment == nil {
		return attach.Allow
	}
	return p.Attachment(path.Base(ref), contentType)
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
