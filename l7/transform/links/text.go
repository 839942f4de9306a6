package links

import "bytes"

// Text rewrites the URLs of a plain text body (see the package
// documentation for what a URL is) and returns the result and the number
// of URLs rewritten. When it rewrites nothing it returns src itself and 0;
// else a new slice, src being left as it was.
func (r *Rewriter) Text(src []byte) (out []byte, n int) {
	e := editor{r: r, src: src}
	e.text()
	return e.result()
}

// text finds "://" (a vectorized search), then looks back for the scheme.
func (e *editor) text() {
	src := e.src
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("://"))
		if j < 0 {
			return
		}
		p := i + j
		i = p + 3
		var s int
		var https bool
		switch {
		case p >= 5 && equalFold(src[p-5:p], "https"):
			s, https = p-5, true
		case p >= 4 && equalFold(src[p-4:p], "http"):
			s = p - 4
		default:
			continue
		}
		if s > 0 && isSchemeChar(src[s-1]) {
			continue // "xhttps://": another scheme, or not a URL
		}
		end := urlEnd(src, p+3)
		host := hostOf(&e.host, src[p+3:end], false)
		if host == nil {
			continue
		}
		e.rewrite(s, https, host)
		// A URL inside this one ("?next=https://...") is part of it.
		i = end
	}
}

func isSchemeChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.'
}

// urlEnd returns the end of the URL whose authority starts at i: the
// first space, control character, '<', '>' or '"', less trailing
// punctuation, and less a trailing ')' that has no '(' to close (GFM
// extended autolinks: "(see https://example.com/a)." ends at "/a").
func urlEnd(src []byte, i int) int {
	end := i
	open := 0
	for end < len(src) {
		c := src[end]
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			break
		}
		switch c {
		case '(':
			open++
		case ')':
			open--
		}
		end++
	}
	for end > i {
		switch src[end-1] {
		case '.', ',', ';', ':', '!', '?', '\'', '*', '_', '~':
			end--
			continue
		case ')':
			if open < 0 {
				open++
				end--
				continue
			}
		}
		break
	}
	return end
}
