package daemon

import (
	"html/template"
	"net"
	"net/http"
	"net/netip"
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
