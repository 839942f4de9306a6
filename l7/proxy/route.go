package proxy

import (
	"net/http"
	"path"
	"strings"
)

// route is what the proxy does with a path.
type route uint8

const (
	routeNone route = iota
	routeEAS
	routeEWS
	routeAutodiscover
	routeWebmail
	numRoutes
)

var routeNames = [numRoutes]string{"none", "eas", "ews", "autodiscover", "webmail"}

func (r route) String() string { return routeNames[r] }

// Fixed route prefixes. IIS matches virtual directories without regard to
// case, and clients send /microsoft-server-activesync as often as the
// documented spelling, so matching ignores case too.
const (
	pathEAS          = "/Microsoft-Server-ActiveSync"
	pathEWS          = "/EWS"
	pathAutodiscover = "/Autodiscover"
)

// hasSegmentPrefix reports whether p is prefix or lies under it
// ("/owa", "/owa/", "/owa/x" but not "/owa2"), ignoring case.
func hasSegmentPrefix(p, prefix string) bool {
	if len(p) < len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// staticRoute returns the route of the fixed prefixes.
func staticRoute(p string) route {
	switch {
	case hasSegmentPrefix(p, pathEAS):
		return routeEAS
	case hasSegmentPrefix(p, pathEWS):
		return routeEWS
	case hasSegmentPrefix(p, pathAutodiscover):
		return routeAutodiscover
	}
	return routeNone
}

// route returns the route of a (sane) path under the configuration.
func (p *Proxy) route(pth string) route {
	r := staticRoute(pth)
	switch {
	case r == routeEWS && !p.cfg.EWS.Enabled:
		return routeNone
	case r != routeNone:
		return r
	}
	if p.cfg.Webmail.Enabled {
		for _, pre := range p.cfg.Webmail.Prefixes {
			if hasSegmentPrefix(pth, pre) {
				return routeWebmail
			}
		}
	}
	return routeNone
}

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// saneRequestPath reports whether the request path means the same to the
// gateway as to the mail server. The gateway routes on the decoded path
// and forwards it; IIS normalises dot segments and backslashes and decodes
// again, so "/EWS/..%2fowa" or "/Microsoft-Server-ActiveSync\..\owa" would
// be checked as one route and served as another. Such paths, an encoded
// slash or backslash, a '%' left after decoding (double encoding) and
// control characters are refused.
func saneRequestPath(r *http.Request) bool {
	p := r.URL.Path
	if p == "" || p[0] != '/' || p != cleanPath(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '%' {
			return false
		}
	}
	if raw := r.URL.RawPath; raw != "" {
		l := strings.ToLower(raw)
		if strings.Contains(l, "%2f") || strings.Contains(l, "%5c") {
			return false
		}
	}
	return true
}
