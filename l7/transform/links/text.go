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
// A URL of any scheme runs to its end, so that a URL inside it is not
// taken for one of its own, neither before nor after the outer one's
// scheme is rewritten.
func (e *editor) text() {
	src := e.src
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("://"))
		if j < 0 {
			return
		}
		p := i + j
		s := p
		for s > i && isSchemeChar(src[s-1]) {
			s--
		}
		if s == p {
			i = p + 3
			continue
		}
		end := urlEnd(src, p+3)
		i = end
		scheme := src[s:p]
		https := equalFold(scheme, "https")
		if !https && !equalFold(scheme, "http") {
			continue // another scheme, or "xhttps://": not a link to rewrite
		}
		if host := hostOf(&e.host, src[p+3:end], false); host != nil {
			e.rewrite(s, https, host)
		}
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
