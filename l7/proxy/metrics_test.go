package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/mailgate/enforcer/l7/device"
)

// newMetricsEnv is newEnv with metrics.
func newMetricsEnv(tb testing.TB, pol *device.Policy, opts ...envOption) (*env, *Metrics) {
	tb.Helper()
	m := NewMetrics()
	return newEnvDeps(tb, pol, func(d *Deps) { d.Metrics = m }, opts...), m
}

// waitTransactions waits for n transaction records: a request is counted
// just before its record is written, and a client may see its response
// before either.
func waitTransactions(tb testing.TB, e *env, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.logs.all(MsgTransaction)) < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d transaction records, want %d", len(e.logs.all(MsgTransaction)), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// metricValue returns the value of a counter or gauge, or the sample count
// of a histogram, of the series with the given label pairs; ok is false
// when there is no such series.
func metricValue(tb testing.TB, c prometheus.Collector, name string, labelPairs ...string) (v float64, ok bool) {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labelPairs); i += 2 {
				if have[labelPairs[i]] != labelPairs[i+1] {
					continue series
				}
			}
			return seriesValue(s), true
		}
	}
	return 0, false
}

func seriesValue(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}

func mustMetric(tb testing.TB, c prometheus.Collector, name string, labelPairs ...string) float64 {
	tb.Helper()
	v, ok := metricValue(tb, c, name, labelPairs...)
	if !ok {
		tb.Fatalf("no series %s%v", name, labelPairs)
	}
	return v
}

// TestMetricsRequests drives every outcome the proxy has for a request
// and checks that each is counted once, under the right labels.
func TestMetricsRequests(t *testing.T) {
	pol := mustPolicy(t, device.Config{BlockedUsers: []string{"mallory"},
		Rules: []device.ABQRule{{Characteristic: device.DeviceType, Query: "Kindle", Access: device.Quarantine}}})
	e, m := newMetricsEnv(t, pol, ewsOn)
	mustUpsert(t, e.store, device.Record{DeviceID: "D1", User: "jane"})

	ewsReq := func(auth, body string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, e.front.URL+"/EWS/Exchange.asmx", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return req
	}
	jane := "Basic amFuZTpzZWNyZXQ=" // jane:secret
	steps := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"allowed", func() *http.Request {
			return e.easRequest(t, easReq{cmd: "FolderSync", user: "jane", deviceID: "D1", devType: "iPhone", body: "abc"})
		}, 200},
		{"allowed long poll", func() *http.Request {
			return e.easRequest(t, easReq{cmd: "Ping", user: "jane", deviceID: "D1", devType: "iPhone", body: "ping"})
		}, 200},
		{"blocked", func() *http.Request {
			return e.easRequest(t, easReq{cmd: "Sync", user: "mallory", deviceID: "D2", devType: "iPhone", body: "not read"})
		}, 200},
		{"quarantined", func() *http.Request {
			return e.easRequest(t, easReq{cmd: "Sync", user: "jane", deviceID: "D3", devType: "Kindle"})
		}, 200},
		{"malformed", func() *http.Request {
			return e.easRequest(t, easReq{query: "Cmd=Explode&User=jane&DeviceId=D1&DeviceType=iPhone"})
		}, 400},
		{"wrong method", func() *http.Request {
			r := e.easRequest(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"})
			r.Method = http.MethodGet
			return r
		}, 405},
		{"options", func() *http.Request {
			r, _ := http.NewRequest(http.MethodOptions, e.front.URL+pathEAS, nil)
			return r
		}, 200},
		{"ews allowed", func() *http.Request { return ewsReq(jane, "<soap/>") }, 200},
		{"ews unidentified", func() *http.Request { return ewsReq("Bearer eyJ0eXAi", "") }, 403},
		{"ews challenged", func() *http.Request { return ewsReq("", "") }, 401},
		{"autodiscover", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.front.URL+"/autodiscover/autodiscover.xml", strings.NewReader("<x/>"))
			return r
		}, 200},
		{"unrouted", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, e.front.URL+"/nothing", nil); return r }, 404},
		{"path not in normal form", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.front.URL+"/EWS/..%2fowa", nil)
			return r
		}, 400},
	}
	for i, s := range steps {
		if got := do(t, s.req()); got.Status != s.status {
			t.Fatalf("%s: status %d, want %d (%q)", s.name, got.Status, s.status, got.Body)
		}
		waitTransactions(t, e, i+1)
	}

	const want = `
# HELP enforcer_l7_requests_total Requests by route, EAS command ("" outside EAS), decision (allow, block, quarantine; pass: forwarded without a decision; reject: answered by the gateway without a decision) and reason code.
# TYPE enforcer_l7_requests_total counter
enforcer_l7_requests_total{command="",decision="allow",reason="default.allow",route="ews"} 1
enforcer_l7_requests_total{command="",decision="block",reason="ews.user_unidentified",route="ews"} 1
enforcer_l7_requests_total{command="",decision="pass",reason="",route="activesync"} 1
enforcer_l7_requests_total{command="",decision="pass",reason="",route="autodiscover"} 1
enforcer_l7_requests_total{command="",decision="reject",reason="",route="activesync"} 1
enforcer_l7_requests_total{command="",decision="reject",reason="",route="ews"} 1
enforcer_l7_requests_total{command="",decision="reject",reason="",route="none"} 2
enforcer_l7_requests_total{command="FolderSync",decision="allow",reason="default.allow",route="activesync"} 1
enforcer_l7_requests_total{command="Ping",decision="allow",reason="default.allow",route="activesync"} 1
enforcer_l7_requests_total{command="Sync",decision="block",reason="general.user.blocked",route="activesync"} 1
enforcer_l7_requests_total{command="Sync",decision="quarantine",reason="abq.rule.quarantine",route="activesync"} 1
enforcer_l7_requests_total{command="Sync",decision="reject",reason="",route="activesync"} 1
# HELP enforcer_l7_responses_total Responses by status class (499, the client gone before the response, counts as 4xx).
# TYPE enforcer_l7_responses_total counter
enforcer_l7_responses_total{code_class="1xx"} 0
enforcer_l7_responses_total{code_class="2xx"} 7
enforcer_l7_responses_total{code_class="3xx"} 0
enforcer_l7_responses_total{code_class="4xx"} 6
enforcer_l7_responses_total{code_class="5xx"} 0
# HELP enforcer_l7_upstream_errors_total Requests the mail server gave no usable response header to, by kind (dial, tls, timeout, reset, bad_redirect, other).
# TYPE enforcer_l7_upstream_errors_total counter
enforcer_l7_upstream_errors_total{kind="bad_redirect"} 0
enforcer_l7_upstream_errors_total{kind="dial"} 0
enforcer_l7_upstream_errors_total{kind="other"} 0
enforcer_l7_upstream_errors_total{kind="reset"} 0
enforcer_l7_upstream_errors_total{kind="timeout"} 0
enforcer_l7_upstream_errors_total{kind="tls"} 0
# HELP enforcer_l7_in_flight_requests Requests being served, long polls included.
# TYPE enforcer_l7_in_flight_requests gauge
enforcer_l7_in_flight_requests 0
# HELP enforcer_l7_open_connections Client connections held open by Serve.
# TYPE enforcer_l7_open_connections gauge
enforcer_l7_open_connections 0
# HELP enforcer_l7_redirects_remembered 451 redirect mappings held (users or devices sent to another mail server).
# TYPE enforcer_l7_redirects_remembered gauge
enforcer_l7_redirects_remembered 0
# HELP enforcer_l7_device_records Device records in the store.
# TYPE enforcer_l7_device_records gauge
enforcer_l7_device_records 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"enforcer_l7_requests_total", "enforcer_l7_responses_total", "enforcer_l7_upstream_errors_total",
		"enforcer_l7_in_flight_requests", "enforcer_l7_open_connections", "enforcer_l7_redirects_remembered",
		"enforcer_l7_device_records"); err != nil {
		t.Fatal(err)
	}

	// Sample counts: a Ping the mail server held is a long poll; Syncs
	// the gateway answered are commands. Only forwarded requests have an
	// upstream response time.
	for _, c := range []struct {
		name, route, class string
		want               float64
	}{
		{"enforcer_l7_request_duration_seconds", "activesync", "command", 6},
		{"enforcer_l7_request_duration_seconds", "activesync", "longpoll", 1},
		{"enforcer_l7_request_duration_seconds", "ews", "command", 3},
		{"enforcer_l7_request_duration_seconds", "autodiscover", "command", 1},
		{"enforcer_l7_request_duration_seconds", "webmail", "command", 0},
		{"enforcer_l7_request_duration_seconds", "none", "command", 2},
		{"enforcer_l7_upstream_response_seconds", "activesync", "command", 2},
		{"enforcer_l7_upstream_response_seconds", "activesync", "longpoll", 1},
		{"enforcer_l7_upstream_response_seconds", "ews", "command", 1},
		{"enforcer_l7_upstream_response_seconds", "autodiscover", "command", 1},
	} {
		if got := mustMetric(t, m, c.name, "route", c.route, "command_class", c.class); got != c.want {
			t.Errorf("%s{route=%q,command_class=%q}: %v observations, want %v", c.name, c.route, c.class, got, c.want)
		}
	}
	if _, ok := metricValue(t, m, "enforcer_l7_upstream_response_seconds", "route", "none"); ok {
		t.Error("upstream_response_seconds has a series for route none, which is never forwarded")
	}
	// Request bodies read: abc, ping, <soap/>, <x/>; the blocked Sync's
	// body is never read.
	if got := mustMetric(t, m, "enforcer_l7_bytes_total", "direction", "in"); got != 18 {
		t.Errorf("bytes in %v, want 18", got)
	}
	if got := mustMetric(t, m, "enforcer_l7_bytes_total", "direction", "out"); got <= 0 {
		t.Errorf("bytes out %v, want some", got)
	}
}

// TestMetricsPolicyStates: no policy (fail closed) and test mode, which
// lets the request through and keeps the reason it would have blocked for.
func TestMetricsPolicyStates(t *testing.T) {
	tests := []struct {
		name   string
		policy *device.Config
		status int
		want   string
	}{
		{name: "no policy", status: 503,
			want: `enforcer_l7_requests_total{command="Sync",decision="block",reason="policy.none.fail_closed",route="activesync"} 1`},
		{name: "test mode", policy: &device.Config{ManagedOnly: true, TestMode: true}, status: 200,
			want: `enforcer_l7_requests_total{command="Sync",decision="allow",reason="general.unmanaged",route="activesync"} 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pol *device.Policy
			if tc.policy != nil {
				pol = mustPolicy(t, *tc.policy)
			}
			e, m := newMetricsEnv(t, pol)
			if got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}); got.Status != tc.status {
				t.Fatalf("status %d, want %d", got.Status, tc.status)
			}
			waitTransactions(t, e, 1)
			if err := testutil.CollectAndCompare(m, strings.NewReader(requestsHeader+tc.want+"\n"), "enforcer_l7_requests_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

const requestsHeader = `# HELP enforcer_l7_requests_total Requests by route, EAS command ("" outside EAS), decision (allow, block, quarantine; pass: forwarded without a decision; reject: answered by the gateway without a decision) and reason code.
# TYPE enforcer_l7_requests_total counter
`

// TestMetricsUpstreamErrors: each way the mail server can fail a request
// is counted by kind, and the request itself once, as allowed.
func TestMetricsUpstreamErrors(t *testing.T) {
	closedAddr := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	tests := []struct {
		name     string
		opt      func(t *testing.T) envOption
		handle   func(w http.ResponseWriter, r *http.Request, _ []byte) bool
		status   int
		kind     string
		answered bool // the mail server sent a response header
	}{
		{name: "down", status: 502, kind: "dial", opt: func(t *testing.T) envOption {
			addr := closedAddr(t)
			return func(c *Config, _ *device.StoreOptions) { c.Upstream = "https://" + addr }
		}},
		{name: "untrusted certificate", status: 502, kind: "tls", opt: func(*testing.T) envOption {
			return func(c *Config, _ *device.StoreOptions) { c.UpstreamCAFile = "" }
		}},
		{name: "no answer in time", status: 504, kind: "timeout",
			opt: func(*testing.T) envOption {
				return func(c *Config, _ *device.StoreOptions) { c.CommandTimeout = 100 * time.Millisecond }
			},
			handle: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				<-r.Context().Done() // the gateway gives up and cancels
				return true
			}},
		{name: "connection closed", status: 502, kind: "reset",
			handle: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				c, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					c.Close()
				}
				return true
			}},
		{name: "unusable 451", status: 502, kind: "bad_redirect", answered: true,
			handle: func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				w.Header().Set(HeaderMSLocation, "ftp://mail2.internal/x")
				w.WriteHeader(451)
				return true
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []envOption
			if tc.opt != nil {
				opts = append(opts, tc.opt(t))
			}
			e, m := newMetricsEnv(t, mustPolicy(t, device.Config{}), opts...)
			if tc.handle != nil {
				e.mail.setHandle(tc.handle)
			}
			if got := e.eas(t, easReq{cmd: "FolderSync", user: "jane", deviceID: "D1", devType: "iPhone"}); got.Status != tc.status {
				t.Fatalf("status %d, want %d (%q)", got.Status, tc.status, got.Body)
			}
			waitTransactions(t, e, 1)
			for _, k := range upstreamErrNames[1:] {
				want := 0.0
				if k == tc.kind {
					want = 1
				}
				if got := mustMetric(t, m, "enforcer_l7_upstream_errors_total", "kind", k); got != want {
					t.Errorf("upstream_errors_total{kind=%q} %v, want %v (err %v)", k, got, want, e.logs.all(MsgTransaction)[0].Attrs["err"])
				}
			}
			if got := mustMetric(t, m, "enforcer_l7_requests_total", "command", "FolderSync", "decision", "allow", "reason", "default.allow"); got != 1 {
				t.Errorf("requests_total %v, want 1", got)
			}
			if got := mustMetric(t, m, "enforcer_l7_responses_total", "code_class", "5xx"); got != 1 {
				t.Errorf("responses_total{5xx} %v, want 1", got)
			}
			if got := mustMetric(t, m, "enforcer_l7_request_duration_seconds", "route", "activesync", "command_class", "command"); got != 1 {
				t.Errorf("request_duration_seconds: %v observations, want 1", got)
			}
			want := 0.0
			if tc.answered {
				want = 1
			}
			if got := mustMetric(t, m, "enforcer_l7_upstream_response_seconds", "route", "activesync", "command_class", "command"); got != want {
				t.Errorf("upstream_response_seconds: %v observations, want %v", got, want)
			}
		})
	}
}

// TestMetricsRedirect451: a remembered 451 mapping shows in
// redirects_remembered; the 451 reaches the client as a 4xx.
func TestMetricsRedirect451(t *testing.T) {
	e, m := newMetricsEnv(t, mustPolicy(t, device.Config{}))
	mail2 := newFakeMail(t)
	e.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set(HeaderMSLocation, mail2.URL+pathEAS)
		w.WriteHeader(451)
		return true
	})
	jane := easReq{cmd: "FolderSync", user: "jane", deviceID: "D1", devType: "iPhone"}
	if got := e.eas(t, jane); got.Status != 451 {
		t.Fatalf("status %d, want 451", got.Status)
	}
	if got := e.eas(t, jane); got.Status != 200 {
		t.Fatalf("after the 451: status %d, want 200 from mail2", got.Status)
	}
	waitTransactions(t, e, 2)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"enforcer_l7_redirects_remembered", nil, 1},
		{"enforcer_l7_responses_total", []string{"code_class", "4xx"}, 1},
		{"enforcer_l7_responses_total", []string{"code_class", "2xx"}, 1},
		{"enforcer_l7_requests_total", []string{"command", "FolderSync", "decision", "allow"}, 2},
		{"enforcer_l7_upstream_response_seconds", []string{"route", "activesync", "command_class", "command"}, 2},
	} {
		if got := mustMetric(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	e.proxy.ForgetRedirect("jane", "")
	if got := mustMetric(t, m, "enforcer_l7_redirects_remembered"); got != 0 {
		t.Errorf("redirects_remembered %v after ForgetRedirect, want 0", got)
	}
}

// TestMetricsConnections: open_connections and in_flight_requests rise
// while a long poll is held and fall back to 0 once it is answered and
// the connection closed.
func TestMetricsConnections(t *testing.T) {
	m := NewMetrics()
	s := serveDeps(t, nil, func(d *Deps) { d.Metrics = m })
	held, release := make(chan struct{}), make(chan struct{})
	s.mail.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		close(held)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	c := tlsClient(t, s.proxy.cfg.CertFile, false)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr+strings.Replace(syncPath, "Cmd=Sync", "Cmd=Ping", 1), nil)
		req.Header.Set("MS-ASProtocolVersion", "14.1")
		req.SetBasicAuth("jane", "secret")
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = errors.New(resp.Status)
			}
		}
		errc <- err
	}()
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the Ping did not reach the mail server")
	}
	waitGauges := func(conns, inFlight float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			gc := mustMetric(t, m, "enforcer_l7_open_connections")
			gi := mustMetric(t, m, "enforcer_l7_in_flight_requests")
			if gc == conns && gi == inFlight {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("open_connections %v, in_flight_requests %v; want %v, %v", gc, gi, conns, inFlight)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitGauges(1, 1)
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Ping: %v", err)
	}
	c.CloseIdleConnections()
	waitGauges(0, 0)
	if got := mustMetric(t, m, "enforcer_l7_request_duration_seconds", "route", "activesync", "command_class", "longpoll"); got != 1 {
		t.Errorf("longpoll observations %v, want 1", got)
	}
}

// TestMetricsNil: without Metrics the proxy serves as before; a Metrics no
// proxy uses yet collects (without the proxy's gauges) and passes lint.
func TestMetricsNil(t *testing.T) {
	e := newEnv(t, mustPolicy(t, device.Config{BlockedUsers: []string{"mallory"}}))
	if e.proxy.metrics != nil {
		t.Fatal("metrics without Deps.Metrics")
	}
	for _, c := range []struct {
		r      easReq
		status int
	}{
		{easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}, 200},
		{easReq{cmd: "Sync", user: "mallory", deviceID: "D2", devType: "iPhone"}, 200},
		{easReq{query: "Cmd=Explode"}, 400},
	} {
		if got := e.eas(t, c.r); got.Status != c.status {
			t.Errorf("%+v: status %d, want %d", c.r, got.Status, c.status)
		}
	}
	waitTransactions(t, e, 3)

	m := NewMetrics()
	if _, ok := metricValue(t, m, "enforcer_l7_open_connections"); ok {
		t.Error("open_connections collected before a proxy uses the metrics")
	}
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsRebuiltProxy: a Metrics passed to a new Proxy keeps its
// counters and reads the gauges of the new one.
func TestMetricsRebuiltProxy(t *testing.T) {
	e, m := newMetricsEnv(t, mustPolicy(t, device.Config{}))
	if got := e.eas(t, easReq{cmd: "Sync", user: "jane", deviceID: "D1", devType: "iPhone"}); got.Status != 200 {
		t.Fatalf("status %d", got.Status)
	}
	waitTransactions(t, e, 1)
	store := device.NewStore(device.StoreOptions{})
	mustUpsert(t, store, device.Record{DeviceID: "A"}, device.Record{DeviceID: "B"})
	u, _ := url.Parse(e.mail.URL)
	if _, err := New(Config{Upstream: u.String(), PlainHTTP: true}, Deps{Store: store, Metrics: m, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if got := mustMetric(t, m, "enforcer_l7_device_records"); got != 2 {
		t.Errorf("device_records %v, want 2 (the new proxy's store)", got)
	}
	if got := mustMetric(t, m, "enforcer_l7_requests_total", "command", "Sync"); got != 1 {
		t.Errorf("requests_total %v, want 1 kept across the rebuild", got)
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmark measures the handler rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandlerMetrics compares the handler with and without Metrics,
// for a request the gateway refuses itself and one proxied to a stub
// upstream (no network).
func BenchmarkHandlerMetrics(b *testing.B) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, query string }{
		{"blocked", "Cmd=Sync&User=mallory&DeviceId=D1&DeviceType=iPhone"},
		{"proxied", "Cmd=FolderSync&User=jane&DeviceId=D1&DeviceType=iPhone"},
	} {
		for _, metered := range []bool{false, true} {
			name := c.name + "/metrics=off"
			if metered {
				name = c.name + "/metrics=on"
			}
			b.Run(name, func(b *testing.B) {
				store := device.NewStore(device.StoreOptions{})
				store.SetPolicy(mustPolicy(b, device.Config{BlockedUsers: []string{"mallory"}}))
				mustUpsert(b, store, device.Record{DeviceID: "D1"})
				deps := Deps{Store: store, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
				if metered {
					deps.Metrics = NewMetrics()
				}
				p, err := New(Config{Upstream: "https://mail.internal", PlainHTTP: true}, deps)
				if err != nil {
					b.Fatal(err)
				}
				p.rp.Transport = &timeoutTransport{base: &benchUpstream{}}
				r, _ := http.NewRequest(http.MethodPost, "http://gw.test"+pathEAS+"?"+c.query, http.NoBody)
				r.RemoteAddr = "192.0.2.7:40000"
				r.Header.Set("MS-ASProtocolVersion", "14.1")
				r.Header.Set("User-Agent", "Apple-iPhone15C2/2101.10")
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					p.ServeHTTP(w, r)
				}
			})
		}
	}
}

// benchUpstream answers every round trip with an empty 200.
type benchUpstream struct{}

func (benchUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}
