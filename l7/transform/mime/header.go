package mime

import (
	"bytes"
	stdmime "mime"
	"net/textproto"
	"strings"
)

// header is a MIME header as it came: its exact bytes and the fields
// parsed out of them.
type header struct {
	raw    []byte // every byte, including the terminating blank line
	blank  int    // length of the terminating blank line (0: none)
	fields []field
}

type field struct {
	name       string // lower-case
	start, end int    // raw[start:end] is the field with its continuation lines
	value      string // unfolded and trimmed
}

// parse indexes h.raw. A line that starts with white space continues the
// previous field (RFC 5322 section 2.2.3); a line without a colon is not a
// field and is ignored, but still copied.
func (h *header) parse() {
	body := h.raw[:len(h.raw)-h.blank]
	cur := -1
	for off := 0; off < len(body); {
		end := bytes.IndexByte(body[off:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += off + 1
		}
		line := body[off:end]
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if cur >= 0 {
				f := &h.fields[cur]
				f.end = end
				f.value += string(trimEOL(line))
			}
		default:
			cur = -1
			if i := bytes.IndexByte(line, ':'); i > 0 {
				name := strings.ToLower(strings.TrimSpace(string(line[:i])))
				if name != "" && !strings.ContainsAny(name, " \t") {
					h.fields = append(h.fields, field{name: name, start: off, end: end, value: string(trimEOL(line[i+1:]))})
					cur = len(h.fields) - 1
				}
			}
		}
		off = end
	}
	for i := range h.fields {
		h.fields[i].value = strings.TrimSpace(h.fields[i].value)
	}
}

// get returns the first field of that (lower-case) name. Later duplicates
// are ignored, as most readers do.
func (h *header) get(name string) string {
	for _, f := range h.fields {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// eol returns the line ending the header uses, or def.
func (h *header) eol(def []byte) []byte {
	if i := bytes.IndexByte(h.raw, '\n'); i >= 0 {
		if i > 0 && h.raw[i-1] == '\r' {
			return crlf
		}
		return lf
	}
	return def
}

// mimeHeader returns the fields as a textproto.MIMEHeader.
func (h *header) mimeHeader() textproto.MIMEHeader {
	m := make(textproto.MIMEHeader, len(h.fields))
	for _, f := range h.fields {
		k := textproto.CanonicalMIMEHeaderKey(f.name)
		m[k] = append(m[k], f.value)
	}
	return m
}

// without appends to dst the header's bytes minus the blank line and the
// fields drop selects.
func (h *header) without(dst []byte, drop func(name string) bool) []byte {
	off := 0
	for _, f := range h.fields {
		if drop(f.name) {
			dst = append(dst, h.raw[off:f.start]...)
			off = f.end
		}
	}
	return append(dst, h.raw[off:len(h.raw)-h.blank]...)
}

// replaced returns the header with the first field of each name in set
// replaced by "Name: value" (or added before the blank line), all other
// bytes kept.
func (h *header) replaced(eol []byte, set ...[2]string) []byte {
	var out []byte
	off := 0
	done := make([]bool, len(set))
	for _, f := range h.fields {
		for j, s := range set {
			if !done[j] && f.name == strings.ToLower(s[0]) {
				out = append(out, h.raw[off:f.start]...)
				out = appendField(out, s[0], s[1], eol)
				off = f.end
				done[j] = true
			}
		}
	}
	out = append(out, h.raw[off:len(h.raw)-h.blank]...)
	for j, s := range set {
		if !done[j] {
			out = appendField(out, s[0], s[1], eol)
		}
	}
	return appendBlank(out, h, eol)
}

// appendBlank ends a rebuilt header with the original blank line, or eol.
func appendBlank(out []byte, h *header, eol []byte) []byte {
	if h.blank > 0 {
		return append(out, h.raw[len(h.raw)-h.blank:]...)
	}
	return append(out, eol...)
}

func appendField(dst []byte, name, value string, eol []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, eol...)
}

func isContentField(name string) bool { return strings.HasPrefix(name, "content-") }

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, lf)
	return bytes.TrimSuffix(b, cr)
}

var (
	crlf = []byte("\r\n")
	lf   = []byte("\n")
	cr   = []byte("\r")
)

// mediaType parses a Content-Type or Content-Disposition value. Where the
// standard parser gives up (duplicate or malformed parameters, common in
// real mail), a lenient one still finds the type and the parameters, so
// that a sloppy header cannot hide a boundary or a file name from the
// policy. Keys are lower-case.
func mediaType(v string) (string, map[string]string) {
	if v == "" {
		return "", nil
	}
	t, params, err := stdmime.ParseMediaType(v)
	if err == nil {
		return t, params
	}
	parts := strings.Split(v, ";")
	t = strings.ToLower(strings.TrimSpace(parts[0]))
	params = make(map[string]string)
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			val = strings.Trim(val, `"`)
			val = strings.ReplaceAll(val, `\"`, `"`)
		}
		if _, dup := params[k]; !dup && k != "" {
			params[k] = val
		}
	}
	return t, params
}

// wordDecoder decodes RFC 2047 encoded words with any charset x/text
// knows.
var wordDecoder = &stdmime.WordDecoder{CharsetReader: charsetReader}

// DecodeWords decodes the RFC 2047 encoded words of a header value, in any
// charset this package reads; s comes back as it is when it has none or
// they cannot be decoded.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
