package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one load run against one target.
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	failed   int64 // requests that failed (refused, cut, wrong answer)
	firstErr error // the first of them
}

// runLoad drives target (a base URL) with sc.clients concurrent keep-alive
// clients, each sending the mix in turn for devices spread over the whole
// population, for sc.warm (not measured) then sc.run, and at most
// sc.runMax requests. Latency is from sending the request to reading the
// last byte of the response. A failed request is counted and left out of
// the figures, and its client carries on (on a new connection); more than
// maxFailed fail the run: a proxy that refuses or cuts requests wholesale
// has no throughput to report.
func runLoad(target string, mix *easMix, devices []loadDevice, sc l7Scale) (loadResult, error) {
	u, err := url.Parse(target)
	if err != nil {
		return loadResult{}, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: sc.clients,
		MaxConnsPerHost:     sc.clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	start := time.Now()
	measureFrom := start.Add(sc.warm)
	stopAt := measureFrom.Add(sc.run)
	// Also bounded in time if the target stalls: every request has its
	// own timeout, and the whole run this one.
	ctx, cancel := context.WithDeadline(context.Background(), stopAt.Add(time.Minute))
	defer cancel()

	var issued atomic.Int64
	var lastDone atomic.Int64 // UnixNano of the last measured completion
	lat := make([][]time.Duration, sc.clients)
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	maxFailed := int64(max(10, sc.runMax/1000))
	fail := func(err error) bool {
		firstErr.CompareAndSwap(nil, &err)
		return failed.Add(1) > maxFailed
	}
	var wg sync.WaitGroup
	for w := range sc.clients {
		lat[w] = make([]time.Duration, 0, sc.runMax/sc.clients+1)
		wg.Go(func() {
			// Client w sends devices w, w+clients, ... and slots w, w+1, ...
			// so that all clients do not send the same command at once.
			dev, slot := w, w
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(stopAt) || issued.Add(1) > int64(sc.runMax) {
					return
				}
				cmd := mix.slots[slot%len(mix.slots)]
				d := &devices[dev%len(devices)]
				slot++
				dev += sc.clients
				req := &http.Request{
					Method: http.MethodPost,
					URL: &url.URL{Scheme: u.Scheme, Host: u.Host, Path: easPath,
						RawQuery: "Cmd=" + cmd.name + d.query},
					Header: http.Header{
						"Authorization":        {d.auth},
						"Ms-Asprotocolversion": {"16.1"},
						"User-Agent":           {d.userAgent},
						"Content-Type":         {wbxmlType},
					},
					Body:          io.NopCloser(bytes.NewReader(cmd.req)),
					GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cmd.req)), nil },
					ContentLength: int64(len(cmd.req)),
					Host:          u.Host,
				}
				resp, err := client.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() != nil || fail(fmt.Errorf("%s: %w", cmd.name, err)) {
						return
					}
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					err = fmt.Errorf("%s: read response: %w", cmd.name, err)
				case resp.StatusCode != http.StatusOK || n != int64(len(cmd.resp)):
					err = fmt.Errorf("%s: status %d, %d bytes, want 200 and %d bytes", cmd.name, resp.StatusCode, n, len(cmd.resp))
				}
				if err != nil {
					if fail(err) {
						return
					}
					continue
				}
				t1 := time.Now()
				if t0.After(measureFrom) {
					lat[w] = append(lat[w], t1.Sub(t0))
					for {
						last := lastDone.Load()
						if t1.UnixNano() <= last || lastDone.CompareAndSwap(last, t1.UnixNano()) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	var first error
	if e := firstErr.Load(); e != nil {
		first = *e
	}
	if n := failed.Load(); n > maxFailed {
		return loadResult{}, fmt.Errorf("more than %d requests failed, the first: %w", maxFailed, first)
	}
	if ctx.Err() != nil {
		return loadResult{}, fmt.Errorf("run not over a minute after its end: %w", first)
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("no request completed in the measured %v", sc.run)
	}
	slices.Sort(all)
	window := time.Unix(0, lastDone.Load()).Sub(measureFrom)
	return loadResult{
		rps: float64(len(all)) / window.Seconds(),
		p50: all[len(all)/2],
		p99: all[len(all)*99/100],
	}, nil
}

// loadDevice is what the load sends for one device.
type loadDevice struct {
	query     string // the query after Cmd=...
	auth      string
	userAgent string
}

func loadDevices(n int) []loadDevice {
	ds := make([]loadDevice, n)
	for i := range ds {
		ds[i] = loadDeviceOf(i)
	}
	return ds
}

func loadDeviceOf(i int) loadDevice {
	d := benchDeviceOf(i)
	return loadDevice{
		query: "&User=" + url.QueryEscape(requestUser(i)) + "&DeviceId=" + requestID(i) + "&DeviceType=" + d.deviceType,
		auth:  basicAuth(i), userAgent: d.userAgent,
	}
}

// throughputRows runs the same load straight at the mail server, through
// enforcer's proxy, through nginx and through Go's bare reverse proxy
// (bareProxy), interleaved three times so that drift on a shared machine
// hits all alike, and reports the medians. Added latency is a proxy's
// percentile minus the direct one of the same round. Ratios are against
// nginx.
//
// Everything shares the machine's cores: this process (load generator and
// mail server, GOMAXPROCS = all cores), enforcer's proxy in a child
// process (the same) and nginx (one worker per core). Nothing is pinned:
// on two cores there is no CPU to give each party alone, and both proxies
// get the same share. The throughput is therefore what a proxy achieves
// while the generator and the server take their part of the same CPUs,
// lower than on a dedicated gateway, and the ratio between the proxies is
// the figure to read.
func throughputRows(sc l7Scale) ([]Row, error) {
	mix, err := newEASMix()
	if err != nil {
		return nil, err
	}
	mail, err := startMailServer(mix, false)
	if err != nil {
		return nil, err
	}
	defer mail.close()
	child, err := startProxyChild(mail.url, sc.records, false)
	if err != nil {
		return nil, err
	}
	defer child.stop()
	bare, err := startProxyChild(mail.url, 0, true)
	if err != nil {
		return nil, err
	}
	defer bare.stop()
	ngx, err := startNginx(mail.url[len("http://"):], runtime.NumCPU())
	if err != nil {
		return nil, err
	}
	defer ngx.stop()

	devices := loadDevices(sc.records)
	targets := []struct{ name, url string }{
		{"direct", mail.url},
		{"enforcer", "http://" + child.addr},
		{"nginx", "http://" + ngx.addr},
		{"go_bare", "http://" + bare.addr},
	}
	res := map[string][]loadResult{}
	for round := range 3 {
		for _, t := range targets {
			r, err := runLoad(t.url, mix, devices, sc)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, t.name, err)
			}
			res[t.name] = append(res[t.name], r)
		}
	}
	if n := mail.errs.Load(); n > 0 {
		return nil, fmt.Errorf("the mail server refused %d requests", n)
	}
	failed := func(name string) float64 {
		var n int64
		for _, r := range res[name] {
			n += r.failed
			if r.firstErr != nil {
				fmt.Fprintf(os.Stderr, "bench: l7: %s: %d requests failed, the first: %v\n", name, r.failed, r.firstErr)
			}
		}
		return float64(n)
	}

	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	med := func(name string, f func(i int) float64) float64 {
		var v []float64
		for i := range res[name] {
			v = append(v, f(i))
		}
		return medianF(v)
	}
	rps := func(name string) float64 { return med(name, func(i int) float64 { return res[name][i].rps }) }
	added := func(name string, p func(loadResult) time.Duration) float64 {
		return med(name, func(i int) float64 { return us(p(res[name][i])) - us(p(res["direct"][i])) })
	}
	p50 := func(r loadResult) time.Duration { return r.p50 }
	p99 := func(r loadResult) time.Duration { return r.p99 }

	rpsRatio := rps("enforcer") / rps("nginx")
	a50, a99 := added("enforcer", p50), added("enforcer", p99)
	n50, n99 := added("nginx", p50), added("nginx", p99)
	ratio := func(a, b float64) *float64 {
		if b <= 0 {
			return nil // nginx added nothing measurable: no ratio
		}
		r := a / b
		return &r
	}
	return []Row{
		{Name: "l7.direct.rps", Value: rps("direct"), Unit: "req/s"},
		{Name: "l7.direct.p50", Value: med("direct", func(i int) float64 { return us(res["direct"][i].p50) }), Unit: "µs"},
		{Name: "l7.direct.p99", Value: med("direct", func(i int) float64 { return us(res["direct"][i].p99) }), Unit: "µs"},
		{Name: "l7.enforcer.rps", Value: rps("enforcer"), Unit: "req/s", Ratio: &rpsRatio},
		{Name: "l7.enforcer.added_p50", Value: a50, Unit: "µs", Ratio: ratio(a50, n50)},
		{Name: "l7.enforcer.added_p99", Value: a99, Unit: "µs", Ratio: ratio(a99, n99)},
		{Name: "l7.nginx.rps", Value: rps("nginx"), Unit: "req/s"},
		{Name: "l7.nginx.added_p50", Value: n50, Unit: "µs"},
		{Name: "l7.nginx.added_p99", Value: n99, Unit: "µs"},
		{Name: "l7.go_bare.rps", Value: rps("go_bare"), Unit: "req/s", Ratio: ratio(rps("go_bare"), rps("nginx"))},
		{Name: "l7.go_bare.added_p50", Value: added("go_bare", p50), Unit: "µs", Ratio: ratio(added("go_bare", p50), n50)},
		{Name: "l7.go_bare.added_p99", Value: added("go_bare", p99), Unit: "µs", Ratio: ratio(added("go_bare", p99), n99)},
		{Name: "l7.enforcer_vs_nginx.rps", Value: rpsRatio, Unit: "x", Ratio: &rpsRatio},
		{Name: "l7.enforcer_vs_go_bare.rps", Value: rps("enforcer") / rps("go_bare"), Unit: "x"},
		// Requests that failed, over the three rounds; left out above.
		{Name: "l7.direct.failed", Value: failed("direct"), Unit: "requests"},
		{Name: "l7.enforcer.failed", Value: failed("enforcer"), Unit: "requests"},
		{Name: "l7.nginx.failed", Value: failed("nginx"), Unit: "requests"},
		{Name: "l7.go_bare.failed", Value: failed("go_bare"), Unit: "requests"},
	}, nil
}
