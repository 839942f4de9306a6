package mime

import (
	"bytes"
	"encoding/base64"
	"io"
)

// Content-Transfer-Encoding decoders and encoders. The decoders are
// lenient the way mail readers are, because a part the gateway cannot
// decode but the device can would escape the policy: base64 skips
// characters outside the alphabet and restarts after padding (concatenated
// encodings); quoted-printable keeps an "=" not followed by two hex digits
// (RFC 2045 section 6.7, note 1). Both work line by line, so attachments
// stream.

// bodyDecoder turns the lines of an encoded body into content.
type bodyDecoder interface {
	// line takes one line or fragment: content without its line ending,
	// and the ending ("" for a fragment or the unterminated last line).
	line(content, eol []byte) error
	// end finishes; atEOF says the body ran to the end of the input
	// rather than to a boundary, so a pending line ending is content.
	end(atEOF bool) error
}

func newDecoder(cte string, w io.Writer) bodyDecoder {
	switch cte {
	case "base64":
		return &b64Decoder{w: w}
	case "quoted-printable":
		return &qpDecoder{w: w}
	}
	return &identityDecoder{w: w}
}

// knownCTE reports whether the transfer encoding is one this package can
// decode (RFC 2045 section 6.1); an absent one is 7bit.
func knownCTE(cte string) bool {
	switch cte {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// identityDecoder passes 7bit, 8bit and binary bodies. The line ending
// before a boundary belongs to the boundary (RFC 2046 section 5.1.1), so
// each ending is held until the next line shows it is content.
type identityDecoder struct {
	w       io.Writer
	pending []byte
}

func (d *identityDecoder) line(content, eol []byte) error {
	if len(d.pending) > 0 {
		if _, err := d.w.Write(d.pending); err != nil {
			return err
		}
	}
	d.pending = stableEOL(eol)
	_, err := d.w.Write(content)
	return err
}

func (d *identityDecoder) end(atEOF bool) error {
	if atEOF && len(d.pending) > 0 {
		_, err := d.w.Write(d.pending)
		return err
	}
	return nil
}

// qpDecoder decodes quoted-printable. A hard line break decodes to the
// line ending the encoded line had.
type qpDecoder struct {
	w       io.Writer
	pending []byte
	buf     []byte
}

func (d *qpDecoder) line(content, eol []byte) error {
	out := d.buf[:0]
	out = append(out, d.pending...)
	d.pending = nil
	soft := false
	if len(eol) > 0 {
		// Trailing white space was added in transport: delete it (rule 3).
		content = bytes.TrimRight(content, " \t")
		if n := len(content); n > 0 && content[n-1] == '=' {
			content, soft = content[:n-1], true
		}
	}
	for i := 0; i < len(content); i++ {
		c := content[i]
		if c == '=' && i+2 < len(content) {
			if hi, ok := unhex(content[i+1]); ok {
				if lo, ok := unhex(content[i+2]); ok {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		out = append(out, c)
	}
	if !soft {
		d.pending = stableEOL(eol)
	}
	d.buf = out
	_, err := d.w.Write(out)
	return err
}

func (d *qpDecoder) end(atEOF bool) error {
	if atEOF && len(d.pending) > 0 {
		_, err := d.w.Write(d.pending)
		return err
	}
	return nil
}

// stableEOL returns a line ending that does not alias the read buffer.
func stableEOL(eol []byte) []byte {
	switch len(eol) {
	case 0:
		return nil
	case 1:
		return lf
	}
	return crlf
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return t
}()

// b64Decoder decodes base64 leniently.
type b64Decoder struct {
	w   io.Writer
	q   [4]byte
	n   int
	out []byte
}

func (d *b64Decoder) line(content, _ []byte) error {
	if need := base64.StdEncoding.DecodedLen(len(content)) + 3; cap(d.out) < need {
		d.out = make([]byte, 0, need)
	}
	out := d.out[:0]
	if d.n == 0 && len(content)%4 == 0 {
		// The usual well-formed line decodes in one call.
		out = out[:base64.StdEncoding.DecodedLen(len(content))]
		if n, err := base64.StdEncoding.Decode(out, content); err == nil {
			d.out = out[:n]
			_, err := d.w.Write(out[:n])
			return err
		}
		out = out[:0]
	}
	for _, c := range content {
		if c == '=' {
			out = d.flush(out)
			continue
		}
		v := b64Values[c]
		if v == 0xff {
			continue
		}
		d.q[d.n] = v
		d.n++
		if d.n == 4 {
			out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
			d.n = 0
		}
	}
	d.out = out
	_, err := d.w.Write(out)
	return err
}

// flush emits a partial quantum: 2 or 3 characters carry 1 or 2 bytes; a
// lone character carries none.
func (d *b64Decoder) flush(out []byte) []byte {
	switch d.n {
	case 2:
		out = append(out, d.q[0]<<2|d.q[1]>>4)
	case 3:
		out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.n = 0
	return out
}

func (d *b64Decoder) end(bool) error {
	out := d.flush(d.out[:0])
	_, err := d.w.Write(out)
	return err
}

// decodeAll decodes a buffered body; content excludes the line ending
// that belongs to a following boundary.
func decodeAll(cte string, content []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(content))
	d := newDecoder(cte, &buf)
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n')
		if i < 0 {
			d.line(content, nil)
			break
		}
		line := content[:i]
		eol := content[i : i+1]
		if i > 0 && content[i-1] == '\r' {
			line, eol = content[:i-1], content[i-1:i+1]
		}
		d.line(line, eol)
		content = content[i+1:]
	}
	d.end(true)
	return buf.Bytes()
}

// b64Lines writes base64 in lines of 76 characters (RFC 2045 section 6.8),
// each followed by eol, the last one included.
type b64Lines struct {
	w    io.Writer
	eol  []byte
	in   [57]byte
	n    int
	line []byte
	err  error
}

func newB64Lines(w io.Writer, eol []byte) *b64Lines {
	return &b64Lines{w: w, eol: eol, line: make([]byte, 0, 76+2)}
}

func (b *b64Lines) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 && b.err == nil {
		c := copy(b.in[b.n:], p)
		b.n += c
		p = p[c:]
		if b.n == len(b.in) {
			b.emit()
		}
	}
	if b.err != nil {
		return 0, b.err
	}
	return total, nil
}

func (b *b64Lines) emit() {
	l := b.line[:76]
	base64.StdEncoding.Encode(l, b.in[:b.n])
	l = append(l[:base64.StdEncoding.EncodedLen(b.n)], b.eol...)
	_, b.err = b.w.Write(l)
	b.n = 0
}

// Close writes the last, short line.
func (b *b64Lines) Close() error {
	if b.n > 0 && b.err == nil {
		b.emit()
	}
	return b.err
}

// encodeB64 encodes a whole body; the last line has no line ending.
func encodeB64(src, eol []byte) []byte {
	var buf bytes.Buffer
	e := newB64Lines(&buf, eol)
	e.Write(src)
	e.Close()
	return bytes.TrimSuffix(buf.Bytes(), eol)
}

// encodeQP encodes text as quoted-printable (RFC 2045 section 6.7): lines
// of at most 76 characters, soft breaks "=" + eol, every line break of
// the text kept as it is (CRLF or LF). Lone CR, "=", controls, bytes above
// 126 and white space before a line break are escaped.
func encodeQP(src, eol []byte) []byte {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(src)+len(src)/8)
	col := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' || (c == '\r' && i+1 < len(src) && src[i+1] == '\n') {
			if c == '\r' {
				out = append(out, '\r')
				i++
			}
			out = append(out, '\n')
			col = 0
			continue
		}
		var tok [3]byte
		n := 1
		atLineEnd := i+1 == len(src) || src[i+1] == '\n' || (src[i+1] == '\r' && i+2 < len(src) && src[i+2] == '\n')
		switch {
		case (c == ' ' || c == '\t') && !atLineEnd:
			tok[0] = c
		case c == '=' || c < '!' || c > '~':
			tok = [3]byte{'=', hex[c>>4], hex[c&15]}
			n = 3
		default:
			tok[0] = c
		}
		if col+n > 75 {
			out = append(out, '=')
			out = append(out, eol...)
			col = 0
		}
		out = append(out, tok[:n]...)
		col += n
	}
	return out
}
