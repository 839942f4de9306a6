package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idlePingRows measures what an idle Ping long-poll costs the proxy: the
// mail server holds every Ping, sc.pings clients each have one in flight
// through enforcer's proxy (so the proxy holds a client connection and a
// mail server connection per Ping), and the proxy process's resident set
// and Go heap and stacks are compared with the same process before the
// Pings, both after a collection.
func idlePingRows(sc l7Scale) ([]Row, error) {
	pings, err := raiseFileLimit(sc.pings)
	if err != nil {
		return nil, err
	}
	mix, err := newEASMix()
	if err != nil {
		return nil, err
	}
	mail, err := startMailServer(mix, true)
	if err != nil {
		return nil, err
	}
	defer mail.close()
	child, err := startProxyChild(mail.url, sc.records, false)
	if err != nil {
		return nil, err
	}
	defer child.stop()

	// Warm the proxy up (transport, buffer pools, code paths) so that the
	// baseline is a proxy that has served, not one that never has.
	if err := warmUp("http://"+child.addr, mix.cmds["Sync"], 16, 400); err != nil {
		return nil, fmt.Errorf("warm up: %w", err)
	}
	memBefore, rssBefore, err := child.mem()
	if err != nil {
		return nil, err
	}

	pingCmd := mix.cmds["Ping"]
	conns := make([]net.Conn, pings)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var opened, answered atomic.Int64
	var firstErr atomic.Pointer[error]
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	var writers, readers sync.WaitGroup
	// Dial at most 128 at a time: the kernel's SYN backlog is a few
	// thousand and a refused SYN costs a second's retransmit.
	sem := make(chan struct{}, 128)
	for i := range pings {
		sem <- struct{}{}
		writers.Add(1)
		go func() {
			defer writers.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", child.addr, 10*time.Second)
			if err != nil {
				fail(fmt.Errorf("dial ping %d: %w", i, err))
				return
			}
			conns[i] = c
			_ = c.SetDeadline(time.Now().Add(holdPingsMax + time.Minute))
			if _, err := c.Write(pingRequest(child.addr, i, pingCmd.req)); err != nil {
				fail(fmt.Errorf("send ping %d: %w", i, err))
				return
			}
			opened.Add(1)
			readers.Go(func() {
				resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
				if err != nil {
					fail(fmt.Errorf("ping %d: %w", i, err))
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK && n == int64(len(pingCmd.resp)) {
					answered.Add(1)
				} else {
					fail(fmt.Errorf("ping %d: status %d, %d bytes, %v", i, resp.StatusCode, n, err))
				}
			})
		}()
	}
	writers.Wait()
	if e := firstErr.Load(); e != nil {
		mail.releasePings()
		return nil, *e
	}
	// Every Ping is held once the mail server has read it.
	deadline := time.Now().Add(time.Minute)
	for mail.held.Load() < opened.Load() && time.Now().Before(deadline) && firstErr.Load() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	held := mail.held.Load()
	memHeld, rssHeld, err := child.mem()
	mail.releasePings()
	if err != nil {
		return nil, err
	}
	if !waitTimeout(&readers, time.Minute) {
		return nil, fmt.Errorf("released Pings not answered within a minute")
	}
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	if held != int64(pings) || memHeld.OpenConns < held {
		return nil, fmt.Errorf("%d of %d Pings held, proxy has %d client connections", held, pings, memHeld.OpenConns)
	}
	if a := answered.Load(); a != held {
		return nil, fmt.Errorf("%d of %d held Pings answered after release", a, held)
	}

	kib := func(b int64) float64 { return float64(b) / 1024 / float64(held) }
	goMem := func(m childMem) int64 { return int64(m.HeapInuse + m.StackInuse) }
	return []Row{
		{Name: "l7.ping.held", Value: float64(held), Unit: "pings"},
		{Name: "l7.ping.rss", Value: kib(rssHeld - rssBefore), Unit: "KiB/ping"},
		{Name: "l7.ping.go_heap_stacks", Value: kib(goMem(memHeld) - goMem(memBefore)), Unit: "KiB/ping"},
		{Name: "l7.ping.goroutines", Value: float64(memHeld.Goroutines-memBefore.Goroutines) / float64(held), Unit: "goroutines/ping"},
		{Name: "l7.ping.proxy_rss", Value: float64(rssHeld) / (1 << 20), Unit: "MiB"},
	}, nil
}

// pingRequest is device i's Ping as an HTTP/1.1 request.
func pingRequest(host string, i int, body []byte) []byte {
	d := loadDeviceOf(i)
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s?Cmd=Ping%s HTTP/1.1\r\n", easPath, d.query)
	fmt.Fprintf(&b, "Host: %s\r\nAuthorization: %s\r\nMS-ASProtocolVersion: 16.1\r\nUser-Agent: %s\r\n", host, d.auth, d.userAgent)
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n\r\n", wbxmlType, len(body))
	b.Write(body)
	return b.Bytes()
}

// warmUp sends n requests of cmd from c clients.
func warmUp(target string, cmd *easCommand, c, n int) error {
	tr := &http.Transport{MaxIdleConnsPerHost: c}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	errs := make(chan error, c)
	for range c {
		go func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				d := loadDeviceOf(i)
				req, err := http.NewRequest(http.MethodPost, target+easPath+"?Cmd="+cmd.name+d.query, bytes.NewReader(cmd.req))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Authorization", d.auth)
				req.Header.Set("MS-ASProtocolVersion", "16.1")
				req.Header.Set("User-Agent", d.userAgent)
				req.Header.Set("Content-Type", wbxmlType)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("%s: status %d, %v", cmd.name, resp.StatusCode, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range c {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// raiseFileLimit raises RLIMIT_NOFILE for want Pings: this process holds
// two descriptors per Ping (the client's connection and the mail server's
// end of the proxy's), and so does the proxy child, which inherits the
// limit. Without the privilege to raise the hard limit, it returns how
// many Pings fit under it.
func raiseFileLimit(want int) (int, error) {
	const spare = 64 // listeners, pipes, the runtime's own
	need := uint64(2*want + spare)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= need {
		return want, nil
	}
	if lim.Max < need {
		raised := syscall.Rlimit{Cur: need, Max: need}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	if lim.Cur >= need {
		return want, nil
	}
	fit := int(lim.Cur-spare) / 2
	if fit < 1 {
		return 0, fmt.Errorf("RLIMIT_NOFILE %d leaves no room for Pings", lim.Cur)
	}
	return fit, nil
}

// waitTimeout waits for wg at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
