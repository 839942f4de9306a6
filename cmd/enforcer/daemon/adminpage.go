package daemon

import (
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// loopbackOnly refuses requests whose peer is not a loopback address: the
// listener is bound to one, but a second check costs nothing and survives
// a configuration slip.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		a, aerr := netip.ParseAddr(host)
		if err != nil || aerr != nil || !a.Unmap().IsLoopback() {
			http.Error(w, "the admin page answers loopback clients only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostGuard refuses requests whose Host header is not one the admin page
// is reached by: a loopback address or localhost with the listen port, or
// an admin.hosts entry. The loopback peer check alone does not stop DNS
// rebinding: a web page at attacker.example, re-resolved to 127.0.0.1,
// reaches the page through the operator's browser (or the local end of an
// SSH tunnel) from loopback, but its requests carry Host:
// attacker.example. Refused with 421 Misdirected Request (RFC 9110
// section 15.5.20): this server does not answer for that authority.
// extra is read at each request, so that a reload changes admin.hosts.
func hostGuard(listen string, extra func() []string, h http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(listen)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !adminHostAllowed(r.Host, port, extra()) {
			http.Error(w, "the admin page answers Host 127.0.0.1:"+port+", [::1]:"+port+" or localhost:"+port+
				" only; to reach it by another name or port (an SSH tunnel's local port), list that Host in admin.hosts",
				http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// adminHostAllowed reports whether the Host header host is a loopback
// address or localhost with port listenPort, or matches an admin.hosts
// entry ("name" matches any port, "name:port" that port).
func adminHostAllowed(host, listenPort string, extra []string) bool {
	host = strings.ToLower(host)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the scheme's default (http, 80). A bare IPv6 address
		// without brackets is no valid Host and fails here too.
		name, port = host, "80"
		if strings.ContainsAny(host, "[]:") {
			return false
		}
	}
	if port == listenPort {
		if name == "localhost" {
			return true
		}
		if a, err := netip.ParseAddr(name); err == nil && a.Zone() == "" && a.Unmap().IsLoopback() {
			return true
		}
	}
	for _, e := range extra {
		if en, ep, err := net.SplitHostPort(e); err == nil {
			if en == name && ep == port {
				return true
			}
		} else if strings.Trim(e, "[]") == name {
			return true
		}
	}
	return false
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>enforcer admin</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code{background:#eee}</style></head>
<body><h1>enforcer {{.Version}}</h1>
<p>Read-only diagnostics. Changes go through the <code>enforcer</code> CLI (root, on this host).</p>
<h2>State</h2><ul>
<li><a href="/v1/status">status</a> (datapath, GeoIP, interfaces)</li>
<li><a href="/v1/stats">datapath counters</a></li>
<li><a href="/v1/services">services</a></li>
<li><a href="/v1/l7">proxy and sync</a></li>
<li><a href="/v1/policy">device policy in force</a></li>
<li><a href="/v1/log">log level and verbose targets</a></li>
</ul>
<h2>Look-ups</h2>
<form action="/v1/devices">Devices: user <input name="user"> type <input name="type"> mail client <input name="client"> device id <input name="id"> <button>list</button></form>
<form action="/v1/policy/check">Policy check: device id <input name="device_id"> user <input name="user"> type <input name="type"> User-Agent <input name="agent"> <button>decide</button></form>
<h2>CSV exports</h2><ul>
<li><a href="/v1/export/devices.csv">device records</a> (with administrator overrides)</li>
<li><a href="/v1/export/discovered.csv">discovered devices</a></li>
<li><a href="/v1/export/accounts.csv">accounts</a></li>
<li><a href="/v1/export/attachments.csv">attachment policies</a></li>
<li><a href="/v1/export/redirects.csv">451 redirect mappings</a></li>
</ul></body></html>
`))

func (d *Daemon) indexPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexTmpl.Execute(w, struct{ Version string }{d.opts.Version})
}
