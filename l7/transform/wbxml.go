package transform

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/transform/attach"
	"github.com/mailgate/enforcer/l7/transform/mime"
	"github.com/mailgate/enforcer/l7/wbxml"
)

// ErrItemTooLarge is returned when one item exceeds Limits.MaxItemBytes.
var ErrItemTooLarge = errors.New("transform: item too large")

// Tags the walk looks at, resolved once.
var (
	tagApplicationData = wbxml.MustTag("AirSync:ApplicationData")
	tagFetch           = wbxml.MustTag("ItemOperations:Fetch")
	tagSearchProps     = wbxml.MustTag("Search:Properties")
	tagFindProps       = wbxml.MustTag("Find:Properties")
)

// isItem reports whether an element holds one message or download: a Sync
// Add or Change's ApplicationData, an ItemOperations Fetch, a Search
// result's Properties, a Find result's Properties (protocol 16.1: subject
// and a plain text preview, no body or attachment list).
func isItem(t wbxml.Tag) bool {
	return t == tagApplicationData || t == tagFetch || t == tagSearchProps || t == tagFindProps
}

// WBXML transforms an EAS WBXML response body from r to w. Items are
// rewritten per the plan; everything else is copied token by token, which
// re-encodes to the same bytes.
func (p *Plan) WBXML(w io.Writer, r io.Reader, lim Limits) (Report, error) {
	lim = lim.withDefaults()
	var rep Report
	dec := wbxml.NewDecoder(r, wbxml.Limits{})
	enc := wbxml.NewEncoder(w)
	for {
		tok, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, err
		}
		if tok.Kind == wbxml.StartTag && tok.HasContent && isItem(tok.Tag) {
			n, err := collect(dec, tok, lim.MaxItemBytes)
			if err != nil {
				return rep, err
			}
			rep.Items++
			p.item(n, &rep)
			if err := enc.WriteNode(n); err != nil {
				return rep, err
			}
			continue
		}
		if err := enc.WriteToken(tok); err != nil {
			return rep, err
		}
	}
	return rep, enc.Close()
}

// collect reads the subtree opened by start into a node, bounded.
func collect(dec *wbxml.Decoder, start wbxml.Token, max int64) (*wbxml.Node, error) {
	root := &wbxml.Node{Page: start.Tag.Page, Tag: start.Tag.Token, Switch: start.Switch, HasContent: true}
	stack := []*wbxml.Node{root}
	size := int64(0)
	for len(stack) > 0 {
		tok, err := dec.Next()
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		size += int64(len(tok.Data)) + 2
		if size > max {
			return nil, fmt.Errorf("%w: over %d bytes", ErrItemTooLarge, max)
		}
		switch tok.Kind {
		case wbxml.StartTag:
			n := &wbxml.Node{Page: tok.Tag.Page, Tag: tok.Tag.Token, Switch: tok.Switch, HasContent: tok.HasContent}
			top.Children = append(top.Children, n)
			if tok.HasContent {
				stack = append(stack, n)
			}
		case wbxml.EndTag:
			stack = stack[:len(stack)-1]
		case wbxml.Text:
			top.Children = append(top.Children, wbxml.NewText(string(tok.Data)))
		case wbxml.Opaque:
			top.Children = append(top.Children, wbxml.NewOpaque(tok.Data))
		}
	}
	// Decoded trees leave HasContent false on elements with children;
	// the encoder sets the bit for them anyway.
	fixContent(root)
	return root, nil
}

func fixContent(n *wbxml.Node) {
	if len(n.Children) > 0 {
		n.HasContent = false
		for _, c := range n.Children {
			if c.Kind == wbxml.ElementNode {
				fixContent(c)
			}
		}
	}
}

// item rewrites one message or download in place.
func (p *Plan) item(n *wbxml.Node, rep *Report) {
	if n.TagID() == tagFetch {
		props := n.Child("ItemOperations:Properties")
		ref := value(n.Child("AirSyncBase:FileReference"))
		switch {
		case ref != "" || isAnonymousDownload(n, props):
			p.fetchAttachment(n, ref, props, rep)
		case props != nil:
			p.message(props, rep)
		}
		return
	}
	p.message(n, rep)
}

// isAnonymousDownload reports whether a Fetch result carries content
// (ItemOperations:Data, or a Part of a multipart answer) but names neither
// a file reference nor a message (ServerId, LongId) nor a document
// (LinkId): a server that did not echo the FileReference it was asked
// for. It is an attachment of unknown name.
func isAnonymousDownload(fetch, props *wbxml.Node) bool {
	if props == nil || props.Child("ItemOperations:Data") == nil && props.Child("ItemOperations:Part") == nil {
		return false
	}
	for _, id := range []string{"AirSync:ServerId", "Search:LongId", "DocumentLibrary:LinkId"} {
		if fetch.Child(id) != nil {
			return false
		}
	}
	return true
}

// message rewrites one message's body and attachments. S/MIME mail is
// walked like any other: its signature covers only the MIME form (body
// type 4), where the MIME walk keeps it intact; a type 1 or 2 body and
// the attachment list are the server's rendering, which no signature
// covers.
func (p *Plan) message(n *wbxml.Node, rep *Report) {
	body := n.Child("AirSyncBase:Body")
	legacy := n.Child("Email:Body")
	if p.Classify != nil {
		if block, notice := p.Classify(value(n.Child("Email:Subject"))); block {
			p.replaceBody(n, body, legacy, notice)
			rep.MessagesBlocked++
			return
		}
	}
	removed := p.attachments(n, rep)
	switch {
	case body != nil:
		if !p.body(body, removed, rep) {
			// A MIME body the walk could not finish (nested or
			// headed beyond its limits) would carry its attachments
			// past the policy: the message becomes the notice.
			p.replaceBody(n, body, legacy, []byte(mime.DefaultBlockedMessage))
			rep.MessagesBlocked++
		}
	case legacy != nil:
		p.legacyBody(n, legacy, removed, rep)
	}
}

// body rewrites an AirSyncBase:Body ([MS-ASAIRS] 2.2.2.9): links in types
// 1 and 2, the whole MIME message of type 4. Sizes follow the data:
// EstimatedDataSize is the untruncated size, so it moves by the change.
// It returns false when the MIME walk failed: the body is left for the
// caller to replace.
func (p *Plan) body(body *wbxml.Node, removed int, rep *Report) bool {
	data := body.Child("AirSyncBase:Data")
	if data == nil {
		return true
	}
	old := nodeBytes(data)
	truncated := value(body.Child("AirSyncBase:Truncated")) == "1"
	var out []byte
	switch value(body.Child("AirSyncBase:Type")) {
	case "1":
		out = p.text(old, removed, truncated, rep)
	case "2":
		out = p.html(old, removed, truncated, rep)
	case "4":
		if p.MIME == nil {
			return true
		}
		var b bytes.Buffer
		m, err := p.MIME(&b, bytes.NewReader(old))
		if err != nil {
			return false
		}
		if !m.Changed {
			rep.addMIME(MIMEReport{SMIME: m.SMIME})
			return true
		}
		rep.addMIME(m)
		out = b.Bytes()
	default:
		return true
	}
	if out == nil {
		return true
	}
	setBytes(data, out)
	if est := body.Child("AirSyncBase:EstimatedDataSize"); est != nil {
		if v, err := strconv.ParseInt(value(est), 10, 64); err == nil {
			est.SetText(strconv.FormatInt(max(0, v+int64(len(out)-len(old))), 10))
		}
	}
	return true
}

// text and html rewrite links and, when attachments were removed and the
// body is whole, append the notice. They return nil when nothing changed.
func (p *Plan) text(old []byte, removed int, truncated bool, rep *Report) []byte {
	out, n := old, 0
	if p.Text != nil {
		out, n = p.Text(old)
		rep.LinksChanged += n
	}
	if removed > 0 && !truncated && p.BlockedNotice != "" {
		out = append(append(bytes.Clone(out), "\r\n\r\n"...), p.BlockedNotice...)
		n++
	}
	if n == 0 {
		return nil
	}
	return out
}

func (p *Plan) html(old []byte, removed int, truncated bool, rep *Report) []byte {
	out, n := old, 0
	if p.HTML != nil {
		out, n = p.HTML(old)
		rep.LinksChanged += n
	}
	if removed > 0 && !truncated && p.BlockedNotice != "" {
		out = append(append(bytes.Clone(out), "<p>"...), htmlEscape(p.BlockedNotice)...)
		out = append(out, "</p>"...)
		n++
	}
	if n == 0 {
		return nil
	}
	return out
}

func htmlEscape(s string) []byte {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.Bytes()
}

// legacyBody rewrites the protocol 2.5 Email:Body, plain text.
func (p *Plan) legacyBody(item, legacy *wbxml.Node, removed int, rep *Report) {
	truncated := value(item.Child("Email:BodyTruncated")) == "1"
	if out := p.text(nodeBytes(legacy), removed, truncated, rep); out != nil {
		setBytes(legacy, out)
	}
}

// replaceBody puts a classification notice in place of the body and drops
// the attachments.
func (p *Plan) replaceBody(item, body, legacy *wbxml.Node, notice []byte) {
	removeChildren(item, "AirSyncBase:Attachments")
	removeChildren(item, "Email:Attachments")
	if preview := item.Child("Find:Preview"); preview != nil {
		// A Find result's preview is the body's first characters.
		setBytes(preview, previewOf(notice))
	}
	if legacy != nil {
		setBytes(legacy, notice)
		if t := item.Child("Email:BodyTruncated"); t != nil {
			t.SetText("0")
		}
	}
	if body == nil {
		return
	}
	var out []byte
	typ := body.Child("AirSyncBase:Type")
	switch value(typ) {
	case "2":
		out = append(append([]byte("<html><body><pre>"), htmlEscape(string(notice))...), "</pre></body></html>"...)
	case "4":
		out = append([]byte("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"), notice...)
	default:
		out = notice
	}
	body.Children = nil
	if typ == nil {
		typ = wbxml.ElemText("AirSyncBase:Type", "1")
	}
	body.Children = append(body.Children, typ,
		wbxml.ElemText("AirSyncBase:EstimatedDataSize", strconv.Itoa(len(out))),
		wbxml.ElemText("AirSyncBase:Truncated", "0"),
		wbxml.Elem("AirSyncBase:Data", wbxml.NewText(string(out))))
}

// attachments applies the attachment policy to the item's attachment
// list ([MS-ASAIRS] 2.2.2.7; the legacy Email:Attachments of 2.5): blocked
// ones are removed, encrypted ones renamed and resized. Each decision is
// remembered by file reference for the download. It returns how many were
// removed.
func (p *Plan) attachments(item *wbxml.Node, rep *Report) int {
	if p.Attachment == nil {
		return 0
	}
	removed := 0
	for _, form := range []struct{ list, att, name, ref, size string }{
		{"AirSyncBase:Attachments", "AirSyncBase:Attachment", "AirSyncBase:DisplayName", "AirSyncBase:FileReference", "AirSyncBase:EstimatedDataSize"},
		{"Email:Attachments", "Email:Attachment", "Email:DisplayName", "Email:AttName", "Email:AttSize"},
	} {
		list := item.Child(form.list)
		if list == nil {
			continue
		}
		kept, dropped := list.Children[:0:0], 0
		for _, a := range list.Children {
			if !a.Is(form.att) {
				kept = append(kept, a)
				continue
			}
			name := value(a.Child(form.name))
			ref := value(a.Child(form.ref))
			if name == "" {
				name = path.Base(ref)
			}
			l := Listing{Name: name, ContentType: value(a.Child("AirSyncBase:ContentType"))}
			act := p.listed(l)
			if p.Remember != nil && ref != "" {
				p.Remember(ref, l)
			}
			switch act {
			case attach.Block:
				removed++
				dropped++
				rep.AttachmentsBlocked++
				continue
			case attach.Encrypt:
				rep.AttachmentsEncrypted++
				if dn := a.Child(form.name); dn != nil {
					dn.SetText(value(dn) + ".enc")
				}
				if sz := a.Child(form.size); sz != nil && p.EncryptedSize != nil {
					if v, err := strconv.ParseInt(value(sz), 10, 64); err == nil {
						sz.SetText(strconv.FormatInt(p.EncryptedSize(v), 10))
					}
				}
			}
			kept = append(kept, a)
		}
		switch {
		case dropped == 0:
		case len(kept) == 0:
			// An empty list would still say "attachments": drop it.
			removeChildren(item, form.list)
		default:
			list.Children = kept
		}
	}
	return removed
}

// fetchAttachment handles an ItemOperations Fetch of an attachment
// ([MS-ASCMD] 2.2.3.67.1), decided as a GetAttachment is
// ([Plan.DownloadAction]): refused when blocked (the Fetch gets Status 6,
// object not found or access denied, and no Properties), encrypted when
// it is to be. Inline content (ItemOperations:Data, base64) is encrypted
// here; content sent as a part of a multipart response cannot be, so it
// is refused too (fail closed).
func (p *Plan) fetchAttachment(fetch *wbxml.Node, ref string, props *wbxml.Node, rep *Report) {
	ct := ""
	if props != nil {
		ct = value(props.Child("AirSyncBase:ContentType"))
	}
	act, unlisted := p.Download(ref, ct)
	if unlisted && act != attach.Allow {
		rep.DownloadUnlisted = true
	}
	if act == attach.Allow || props == nil {
		return
	}
	if act == attach.Encrypt && p.Encrypt != nil {
		if data := props.Child("ItemOperations:Data"); data != nil {
			enc, err := p.encryptBase64(nodeBytes(data))
			if err == nil {
				setBytes(data, enc)
				rep.AttachmentsEncrypted++
				rep.DownloadEncrypted = true
				return
			}
		}
	}
	removeChildren(fetch, "ItemOperations:Properties")
	if st := fetch.Child("ItemOperations:Status"); st != nil {
		st.SetText("6")
	}
	rep.AttachmentsBlocked++
	rep.DownloadBlocked = true
}

// encryptBase64 decodes base64 content, encrypts it and encodes it again.
func (p *Plan) encryptBase64(b64 []byte) ([]byte, error) {
	plain := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(plain, bytes.TrimSpace(b64))
	if err != nil {
		return nil, err
	}
	var sealed bytes.Buffer
	wc, err := p.Encrypt(&sealed)
	if err != nil {
		return nil, err
	}
	if _, err := wc.Write(plain[:n]); err != nil {
		return nil, err
	}
	if err := wc.Close(); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(sealed.Bytes())), nil
}

// removeChildren drops every child element named name.
func removeChildren(n *wbxml.Node, name string) {
	t, ok := wbxml.LookupTag(name)
	if !ok {
		return
	}
	kept := n.Children[:0:0]
	for _, c := range n.Children {
		if c.Kind == wbxml.ElementNode && c.TagID() == t {
			continue
		}
		kept = append(kept, c)
	}
	n.Children = kept
}

// nodeBytes is an element's content, whether sent as strings or opaque.
func nodeBytes(n *wbxml.Node) []byte {
	if len(n.Children) == 1 {
		switch c := n.Children[0]; c.Kind {
		case wbxml.TextNode:
			return []byte(c.Text)
		case wbxml.OpaqueNode:
			return c.Opaque
		}
	}
	return []byte(n.Value())
}

// setBytes replaces an element's content, in the form it came in (OPAQUE
// or STR_I; a string cannot hold NUL, so such data goes OPAQUE).
func setBytes(n *wbxml.Node, b []byte) {
	opaque := len(n.Children) == 1 && n.Children[0].Kind == wbxml.OpaqueNode || bytes.IndexByte(b, 0) >= 0
	if opaque {
		n.Children = []*wbxml.Node{wbxml.NewOpaque(b)}
		return
	}
	n.Children = []*wbxml.Node{wbxml.NewText(string(b))}
}

// value is an element's text, "" for a missing element.
func value(n *wbxml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value()
}

// maxPreview is the longest preview a Find result carries ([MS-ASCMD]
// 2.2.3.134.2: up to 255 characters).
const maxPreview = 255

// previewOf cuts text to a preview's length, at a character boundary.
func previewOf(text []byte) []byte {
	if utf8.RuneCount(text) <= maxPreview {
		return text
	}
	n := 0
	for i := range string(text) {
		if n == maxPreview {
			return text[:i]
		}
		n++
	}
	return text
}
