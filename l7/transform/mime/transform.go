package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	stdmime "mime"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// Defaults of the Options limits.
const (
	DefaultMaxPartBytes   = 8 << 20
	DefaultMaxDepth       = 32
	DefaultMaxHeaderBytes = 256 << 10
	DefaultMaxSignedBytes = 64 << 20
	// DefaultBlockedMessage is the body of a message Classify blocks
	// without giving a notice.
	DefaultBlockedMessage = "This message was blocked by your organisation's mail policy."
)

// ErrLimit is wrapped by Transform when a message exceeds MaxDepth or
// MaxHeaderBytes. The output is then incomplete and must be discarded.
var ErrLimit = errors.New("mime: message exceeds a limit")

// Options says what Transform changes. The zero Options changes nothing:
// the output is the input.
type Options struct {
	// Text is called for each text/plain and text/html part that is not an
	// attachment (no Content-Disposition: attachment) with subtype "plain"
	// or "html" and the body decoded from its transfer encoding. A body in
	// a charset whose ASCII bytes are always ASCII (UTF-8, ISO-8859-*,
	// windows-125x, EUC-JP, ...) is given in that charset, untouched, so
	// that ASCII edits such as link rewriting need no conversion; any
	// other (UTF-16, Shift_JIS, ISO-2022-JP, ...) is converted to UTF-8
	// and the result converted back. Text returns the new body and the
	// number of changes; 0 means unchanged (return the input), and the
	// part is then copied exactly as it came. Default: nil, no change.
	Text func(subtype string, body []byte) ([]byte, int)
	// Attachment decides each attachment: every leaf part that is not a
	// text body, and message/rfc822 parts (Allow descends into them). It
	// is called once per file name the part carries (Content-Disposition
	// filename and Content-Type name, RFC 2047/2231 decoded; "" when there
	// is none) and the strictest answer wins. Default: nil, allow all.
	Attachment func(filename, contentType string) attach.Action
	// Encrypt returns the writer that encrypts an attachment into w, for
	// example attach.NewEncrypter with the device's key. Default: nil, in
	// which case an attachment to encrypt is blocked instead.
	Encrypt func(w io.Writer) (io.WriteCloser, error)
	// BlockedNotice is the text of the part that replaces a blocked
	// attachment. Default: attach.DefaultBlockedNotice.
	BlockedNotice string
	// TransformSMIME turns off the S/MIME exemption: signed content is
	// transformed like any (breaking its signature). By default a
	// multipart/signed entity is copied byte for byte when none of its
	// attachments would be blocked or encrypted, and replaced whole by
	// the notice otherwise (see the package doc). Default: false.
	TransformSMIME bool
	// Opaque is the action for an application/pkcs7-mime or
	// application/x-pkcs7-mime entity (encrypted or opaque-signed
	// S/MIME), whose content the gateway cannot read; the strictest of it
	// and Attachment's answer on the entity applies. Without
	// TransformSMIME anything but Allow replaces the entity (the whole
	// message, when it is the top-level entity) by the notice. Default:
	// Allow.
	Opaque attach.Action
	// MaxSignedBytes bounds a signed entity held to check its
	// attachments before it is sent on; a larger one is replaced by the
	// notice, as it cannot be checked. Default: DefaultMaxSignedBytes
	// (64 MiB).
	MaxSignedBytes int64
	// Classify is called once with the top-level header (Subject decoded
	// from RFC 2047). When it returns block, the body is replaced by a
	// text/plain part holding notice (DefaultBlockedMessage when empty);
	// the top-level fields other than Content-* are kept. Classification
	// applies to S/MIME mail too. Default: nil, nothing blocked.
	Classify func(subject string, h textproto.MIMEHeader) (block bool, notice []byte)
	// MaxPartBytes bounds the encoded size of a text part held in memory
	// to be given to Text; a larger part is copied unchanged (and counted
	// in Report.Oversized). Default: DefaultMaxPartBytes (8 MiB).
	MaxPartBytes int64
	// MaxDepth bounds the nesting of multipart and message entities.
	// Default: DefaultMaxDepth (32).
	MaxDepth int
	// MaxHeaderBytes bounds the size of one header block. Default:
	// DefaultMaxHeaderBytes (256 KiB).
	MaxHeaderBytes int
}

// Report says what Transform did.
type Report struct {
	// LinksChanged is the sum of the change counts Text returned.
	LinksChanged int
	// AttachmentsBlocked and AttachmentsEncrypted count attachment parts.
	AttachmentsBlocked, AttachmentsEncrypted int
	// Blocked: Classify blocked the message.
	Blocked bool
	// SMIME: the message holds an S/MIME entity that was left untouched.
	SMIME bool
	// SMIMEBlocked counts S/MIME entities replaced by the notice: signed
	// content with an attachment to block or encrypt, or encrypted
	// content under a policy that does not allow the unknown. Their
	// attachments count in AttachmentsBlocked.
	SMIMEBlocked int
	// Oversized counts text parts copied unchanged for exceeding
	// MaxPartBytes.
	Oversized int
	// Changed: the output differs from the input.
	Changed bool
}

// Transform copies the message r to w, applying o. Parts nothing applies
// to are copied byte for byte. It returns an error only when reading r or
// writing w fails, when the message exceeds MaxDepth or MaxHeaderBytes
// (wrapping ErrLimit), or when o.Encrypt fails; w has then received part
// of the output, which the caller must discard. Malformed MIME is never an
// error: what cannot be parsed is copied as it is.
func Transform(w io.Writer, r io.Reader, o Options) (Report, error) {
	if o.MaxPartBytes <= 0 {
		o.MaxPartBytes = DefaultMaxPartBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxSignedBytes <= 0 {
		o.MaxSignedBytes = DefaultMaxSignedBytes
	}
	if strings.TrimSpace(o.BlockedNotice) == "" {
		o.BlockedNotice = attach.DefaultBlockedNotice
	}
	t := &walker{
		in:  lineReader{br: bufio.NewReaderSize(r, 32<<10), start: true},
		out: bufio.NewWriterSize(w, 32<<10),
		o:   o,
		eol: crlf,
	}
	_, err := t.entity(0, "text/plain")
	if ferr := t.out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	return t.rep, err
}

// lineReader reads lines, or fragments of lines longer than its buffer.
type lineReader struct {
	br    *bufio.Reader
	start bool // the next read begins a line
}

// next returns the next line with its ending, valid until the next call,
// and whether it begins a line. It returns io.EOF only with no data.
func (l *lineReader) next() (line []byte, start bool, err error) {
	start = l.start
	line, err = l.br.ReadSlice('\n')
	switch {
	case err == nil:
		l.start = true
	case errors.Is(err, bufio.ErrBufferFull):
		l.start, err = false, nil
	case errors.Is(err, io.EOF) && len(line) > 0:
		l.start, err = false, nil
	}
	return line, start, err
}

// term is how a body ended: at the delimiter of boundary bounds[idx]
// (close: the close delimiter), or at the end of input (idx -1).
type term struct {
	idx   int
	close bool
	line  []byte
}

type walker struct {
	in     lineReader
	out    *bufio.Writer
	o      Options
	rep    Report
	bounds [][]byte
	eol    []byte // line ending of the top-level header, for new lines
	term   []byte // storage of the pending delimiter line
	text   []byte // storage of a buffered text part
	// scan: a dry run over held signed content, counting what the
	// policy would block or encrypt; the output is discarded.
	scan bool
	// signedChild: the next entity is a direct part of a multipart/signed.
	signedChild bool
}

// delim matches a line against the open boundaries, innermost first:
// "--" boundary ["--"] then only white space (RFC 2046 section 5.1.1).
func (t *walker) delim(line []byte, start bool) (term, bool) {
	if !start || len(t.bounds) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' || len(line) > 1024 {
		return term{}, false
	}
	body := trimEOL(line[2:])
	for i := len(t.bounds) - 1; i >= 0; i-- {
		b := t.bounds[i]
		if !bytes.HasPrefix(body, b) {
			continue
		}
		rest := body[len(b):]
		cl := bytes.HasPrefix(rest, []byte("--"))
		if cl {
			rest = rest[2:]
		}
		if len(bytes.Trim(rest, " \t")) == 0 {
			t.term = append(t.term[:0], line...)
			return term{idx: i, close: cl, line: t.term}, true
		}
	}
	return term{}, false
}

// body feeds each body line to fn until a delimiter or the end of input.
func (t *walker) body(fn func(line []byte) error) (term, error) {
	for {
		line, start, err := t.in.next()
		if err == io.EOF {
			return term{idx: -1}, nil
		}
		if err != nil {
			return term{}, err
		}
		if d, ok := t.delim(line, start); ok {
			return d, nil
		}
		if err := fn(line); err != nil {
			return term{}, err
		}
	}
}

func (t *walker) copyBody() (term, error) {
	return t.body(func(line []byte) error { _, err := t.out.Write(line); return err })
}

func (t *walker) skipBody() (term, error) {
	return t.body(func([]byte) error { return nil })
}

// readHeader reads a header block up to its blank line. It stops early at
// a delimiter or the end of input (more is false): the entity has no body.
func (t *walker) readHeader() (h *header, end term, more bool, err error) {
	h = &header{}
	for {
		line, start, err := t.in.next()
		if err == io.EOF {
			return h, term{idx: -1}, false, nil
		}
		if err != nil {
			return nil, term{}, false, err
		}
		if d, ok := t.delim(line, start); ok {
			return h, d, false, nil
		}
		h.raw = append(h.raw, line...)
		if len(h.raw) > t.o.MaxHeaderBytes {
			return nil, term{}, false, fmt.Errorf("%w: header block over %d bytes", ErrLimit, t.o.MaxHeaderBytes)
		}
		if start && (len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n') {
			h.blank = len(line)
			return h, term{}, true, nil
		}
	}
}

// part is what the walker knows about an entity from its header.
type part struct {
	h        *header
	mt       string // media type, lower-case
	params   map[string]string
	cte      string // lower-case, "" when absent
	disp     string
	dparams  map[string]string
	eol      []byte
	fileName string // first file name, for notices and .enc names
}

func (p *part) names() []string {
	var out []string
	for _, n := range []string{p.dparams["filename"], p.params["name"]} {
		n = DecodeWords(n)
		if n != "" && (len(out) == 0 || out[0] != n) {
			out = append(out, n)
		}
	}
	return out
}

// entity transforms one entity, header and body, from the current
// position; depth counts the enclosing multipart and message entities.
func (t *walker) entity(depth int, defType string) (term, error) {
	signedChild := t.signedChild
	t.signedChild = false
	h, end, more, err := t.readHeader()
	if err != nil {
		return term{}, err
	}
	h.parse()
	p := &part{h: h, eol: h.eol(t.eol)}
	if depth == 0 {
		t.eol = p.eol
	}
	p.mt, p.params = mediaType(h.get("content-type"))
	if p.mt == "" || !strings.Contains(p.mt, "/") {
		// RFC 2045 section 5.2: absent or invalid means the default.
		p.mt, p.params = defType, nil
	}
	p.cte = strings.ToLower(strings.TrimSpace(h.get("content-transfer-encoding")))
	p.disp, p.dparams = mediaType(h.get("content-disposition"))
	if ns := p.names(); len(ns) > 0 {
		p.fileName = ns[0]
	}

	if depth == 0 && t.o.Classify != nil {
		if block, notice := t.o.Classify(DecodeWords(h.get("subject")), h.mimeHeader()); block {
			return t.blockMessage(p, notice)
		}
	}
	if !more {
		_, err := t.out.Write(h.raw)
		return end, err
	}
	switch {
	case t.scan && signedChild && isSignature(p.mt):
		// The signature of the signed content, not an attachment.
		return t.skipBody()
	case isOpaque(p.mt):
		a := attach.Stricter(t.decide(p), t.o.Opaque)
		if t.o.TransformSMIME || t.scan {
			return t.leafAttachment(p, a)
		}
		return t.opaque(p, a, depth)
	case p.mt == "multipart/signed" && !t.o.TransformSMIME && !t.scan:
		return t.signed(p, depth, defType)
	}
	identity := p.cte == "" || p.cte == "7bit" || p.cte == "8bit" || p.cte == "binary"
	switch {
	case strings.HasPrefix(p.mt, "multipart/") && p.params["boundary"] != "" && identity:
		if depth >= t.o.MaxDepth {
			return term{}, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, t.o.MaxDepth)
		}
		if _, err := t.out.Write(h.raw); err != nil {
			return term{}, err
		}
		child := "text/plain"
		if p.mt == "multipart/digest" {
			child = "message/rfc822" // RFC 2046 section 5.1.5
		}
		return t.multipart(p.params["boundary"], depth, child, p.mt == "multipart/signed")
	case (p.mt == "message/rfc822" || p.mt == "message/global") && identity:
		a := t.decide(p)
		if a != attach.Allow {
			return t.leafAttachment(p, a)
		}
		if depth >= t.o.MaxDepth {
			return term{}, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, t.o.MaxDepth)
		}
		if _, err := t.out.Write(h.raw); err != nil {
			return term{}, err
		}
		return t.entity(depth+1, "text/plain")
	case (p.mt == "text/plain" || p.mt == "text/html") && p.disp != "attachment":
		if t.o.Text == nil || !knownCTE(p.cte) {
			if _, err := t.out.Write(h.raw); err != nil {
				return term{}, err
			}
			return t.copyBody()
		}
		return t.textPart(p)
	}
	return t.leafAttachment(p, t.decide(p))
}

// isOpaque reports whether a media type is S/MIME content the gateway
// cannot read: enveloped (encrypted) or opaque-signed data (RFC 8551
// section 3.2).
func isOpaque(mt string) bool {
	return mt == "application/pkcs7-mime" || mt == "application/x-pkcs7-mime"
}

// isSignature reports whether a media type is a detached S/MIME
// signature (RFC 8551 section 3.5.3).
func isSignature(mt string) bool {
	return mt == "application/pkcs7-signature" || mt == "application/x-pkcs7-signature"
}

// signed handles a multipart/signed entity (RFC 1847, RFC 8551 section
// 3.5) without TransformSMIME. Nothing inside may change, or the
// signature breaks: with no attachment policy it is copied as it comes;
// with one it is held (up to MaxSignedBytes), its attachments are
// decided in a dry run, and it is sent on byte for byte when none would
// be blocked or encrypted, else replaced whole by the notice.
func (t *walker) signed(p *part, depth int, defType string) (term, error) {
	if t.o.Attachment == nil && t.o.Opaque == attach.Allow {
		t.rep.SMIME = true
		if _, err := t.out.Write(p.h.raw); err != nil {
			return term{}, err
		}
		return t.copyBody()
	}
	held := append([]byte(nil), p.h.raw...)
	over := false
	end, err := t.body(func(line []byte) error {
		if over {
			return nil
		}
		if int64(len(held)+len(line)) > t.o.MaxSignedBytes {
			over, held = true, nil
			return nil
		}
		held = append(held, line...)
		return nil
	})
	if err != nil {
		return term{}, err
	}
	blocked := 1 // what cannot be checked is blocked
	if !over {
		dry := &walker{
			in:   lineReader{br: bufio.NewReader(bytes.NewReader(held)), start: true},
			out:  bufio.NewWriter(io.Discard),
			o:    Options{Attachment: t.o.Attachment, Opaque: t.o.Opaque, MaxDepth: t.o.MaxDepth, MaxHeaderBytes: t.o.MaxHeaderBytes, BlockedNotice: t.o.BlockedNotice},
			eol:  t.eol,
			scan: true,
		}
		if _, err := dry.entity(depth, defType); err != nil {
			return term{}, err
		}
		blocked = dry.rep.AttachmentsBlocked + dry.rep.AttachmentsEncrypted
	}
	if blocked == 0 {
		t.rep.SMIME = true
		_, err := t.out.Write(held)
		return end, err
	}
	t.rep.AttachmentsBlocked += blocked
	return end, t.smimeNotice(p, depth)
}

// opaque handles encrypted or opaque-signed S/MIME without
// TransformSMIME: copied as it comes when a allows, else replaced by the
// notice (encrypting it would leave the device nothing it can open).
func (t *walker) opaque(p *part, a attach.Action, depth int) (term, error) {
	if a == attach.Allow {
		t.rep.SMIME = true
		if _, err := t.out.Write(p.h.raw); err != nil {
			return term{}, err
		}
		return t.copyBody()
	}
	end, err := t.skipBody()
	if err != nil {
		return term{}, err
	}
	t.rep.AttachmentsBlocked++
	return end, t.smimeNotice(p, depth)
}

// smimeNotice writes the notice in place of an S/MIME entity: the whole
// message, keeping its non-Content fields, when it is the top-level
// entity; else a notice part, as for a blocked attachment.
func (t *walker) smimeNotice(p *part, depth int) error {
	t.rep.SMIMEBlocked++
	t.rep.Changed = true
	if depth == 0 {
		t.rep.Blocked = true
	}
	return t.writeNotice(p, []byte(t.o.BlockedNotice), depth > 0)
}

func (t *walker) decide(p *part) attach.Action {
	if t.o.Attachment == nil {
		return attach.Allow
	}
	names := p.names()
	if len(names) == 0 {
		names = []string{""}
	}
	a := attach.Allow
	for _, n := range names {
		a = attach.Stricter(a, t.o.Attachment(n, p.mt))
	}
	return a
}

// multipart walks a multipart body: preamble, parts, epilogue. A
// delimiter of an enclosing boundary ends it early (a missing close
// delimiter) and is handed up.
func (t *walker) multipart(boundary string, depth int, child string, signed bool) (term, error) {
	t.bounds = append(t.bounds, []byte(boundary))
	mine := len(t.bounds) - 1
	defer func() { t.bounds = t.bounds[:mine] }()
	end, err := t.copyBody() // preamble
	for err == nil {
		if end.idx != mine {
			return end, nil
		}
		if _, err := t.out.Write(end.line); err != nil {
			return term{}, err
		}
		if end.close {
			t.bounds = t.bounds[:mine]
			return t.copyBody() // epilogue
		}
		t.signedChild = signed
		end, err = t.entity(depth+1, child)
	}
	return term{}, err
}

// textPart buffers a text body, gives it to Text and writes the result.
func (t *walker) textPart(p *part) (term, error) {
	buf := t.text[:0]
	over := false
	end, err := t.body(func(line []byte) error {
		if over {
			_, err := t.out.Write(line)
			return err
		}
		buf = append(buf, line...)
		if int64(len(buf)) > t.o.MaxPartBytes {
			over = true
			t.rep.Oversized++
			if _, err := t.out.Write(p.h.raw); err != nil {
				return err
			}
			_, err := t.out.Write(buf)
			return err
		}
		return nil
	})
	if cap(buf) <= 1<<20 {
		t.text = buf[:0] // reuse moderate buffers only
	}
	if err != nil || over {
		return end, err
	}
	content, trail := buf, []byte(nil)
	if end.idx >= 0 {
		// The line ending before a delimiter belongs to it.
		switch {
		case bytes.HasSuffix(content, crlf):
			content, trail = content[:len(content)-2], crlf
		case bytes.HasSuffix(content, lf):
			content, trail = content[:len(content)-1], lf
		}
	}
	out, changed := t.rewriteText(p, content)
	if !changed {
		if _, err := t.out.Write(p.h.raw); err != nil {
			return term{}, err
		}
		_, err := t.out.Write(buf)
		return end, err
	}
	t.rep.Changed = true
	if _, err := t.out.Write(out); err != nil {
		return term{}, err
	}
	_, err = t.out.Write(trail)
	return end, err
}

// rewriteText returns the new header and body of a text part, or false
// when Text changed nothing.
func (t *walker) rewriteText(p *part, content []byte) ([]byte, bool) {
	decoded := decodeAll(p.cte, content)
	enc := lookupCharset(p.params["charset"])
	convert := enc != nil && !asciiSafe(enc)
	text := decoded
	if convert {
		u, err := enc.NewDecoder().Bytes(decoded)
		if err != nil {
			return nil, false
		}
		text = u
	}
	sub := strings.TrimPrefix(p.mt, "text/")
	body, n := t.o.Text(sub, text)
	if n == 0 {
		return nil, false
	}
	t.rep.LinksChanged += n
	var set [][2]string
	if convert {
		if b, err := enc.NewEncoder().Bytes(body); err == nil {
			body = b
		} else {
			// A character the charset cannot hold: the part becomes UTF-8.
			params := make(map[string]string, len(p.params))
			for k, v := range p.params {
				params[k] = v
			}
			params["charset"] = "utf-8"
			ct := stdmime.FormatMediaType(p.mt, params)
			if ct == "" {
				ct = p.mt + "; charset=utf-8"
			}
			set = append(set, [2]string{"Content-Type", ct})
		}
	}
	bodyEOL := p.eol
	if i := bytes.IndexByte(content, '\n'); i >= 0 {
		bodyEOL = lf
		if i > 0 && content[i-1] == '\r' {
			bodyEOL = crlf
		}
	}
	var encoded []byte
	switch p.cte {
	case "base64":
		encoded = encodeB64(body, bodyEOL)
		if bytes.HasSuffix(content, lf) {
			encoded = append(encoded, bodyEOL...)
		}
	case "quoted-printable":
		encoded = encodeQP(body, bodyEOL)
	default:
		encoded = body
		if (p.cte == "" || p.cte == "7bit") && needs8bit(body) {
			// 7bit cannot carry what Text returned (RFC 2045 section 2.7).
			encoded = encodeQP(body, bodyEOL)
			set = append(set, [2]string{"Content-Transfer-Encoding", "quoted-printable"})
		}
	}
	var out []byte
	if len(set) > 0 {
		out = p.h.replaced(p.eol, set...)
	} else {
		out = append(out, p.h.raw...)
	}
	return append(out, encoded...), true
}

// needs8bit reports whether b holds bytes 7bit cannot carry. Long lines
// are left alone: a part that had them keeps them.
func needs8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0 {
			return true
		}
	}
	return false
}

// leafAttachment applies an attachment action to a leaf part.
func (t *walker) leafAttachment(p *part, a attach.Action) (term, error) {
	if t.scan {
		switch a {
		case attach.Block:
			t.rep.AttachmentsBlocked++
		case attach.Encrypt:
			t.rep.AttachmentsEncrypted++
		}
		return t.skipBody()
	}
	if a == attach.Encrypt && t.o.Encrypt == nil {
		a = attach.Block // fail closed: nothing to encrypt with
	}
	switch a {
	case attach.Block:
		t.rep.AttachmentsBlocked++
		t.rep.Changed = true
		end, err := t.skipBody()
		if err != nil {
			return term{}, err
		}
		return end, t.writeNotice(p, []byte(t.o.BlockedNotice), true)
	case attach.Encrypt:
		t.rep.AttachmentsEncrypted++
		t.rep.Changed = true
		return t.encryptPart(p)
	}
	if _, err := t.out.Write(p.h.raw); err != nil {
		return term{}, err
	}
	return t.copyBody()
}

// writeNotice writes the header of p without its Content-* fields,
// followed by a text/plain UTF-8 part holding text.
func (t *walker) writeNotice(p *part, text []byte, attachment bool) error {
	eol := p.eol
	out := p.h.without(nil, isContentField)
	if !attachment && p.h.get("mime-version") == "" {
		out = appendField(out, "MIME-Version", "1.0", eol)
	}
	out = appendField(out, "Content-Type", "text/plain; charset=utf-8", eol)
	var body []byte
	if needs8bit(text) || bytes.Contains(text, cr) {
		out = appendField(out, "Content-Transfer-Encoding", "quoted-printable", eol)
		body = encodeQP(text, eol)
	} else {
		out = appendField(out, "Content-Transfer-Encoding", "7bit", eol)
		body = bytes.ReplaceAll(text, lf, eol)
		if bytes.Equal(eol, lf) {
			body = text
		}
	}
	if attachment {
		out = appendField(out, "Content-Disposition", "inline", eol)
		what := p.fileName
		if what == "" {
			what = p.mt
		}
		out = appendField(out, "X-Enforcer-Blocked", encodeWord(what), eol)
	}
	out = append(out, eol...)
	out = append(out, body...)
	if !bytes.HasSuffix(body, eol) {
		out = append(out, eol...)
	}
	_, err := t.out.Write(out)
	return err
}

// encodeWord makes a header value of s: as it is when it is printable
// ASCII, else an RFC 2047 encoded word.
func encodeWord(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			if !utf8.ValidString(s) {
				s = strings.ToValidUTF8(s, "\uFFFD")
			}
			return stdmime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// blockMessage replaces the whole message by a notice and drains the
// input.
func (t *walker) blockMessage(p *part, notice []byte) (term, error) {
	t.rep.Blocked, t.rep.Changed = true, true
	if len(bytes.TrimSpace(notice)) == 0 {
		notice = []byte(DefaultBlockedMessage)
	}
	if err := t.writeNotice(p, notice, false); err != nil {
		return term{}, err
	}
	if _, err := io.Copy(io.Discard, t.in.br); err != nil {
		return term{}, err
	}
	return term{idx: -1}, nil
}

// encryptPart streams an attachment through decoding, o.Encrypt and
// base64. A body in a transfer encoding this package does not know is
// encrypted as it is, still encoded: better than letting it through.
func (t *walker) encryptPart(p *part) (term, error) {
	name := p.fileName
	if name == "" {
		name = "attachment"
	}
	name += ".enc"
	eol := p.eol
	hdr := p.h.without(nil, func(n string) bool {
		return n == "content-type" || n == "content-transfer-encoding" || n == "content-disposition" || n == "content-length"
	})
	hdr = appendField(hdr, "Content-Type", stdmime.FormatMediaType("application/octet-stream", map[string]string{"name": name}), eol)
	hdr = appendField(hdr, "Content-Disposition", stdmime.FormatMediaType("attachment", map[string]string{"filename": name}), eol)
	hdr = appendField(hdr, "Content-Transfer-Encoding", "base64", eol)
	hdr = appendField(hdr, "X-Enforcer-Original-Type", p.mt, eol)
	hdr = append(hdr, eol...)
	if _, err := t.out.Write(hdr); err != nil {
		return term{}, err
	}
	b64 := newB64Lines(t.out, eol)
	ew, err := t.o.Encrypt(b64)
	if err != nil {
		return term{}, fmt.Errorf("encrypt attachment: %w", err)
	}
	cte := p.cte
	if !knownCTE(cte) {
		cte = "binary"
	}
	dec := newDecoder(cte, ew)
	end, err := t.body(func(line []byte) error {
		content, eol := line, []byte(nil)
		if bytes.HasSuffix(line, lf) {
			content, eol = line[:len(line)-1], line[len(line)-1:]
			if bytes.HasSuffix(content, cr) {
				content, eol = line[:len(line)-2], line[len(line)-2:]
			}
		}
		return dec.line(content, eol)
	})
	if err != nil {
		return term{}, err
	}
	if err := dec.end(end.idx < 0); err != nil {
		return term{}, err
	}
	if err := ew.Close(); err != nil {
		return term{}, fmt.Errorf("encrypt attachment: %w", err)
	}
	return end, b64.Close()
}
