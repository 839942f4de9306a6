package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// Metrics is the proxy's Prometheus collector (see the package
// documentation, "Metrics"). Build it with [NewMetrics], register it, and
// pass it in [Deps.Metrics]:
//
//	m := proxy.NewMetrics()
//	reg.MustRegister(m)
//	p, err := proxy.New(cfg, proxy.Deps{Store: store, Metrics: m})
//
// Every request is counted once, when it ends. A Metrics serves one Proxy
// at a time: the gauges read at scrape time (open connections, 451
// mappings, device records) follow the last Proxy built with it, while
// counters and histograms carry on across a rebuilt Proxy.
type Metrics struct {
	requests *prometheus.CounterVec
	// reqs caches requests' children by reqKey. Lookups are lock-free;
	// a combination seen for the first time copies the map under reqMu.
	// The label values are bounded (known routes, commands, decisions
	// and reasons), so the map is too.
	reqs  atomic.Pointer[map[reqKey]prometheus.Counter]
	reqMu sync.Mutex

	duration, upstream   *prometheus.HistogramVec
	durations, upstreams [numRoutes][numClasses]prometheus.Observer

	upErrors  *prometheus.CounterVec
	upErrs    [numUpstreamErrs]prometheus.Counter
	responses *prometheus.CounterVec
	codes     [6]prometheus.Counter // by status/100; [0] for the rest
	bytes     *prometheus.CounterVec
	bytesIn   prometheus.Counter
	bytesOut  prometheus.Counter
	inFlight  prometheus.Gauge
	refused   prometheus.Counter

	openConns, redirects, records *prometheus.Desc
	proxy                         atomic.Pointer[Proxy]
}

// metricsNamespace prefixes every metric of the proxy.
const metricsNamespace = "enforcer_l7_"

// latencyBuckets cover commands answered in milliseconds as well as long
// polls held for up to an hour (Ping and Sync heartbeats reach 59
// minutes, [MS-ASCMD] 2.2.3.83.1).
var latencyBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
	60, 120, 300, 600, 900, 1200, 1800, 2700, 3600,
}

// NewMetrics returns the proxy's metrics, all at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricsNamespace + "requests_total",
			Help: "Requests by route, EAS command (\"\" outside EAS), decision (allow, block, quarantine; pass: forwarded without a decision; reject: answered by the gateway without a decision) and reason code.",
		}, []string{"route", "command", "decision", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricsNamespace + "request_duration_seconds",
			Help:    "Time from request header to the end of the response, by route and command class (longpoll: EAS Ping and Sync forwarded to the mail server; command: everything else).",
			Buckets: latencyBuckets,
		}, []string{"route", "command_class"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricsNamespace + "upstream_response_seconds",
			Help:    "Time from sending a request to the mail server to its response header (request body upload included), by route and command class.",
			Buckets: latencyBuckets,
		}, []string{"route", "command_class"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricsNamespace + "upstream_errors_total",
			Help: "Requests the mail server gave no usable response header to, by kind (dial, tls, timeout, reset, bad_redirect, other).",
		}, []string{"kind"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricsNamespace + "responses_total",
			Help: "Responses by status class (499, the client gone before the response, counts as 4xx).",
		}, []string{"code_class"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricsNamespace + "bytes_total",
			Help: "Body bytes by direction (in: request bodies read from clients; out: response bodies written to clients).",
		}, []string{"direction"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricsNamespace + "in_flight_requests",
			Help: "Requests being served, long polls included.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricsNamespace + "connections_refused_total",
			Help: "Client connections closed unserved because their source (not a trusted proxy) held MaxConnsPerSource already.",
		}),
		openConns: prometheus.NewDesc(metricsNamespace+"open_connections",
			"Client connections held open by Serve.", nil, nil),
		redirects: prometheus.NewDesc(metricsNamespace+"redirects_remembered",
			"451 redirect mappings held (users or devices sent to another mail server).", nil, nil),
		records: prometheus.NewDesc(metricsNamespace+"device_records",
			"Device records in the store.", nil, nil),
	}
	empty := map[reqKey]prometheus.Counter{}
	m.reqs.Store(&empty)
	// Histograms of every combination that can occur exist from the
	// start, so that rates over them are defined before the first request.
	for r := range route(numRoutes) {
		m.durations[r][classCommand] = m.duration.WithLabelValues(metricRouteNames[r], classNames[classCommand])
		if r != routeNone {
			m.upstreams[r][classCommand] = m.upstream.WithLabelValues(metricRouteNames[r], classNames[classCommand])
		}
	}
	m.durations[routeEAS][classLongPoll] = m.duration.WithLabelValues(metricRouteNames[routeEAS], classNames[classLongPoll])
	m.upstreams[routeEAS][classLongPoll] = m.upstream.WithLabelValues(metricRouteNames[routeEAS], classNames[classLongPoll])
	for k := upstreamErrDial; k < numUpstreamErrs; k++ {
		m.upErrs[k] = m.upErrors.WithLabelValues(upstreamErrNames[k])
	}
	for c := 1; c < len(m.codes); c++ {
		m.codes[c] = m.responses.WithLabelValues(string(rune('0'+c)) + "xx")
	}
	m.bytesIn = m.bytes.WithLabelValues("in")
	m.bytesOut = m.bytes.WithLabelValues("out")
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.upstream.Describe(ch)
	m.upErrors.Describe(ch)
	m.responses.Describe(ch)
	m.bytes.Describe(ch)
	m.inFlight.Describe(ch)
	m.refused.Describe(ch)
	ch <- m.openConns
	ch <- m.redirects
	ch <- m.records
}

// Collect implements prometheus.Collector. The gauges of the Proxy's
// state are read now; they are absent before a Proxy uses m.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.upstream.Collect(ch)
	m.upErrors.Collect(ch)
	m.responses.Collect(ch)
	m.bytes.Collect(ch)
	m.inFlight.Collect(ch)
	m.refused.Collect(ch)
	if p := m.proxy.Load(); p != nil {
		ch <- prometheus.MustNewConstMetric(m.openConns, prometheus.GaugeValue, float64(p.OpenConns()))
		ch <- prometheus.MustNewConstMetric(m.redirects, prometheus.GaugeValue, float64(p.redirects.n.Load()))
		ch <- prometheus.MustNewConstMetric(m.records, prometheus.GaugeValue, float64(p.store.Len()))
	}
}

// begin counts a request in flight; record ends it.
func (m *Metrics) begin() { m.inFlight.Inc() }

// record counts a request that ended with status, having written out
// response body bytes, dur after it began.
func (m *Metrics) record(tx *txn, status int, out int64, dur time.Duration) {
	m.inFlight.Dec()
	m.requestCounter(requestKey(tx)).Inc()
	rt, cl := tx.route, commandClass(tx)
	m.durations[rt][cl].Observe(dur.Seconds())
	if tx.upstreamAnswered {
		if o := m.upstreams[rt][cl]; o != nil {
			o.Observe(tx.upstreamWait.Seconds())
		}
	}
	if tx.upstreamErr != upstreamErrNone {
		m.upErrs[tx.upstreamErr].Inc()
	}
	if c := status / 100; c >= 1 && c < len(m.codes) {
		m.codes[c].Inc()
	} else {
		m.responses.WithLabelValues("other").Inc()
	}
	if in := tx.body.bytes(); in > 0 {
		m.bytesIn.Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.Add(float64(out))
	}
}

// requestCounter returns the requests_total child of k, creating it the
// first time k is seen.
func (m *Metrics) requestCounter(k reqKey) prometheus.Counter {
	if c, ok := (*m.reqs.Load())[k]; ok {
		return c
	}
	m.reqMu.Lock()
	defer m.reqMu.Unlock()
	old := *m.reqs.Load()
	if c, ok := old[k]; ok {
		return c
	}
	c := m.requests.WithLabelValues(k.labels()...)
	next := make(map[reqKey]prometheus.Counter, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = c
	m.reqs.Store(&next)
	return c
}

// metricRouteNames are the route label values, by route.
var metricRouteNames = [numRoutes]string{
	routeNone: "none", routeEAS: "activesync", routeEWS: "ews",
	routeAutodiscover: "autodiscover", routeWebmail: "webmail",
}

// cmdClass separates long polls from commands, whose latencies differ by
// orders of magnitude. A long poll is a Ping or Sync forwarded to the mail
// server, which holds it up to its heartbeat: the proxy does not parse the
// body that says whether a Sync waits, so every Sync counts. A Ping or Sync
// the gateway answers itself (refused, malformed) is over at once and
// counts as a command.
type cmdClass uint8

const (
	classCommand cmdClass = iota
	classLongPoll
	numClasses
)

var classNames = [numClasses]string{"command", "longpoll"}

func commandClass(tx *txn) cmdClass {
	if tx.target != nil && tx.command != "" && (tx.cmd == eas.Ping || tx.cmd == eas.Sync) {
		return classLongPoll
	}
	return classCommand
}

// Decision label values beyond device.Action's.
const (
	decisionPass   = "pass"   // forwarded without a decision
	decisionReject = "reject" // answered by the gateway without a decision
)

// reqKey is a requests_total label combination as small indexes.
type reqKey struct {
	route    route
	command  uint8 // 0: none; 1+code: an EAS command
	decision uint8 // 0: pass, 1: reject, 1+Action, 2+numActions: invalid Action
	reason   uint8 // index in reasonNames
}

func requestKey(tx *txn) reqKey {
	k := reqKey{route: tx.route}
	if tx.command != "" {
		k.command = uint8(tx.cmd) + 1
	}
	switch {
	case tx.decided && tx.decision.Action.Valid():
		k.decision = 1 + uint8(tx.decision.Action)
		k.reason = reasonIndex(tx.decision.Reason)
	case tx.decided:
		// A decision without an action is a bug; it is counted, not lost.
		k.decision = 2 + numActions
		k.reason = reasonIndex(tx.decision.Reason)
	case tx.target == nil:
		k.decision = 1
	}
	return k
}

func (k reqKey) labels() []string {
	cmd := ""
	if k.command > 0 {
		cmd = "other"
		if c := eas.Command(k.command - 1); c.Known() {
			cmd = c.String()
		}
	}
	var dec string
	switch {
	case k.decision == 0:
		dec = decisionPass
	case k.decision == 1:
		dec = decisionReject
	case k.decision <= 1+numActions:
		dec = device.Action(k.decision - 1).String()
	default:
		dec = "other"
	}
	return []string{metricRouteNames[k.route], cmd, dec, reasonNames[k.reason]}
}

// numActions bounds device.Action values: Allow, Block, Quarantine.
const numActions = uint8(device.Quarantine)

// reasonNames are the reason label values: "" (no decision), the device
// package's and the proxy's codes, and "other" for a code neither knows.
var reasonNames, reasonIndexes = func() ([]string, map[device.Reason]uint8) {
	names := []string{""}
	idx := map[device.Reason]uint8{}
	for _, r := range append(device.Reasons(), Reasons()...) {
		if _, dup := idx[r]; dup || r == "" {
			continue
		}
		idx[r] = uint8(len(names))
		names = append(names, string(r))
	}
	return append(names, "other"), idx
}()

func reasonIndex(r device.Reason) uint8 {
	if r == "" {
		return 0
	}
	if i, ok := reasonIndexes[r]; ok {
		return i
	}
	return uint8(len(reasonNames) - 1)
}

// upstreamErr is the kind of an upstream error for upstream_errors_total.
type upstreamErr uint8

const (
	upstreamErrNone upstreamErr = iota
	upstreamErrDial
	upstreamErrTLS
	upstreamErrTimeout
	upstreamErrReset
	upstreamErrBadRedirect
	upstreamErrOther
	numUpstreamErrs
)

var upstreamErrNames = [numUpstreamErrs]string{"", "dial", "tls", "timeout", "reset", "bad_redirect", "other"}

// statusIsUpstreamError reports whether errorStatus blamed the mail server.
func statusIsUpstreamError(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}
