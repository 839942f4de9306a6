package links

import (
	"bytes"
	"net/netip"
	"unicode/utf8"
)

// editor collects the rewrites of one body. The output is allocated at the
// first rewrite only, so a body without links costs no allocation.
type editor struct {
	r         *Rewriter
	src, out  []byte
	last, n   int
	host      [maxHost]byte
	traceEdit func(off, oldLen int, to []byte) // tests only
}

// rewrite replaces the scheme at src[s:], "https" if https else "http",
// when the link's host is one the mode selects.
func (e *editor) rewrite(s int, https bool, host []byte) {
	if len(host) == 0 || !e.r.selects(host) {
		return
	}
	old, to := 4, e.r.http
	if https {
		old, to = 5, e.r.https
	}
	if bytes.Equal(e.src[s:s+old], to) {
		return // a target of "https" for https links: nothing to do
	}
	if e.traceEdit != nil {
		e.traceEdit(s, old, to)
	}
	if e.out == nil {
		e.out = make([]byte, 0, len(e.src)+len(e.src)/16+64)
	}
	e.out = append(e.out, e.src[e.last:s]...)
	e.out = append(e.out, to...)
	e.last = s + old
	e.n++
}

func (e *editor) result() ([]byte, int) {
	if e.n == 0 {
		return e.src, 0
	}
	return append(e.out, e.src[e.last:]...), e.n
}

// selects reports whether the mode rewrites links to host (decoded,
// lower-cased, without port or trailing dot).
func (r *Rewriter) selects(host []byte) bool {
	switch r.mode {
	case Include:
		return r.listed(host)
	case Exclude:
		return !r.listed(host)
	}
	return true
}

// listed reports whether host is a listed domain, is under one, or is a
// listed address.
func (r *Rewriter) listed(host []byte) bool {
	if host[0] == '[' {
		if len(host) < 2 || host[len(host)-1] != ']' || r.addrs == nil {
			return false
		}
		a, err := netip.ParseAddr(string(host[1 : len(host)-1]))
		_, ok := r.addrs[a.Unmap()]
		return err == nil && a.Zone() == "" && ok
	}
	if r.addrs != nil && isDigit(host[len(host)-1]) {
		if a, err := netip.ParseAddr(string(host)); err == nil && a.Is4() {
			_, ok := r.addrs[a]
			return ok
		}
	}
	if r.names == nil {
		return false
	}
	if _, ok := r.names[string(host)]; ok {
		return true
	}
	for i, c := range host {
		if c == '.' {
			if _, ok := r.names[string(host[i+1:])]; ok {
				return true
			}
		}
	}
	return false
}

// maxHost bounds a host name: 253 characters (RFC 1035 2.3.4), with room
// for percent-encoding and a bracketed IPv6 address. Longer hosts match no
// domain.
const maxHost = 1024

// hostOf returns the host of the authority at the start of v (what
// follows "scheme://"), decoded and lower-cased into buf, or nil when it
// is empty or too long. In HTML, character references are decoded first,
// since a browser decodes them before parsing the URL; in both, the
// WHATWG URL parser's steps follow: tabs and newlines removed, the
// authority ending at '/', '?', '#' or '\', user info up to the last '@'
// dropped, the port dropped, percent-encoding decoded, a trailing dot
// dropped.
func hostOf(buf *[maxHost]byte, v []byte, html bool) []byte {
	h := buf[:0]
	over := false
	for i := 0; i < len(v); {
		c, n := v[i], 1
		var r rune = -1
		if c == '&' && html {
			if ref, size := charRef(v[i:]); size > 0 {
				n = size
				if ref < utf8.RuneSelf {
					c = byte(ref)
				} else {
					r = ref
				}
			}
		}
		i += n
		if r >= 0 {
			if len(h)+utf8.UTFMax > maxHost {
				over = true
				continue
			}
			h = utf8.AppendRune(h, r)
			continue
		}
		switch c {
		case '/', '?', '#', '\\':
			i = len(v)
			continue
		case '\t', '\n', '\r':
			continue
		case '@':
			h, over = h[:0], false
			continue
		}
		if len(h) == maxHost {
			over = true
			continue
		}
		h = append(h, c)
	}
	if over || len(h) == 0 {
		return nil
	}
	// Port: after the last ':' outside an IPv6 literal.
	if h[0] == '[' {
		if j := bytes.IndexByte(h, ']'); j >= 0 {
			h = h[:j+1]
		}
	} else if j := bytes.IndexByte(h, ':'); j >= 0 {
		h = h[:j]
	}
	// Percent-decode in place (the result is never longer) and fold case.
	w := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '%' && i+2 < len(h) && isHex(h[i+1]) && isHex(h[i+2]) {
			c = unhex(h[i+1])<<4 | unhex(h[i+2])
			i += 2
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h[w] = c
		w++
	}
	h = h[:w]
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

// namedRefs are the named character references hostOf and the scheme
// separator decode (WHATWG HTML 13.5): those of URL delimiters and host
// characters. Others are left as text, so a host spelled with them
// matches no domain.
var namedRefs = map[string]byte{
	"colon": ':', "sol": '/', "period": '.', "commat": '@', "quest": '?',
	"num": '#', "amp": '&', "bsol": '\\', "lowbar": '_', "lsqb": '[',
	"rsqb": ']', "lbrack": '[', "rbrack": ']', "percnt": '%',
	"Tab": '\t', "NewLine": '\n',
}

// charRef decodes the character reference at the start of b (b[0] is
// '&'), returning the character and the reference's length, or size 0 if
// b does not start with one. Numeric references may lack their ';', as
// browsers accept (WHATWG HTML 13.2.5.80); invalid code points decode to
// U+FFFD.
func charRef(b []byte) (rune, int) {
	if len(b) < 3 {
		return 0, 0
	}
	if b[1] != '#' {
		j := 1
		for j < len(b) && j <= 8 && isAlpha(b[j]) {
			j++
		}
		if j == 1 || j >= len(b) || b[j] != ';' {
			return 0, 0
		}
		if c, ok := namedRefs[string(b[1:j])]; ok {
			return rune(c), j + 1
		}
		return 0, 0
	}
	i, hex := 2, false
	if b[2] == 'x' || b[2] == 'X' {
		i, hex = 3, true
	}
	start := i
	var v rune
	for ; i < len(b); i++ {
		c := b[i]
		var d rune
		switch {
		case isDigit(c):
			d = rune(c - '0')
		case hex && isHex(c):
			d = rune(unhex(c))
		default:
			goto done
		}
		if v <= utf8.MaxRune {
			if hex {
				v = v<<4 | d
			} else {
				v = v*10 + d
			}
		}
	}
done:
	if i == start {
		return 0, 0
	}
	if i < len(b) && b[i] == ';' {
		i++
	}
	if v == 0 || v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF || v >= 0x80 && v <= 0x9F {
		// 0x80-0x9F map to windows-1252 characters in browsers; none of
		// them is an ASCII URL delimiter, so U+FFFD serves as well.
		v = utf8.RuneError
	}
	return v, i
}

func isHex(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
