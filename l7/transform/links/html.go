package links

import "bytes"

// HTML rewrites the links of an HTML body (see the package documentation
// for what a link is) and returns the result and the number of links
// rewritten. When it rewrites nothing it returns src itself and 0; else a
// new slice, src being left as it was.
func (r *Rewriter) HTML(src []byte) (out []byte, n int) {
	e := editor{r: r, src: src}
	e.html()
	return e.result()
}

// html walks src as the HTML tokenizer would (WHATWG HTML 13.2.5), far
// enough to tell markup from text: it finds each '<', and skips comments,
// declarations, processing instructions and the contents of raw text
// elements; in <a> and <area> start tags it looks at the first href.
func (e *editor) html() {
	src := e.src
	i := 0
	for {
		j := bytes.IndexByte(src[i:], '<')
		if j < 0 || i+j+1 >= len(src) {
			return
		}
		i += j + 1
		switch c := src[i]; {
		case isAlpha(c):
			i = e.tag(i, true)
		case c == '/':
			switch {
			case i+1 < len(src) && isAlpha(src[i+1]):
				i = e.tag(i+1, false)
			case i+1 < len(src) && src[i+1] == '>':
				i += 2 // "</>" is dropped
			default:
				i = past(src, i, '>') // bogus comment
			}
		case c == '!':
			if bytes.HasPrefix(src[i+1:], []byte("--")) {
				i = commentEnd(src, i+3)
			} else {
				i = past(src, i, '>') // <!DOCTYPE>, <![CDATA[...]]> outside foreign content: bogus comments
			}
		case c == '?':
			i = past(src, i, '>')
		}
		// Anything else: the '<' was text.
	}
}

// past returns the index after the first b at or after i, or len(src).
func past(src []byte, i int, b byte) int {
	if j := bytes.IndexByte(src[i:], b); j >= 0 {
		return i + j + 1
	}
	return len(src)
}

// commentEnd returns the index after the comment whose text starts at i
// (just after "<!--"). "<!-->" and "<!--->" end at once (13.2.5.43-44);
// otherwise the comment runs to "-->" or "--!>", or the end of input.
func commentEnd(src []byte, i int) int {
	switch {
	case bytes.HasPrefix(src[i:], []byte(">")):
		return i + 1
	case bytes.HasPrefix(src[i:], []byte("->")):
		return i + 2
	}
	for {
		j := bytes.Index(src[i:], []byte("--"))
		if j < 0 {
			return len(src)
		}
		k := i + j + 2
		for k < len(src) && src[k] == '-' {
			k++
		}
		if k < len(src) && src[k] == '>' {
			return k + 1
		}
		if k+1 < len(src) && src[k] == '!' && src[k+1] == '>' {
			return k + 2
		}
		i = k
	}
}

// rawText lists the elements whose content is text up to their end tag
// (raw text and RCDATA elements, 13.1.2). <noscript> is not among them:
// mail clients run no scripts, and with scripting off it holds markup.
var rawText = map[string]bool{
	"script": true, "style": true, "xmp": true, "iframe": true,
	"noembed": true, "noframes": true, "textarea": true, "title": true,
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// tag reads the tag whose name starts at i and returns the index after
// it (and after the element's text, for raw text elements). start tells
// a start tag from an end tag, whose attributes are read and ignored.
func (e *editor) tag(i int, start bool) int {
	src := e.src
	ns := i
	for i < len(src) && !isSpace(src[i]) && src[i] != '/' && src[i] != '>' {
		i++
	}
	name := src[ns:i]
	link := start && (equalFold(name, "a") || equalFold(name, "area"))
	seenHref := false
	for {
		// Before attribute name (13.2.5.32): '/' is skipped like space.
		for i < len(src) && (isSpace(src[i]) || src[i] == '/') {
			i++
		}
		if i >= len(src) {
			return len(src)
		}
		if src[i] == '>' {
			i++
			break
		}
		// Attribute name: its first character may be '='.
		as := i
		i++
		for i < len(src) && !isSpace(src[i]) && src[i] != '/' && src[i] != '>' && src[i] != '=' {
			i++
		}
		href := link && !seenHref && equalFold(src[as:i], "href")
		if href {
			// Only the first of duplicate attributes counts (13.2.5.33).
			seenHref = true
		}
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) || src[i] != '=' {
			continue
		}
		i++
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return len(src)
		}
		var vs, ve int
		switch q := src[i]; q {
		case '"', '\'':
			vs = i + 1
			if j := bytes.IndexByte(src[vs:], q); j >= 0 {
				ve, i = vs+j, vs+j+1
			} else {
				// An unterminated value swallows the rest of the input
				// (eof-in-tag: the tag is never emitted): no link.
				return len(src)
			}
		case '>':
			continue // missing value; '>' ends the tag next time round
		default:
			vs = i
			for i < len(src) && !isSpace(src[i]) && src[i] != '>' {
				i++
			}
			ve = i
			if i >= len(src) {
				return len(src) // eof-in-tag: never emitted
			}
		}
		if href {
			e.href(vs, ve)
		}
	}
	if start {
		if equalFold(name, "plaintext") {
			return len(src) // the rest of the input is text
		}
		if len(name) <= 8 {
			var lower [8]byte
			for k, c := range name {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				lower[k] = c
			}
			if rawText[string(lower[:len(name)])] {
				return rawTextEnd(src, i, string(lower[:len(name)]))
			}
		}
	}
	return i
}

// rawTextEnd returns the index of the end tag "</name" (name in lower
// case; the tag in any case, then
// space, '/' or '>') that closes a raw text element whose text starts at
// i, or len(src). (Script's escaped states, "<!--<script>", are not
// followed: script in mail is never run, and an href inside it matters
// to nobody.)
func rawTextEnd(src []byte, i int, name string) int {
	for {
		j := bytes.Index(src[i:], []byte("</"))
		if j < 0 {
			return len(src)
		}
		k := i + j + 2
		if k+len(name) <= len(src) && equalFold(src[k:k+len(name)], name) {
			if m := k + len(name); m == len(src) || isSpace(src[m]) || src[m] == '/' || src[m] == '>' {
				return i + j
			}
		}
		i = k
	}
}

// href rewrites the link in the href value src[vs:ve], if it is one.
func (e *editor) href(vs, ve int) {
	src := e.src
	// The URL parser strips leading and trailing C0 controls and spaces.
	for vs < ve && src[vs] <= ' ' {
		vs++
	}
	for ve > vs && src[ve-1] <= ' ' {
		ve--
	}
	s := vs
	if ve-vs < 4 || !equalFold(src[vs:vs+4], "http") {
		return
	}
	i := vs + 4
	https := i < ve && src[i]|0x20 == 's'
	if https {
		i++
	}
	// "://", each character literal or a character reference, with the
	// tabs and newlines the URL parser removes.
	for k := 0; k < 3; k++ {
		for i < ve && (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= ve {
			return
		}
		c, n := src[i], 1
		if c == '&' {
			if r, size := charRef(src[i:ve]); size > 0 && r < 0x80 {
				c, n = byte(r), size
			}
		}
		if want := ":/"[min(k, 1)]; c != want {
			return
		}
		i += n
	}
	e.rewrite(s, https, hostOf(&e.host, src[i:ve], true))
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring the
// case of ASCII letters.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
