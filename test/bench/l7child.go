package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailgate/enforcer/l7/proxy"
)

// proxyChildArg, as the first argument, makes the bench binary run
// enforcer's proxy alone (see runProxyChild). The proxy runs in its own
// process, as nginx does, so that its memory can be read from /proc and
// the load generator's garbage does not weigh on its collector.
const proxyChildArg = "-l7-proxy-child"

// childMem is what the child reports of its Go runtime after a collection.
type childMem struct {
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
	OpenConns  int64  `json:"open_conns"`
}

// runProxyChild serves enforcer's proxy on a loopback port in front of
// -upstream, with -records devices loaded (or, with -bare, Go's plain
// reverse proxy). It prints "listening ADDR" on
// stdout, then answers each "mem" line on stdin with a childMem line, and
// exits when stdin closes (the parent is done or gone).
func runProxyChild(args []string) error {
	fs := flag.NewFlagSet(proxyChildArg, flag.ContinueOnError)
	upstream := fs.String("upstream", "", "mail server URL")
	records := fs.Int("records", 0, "device records to load")
	bare := fs.Bool("bare", false, "serve a bare httputil.ReverseProxy instead of enforcer's proxy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// BENCH_L7_CPUPROFILE=path writes the proxy's CPU profile over
	// the child's life to path.PID, to see where its time goes.
	if path := os.Getenv("BENCH_L7_CPUPROFILE"); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	openConns := func() int64 { return 0 }
	if *bare {
		srv, err := bareProxy(*upstream)
		if err != nil {
			return err
		}
		go func() { done <- srv.Serve(l) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	} else {
		store, err := newBenchStore(*records, time.Now())
		if err != nil {
			return err
		}
		// The transaction log is formatted, one JSON record per request as
		// a deployment writes it, then thrown away: its cost is counted,
		// its I/O is not (nginx runs with access_log off).
		logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
		// Every client comes from 127.0.0.1, as from a load balancer in
		// front: no per-source limit (the 10,000 held Pings would pass it).
		p, err := proxy.New(proxy.Config{Upstream: *upstream, PlainHTTP: true, MaxConnsPerSource: -1}, proxy.Deps{Store: store, Logger: logger})
		if err != nil {
			return err
		}
		openConns = p.OpenConns
		go func() { done <- p.Serve(ctx, l) }()
	}
	// The records were loaded with garbage to spare: start measured runs
	// from a collected heap.
	runtime.GC()
	fmt.Printf("listening %s\n", l.Addr())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "mem" {
			continue
		}
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b, _ := json.Marshal(childMem{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
			Goroutines: runtime.NumGoroutine(), OpenConns: openConns()})
		fmt.Printf("%s\n", b)
	}
	cancel()
	select {
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-time.After(15 * time.Second):
		return fmt.Errorf("proxy did not stop")
	}
}

// bareProxy is Go's reverse proxy with nothing of enforcer's: no EAS
// parsing, no decision, no log; the same streaming (flush at once) and
// upstream keep-alive. Beside enforcer's proxy it shows what enforcer's
// own work costs, and beside nginx what Go's HTTP stack does.
func bareProxy(upstream string) (*http.Server, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	return &http.Server{Handler: rp, ReadHeaderTimeout: 15 * time.Second, IdleTimeout: 120 * time.Second}, nil
}

// proxyChild is a running child from the parent's side.
type proxyChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
}

// startProxyChild re-executes this binary as a proxy child and waits for
// its address.
func startProxyChild(upstream string, records int, bare bool) (*proxyChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, proxyChildArg, "-upstream", upstream, "-records", strconv.Itoa(records), "-bare="+strconv.FormatBool(bare))
	cmd.Stderr = os.Stderr
	// Killed with the bench, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start proxy child: %w", err)
	}
	c := &proxyChild{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := c.readLine(2 * time.Minute)
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("proxy child: %w", err)
	}
	addr, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		c.stop()
		return nil, fmt.Errorf("proxy child said %q", line)
	}
	c.addr = addr
	return c, nil
}

// readLine reads one line of the child's stdout within timeout; on
// timeout the child is killed, which ends the read.
func (c *proxyChild) readLine(timeout time.Duration) (string, error) {
	t := time.AfterFunc(timeout, func() { _ = c.cmd.Process.Kill() })
	defer t.Stop()
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read child output: %w", err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// mem asks the child to collect garbage and report its Go memory, then
// reads its resident set size.
func (c *proxyChild) mem() (childMem, int64, error) {
	var m childMem
	if _, err := io.WriteString(c.in, "mem\n"); err != nil {
		return m, 0, err
	}
	line, err := c.readLine(time.Minute)
	if err != nil {
		return m, 0, err
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return m, 0, fmt.Errorf("child mem %q: %w", line, err)
	}
	rss, err := vmRSS(c.cmd.Process.Pid)
	return m, rss, err
}

// stop closes the child's stdin (it shuts down), and kills it if it has
// not exited within 20 s.
func (c *proxyChild) stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// vmRSS returns a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
