package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailgate/enforcer/test/geodata"
)

// CPUs: the protected host gets one CPU to itself (its NAPI thread and its
// servers are pinned there); the generator and the legitimate client share
// another, "the outside world".
const (
	outCPU  = 0
	protCPU = 1
)

// Attack sources: 3072 IPv4 and 1024 IPv6, half TCP SYNs to IMAPS, half
// UDP datagrams to QUIC.
const (
	attack4 = 3072
	attack6 = 1024
)

// Helper processes' arguments.
const legitSize = 64 // bytes per request and response

func runHarness(cfg config) (err error) {
	start := time.Now()
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, BPF, XDP): run as root, e.g. sudo make bench-attack")
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("needs 2 CPUs or more (one for the protected host, one for the generator and client), have %d", runtime.NumCPU())
	}
	for _, tool := range []string{"ip", "ethtool", "taskset", "nice", "nft", "ipset", "iptables-restore", "ip6tables-restore", "iptables-save", "gnuplot"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s on PATH: run scripts/deps.sh (make deps)", tool)
		}
	}
	// The protected CPU is the protected host's alone: the harness, its
	// tools and the generator stay on the other one.
	if err := pinProcess(outCPU); err != nil {
		return err
	}
	if err := removeStale(); err != nil {
		return err
	}
	before := hostState()

	// A signal cancels the run, which then cleans up; a second signal
	// cleans up at once and exits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var l *lab
	labReady := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "attack: %v: stopping and cleaning up (again to force)\n", s)
		cancel()
		if _, ok := <-sigs; !ok {
			return
		}
		select {
		case <-labReady:
			l.Close()
		default:
		}
		os.Exit(130)
	}()

	fmt.Fprintln(os.Stderr, "attack: generating the full-scale country table...")
	nets := geodata.Generate(tableSeed, fullV4, fullV6)
	sc, err := buildScenario(nets, labAllow, attack4, attack6, 1)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	l, err = newLab(sc.GeoClient)
	if err != nil {
		return err
	}
	close(labReady)
	defer func() {
		err = errors.Join(err, l.Close(), checkClean(before))
	}()
	dir, err := os.MkdirTemp("", labPrefix+"-")
	if err != nil {
		return err
	}
	l.onClose(func() error { return os.RemoveAll(dir) })

	h := &harness{cfg: cfg, lab: l, sc: sc}
	if err := h.start(); err != nil {
		return err
	}
	results := map[string][]point{}
	all := methods(l, sc, dir)
	for _, m := range all {
		if !contains(cfg.methods, m.name) {
			continue
		}
		pts, err := h.measureMethod(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		results[m.name] = pts
	}
	elapsed := time.Since(start)
	rep := report{cfg: cfg, sc: sc, results: results, methods: all, elapsed: elapsed}
	rep.printTable(os.Stdout)
	rows := rep.rows()
	printRows(os.Stdout, rows)
	if cfg.out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(cfg.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		if err := rep.plot(cfg.out+".png", dir); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "attack: wrote %s and %s.png\n", cfg.out, cfg.out)
	}
	fmt.Fprintf(os.Stderr, "attack: measured in %.0f s\n", elapsed.Seconds())
	return nil
}

// harness holds the running lab's moving parts.
type harness struct {
	cfg    config
	lab    *lab
	sc     *scenario
	gen    *generator
	server *helper
	client *helper
	napi   []int // NAPI thread pids of the protected veth
	softd  int   // ksoftirqd of the protected CPU
}

// start loads the generator and starts the servers and the client.
func (h *harness) start() error {
	l := h.lab
	r := newRand(2)
	var frames [][]byte
	for i, s := range h.sc.Attack {
		dst := proAddr4
		if s.Addr.Is6() {
			dst = proAddr6
		}
		f := frameSpec{srcMAC: l.genMAC, dstMAC: l.proMAC, src: s.Addr, dst: dst,
			proto: 6, srcPort: uint16(1024 + r.IntN(64512)), dstPort: imapsPort, seq: r.Uint32()}
		if i%2 == 1 {
			f.proto, f.dstPort = 17, quicPort
		}
		frames = append(frames, f.build())
	}
	if err := l.gen.Do(func() (err error) {
		h.gen, err = newGenerator(frames, l.genIndex)
		return err
	}); err != nil {
		return err
	}
	l.onClose(func() error { h.gen.Close(); return nil })

	var err error
	if h.server, err = startHelper(l.pro.Name(), protCPU, false, "serve",
		"-tcp", strconv.Itoa(imapsPort), "-udp", strconv.Itoa(quicPort)); err != nil {
		return err
	}
	l.onClose(h.server.stop)
	if line, err := h.server.readLine(10 * time.Second); err != nil || line != "ready" {
		return fmt.Errorf("server did not start: %q %v", line, err)
	}
	// The client runs at a higher priority than the generator it shares a
	// CPU with: what it measures is the protected host, not that CPU.
	if h.client, err = startHelper(l.cli.Name(), outCPU, true, "client",
		"-target", netip.AddrPortFrom(proAddr4, imapsPort).String(),
		"-src", cliAddr4.String()+","+h.sc.GeoClient.String(),
		"-conns", strconv.Itoa(h.cfg.legitConns),
		"-rate", strconv.FormatFloat(h.cfg.legitRate, 'f', -1, 64),
		"-size", strconv.Itoa(legitSize)); err != nil {
		return err
	}
	l.onClose(h.client.stop)
	softd, err := findKernelThreads(fmt.Sprintf("ksoftirqd/%d", protCPU), true)
	if err != nil || len(softd) != 1 {
		return fmt.Errorf("find ksoftirqd/%d: %v", protCPU, err)
	}
	h.softd = softd[0]
	return nil
}

// measureMethod puts m in place, measures every rate, and removes it.
func (h *harness) measureMethod(ctx context.Context, m *method) (pts []point, err error) {
	fmt.Fprintf(os.Stderr, "attack: %s: setting up\n", m.name)
	if err := h.lab.prepareLinks(); err != nil {
		return nil, err
	}
	if err := m.setup(ctx); err != nil {
		return nil, errors.Join(err, m.teardown())
	}
	defer func() {
		if terr := m.teardown(); terr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", terr))
		}
	}()
	// Enabling NAPI (GRO, XDP) may create the thread anew: find and pin it.
	napi, err := findKernelThreads("napi/"+h.lab.proIface+"-", false)
	if err != nil || len(napi) == 0 {
		return nil, fmt.Errorf("find the NAPI thread of %s: %v (threaded NAPI on?)", h.lab.proIface, err)
	}
	// Real-time, as a NIC's interrupt-driven receive preempts tasks on a
	// real host: woken when frames arrive, it runs before the servers and
	// drains the 256-frame ring before it overflows. Overloaded, it leaves
	// the servers the 5% RT throttling keeps back (sched_rt_runtime_us).
	for _, pid := range napi {
		if err := pinTask(pid, protCPU); err != nil {
			return nil, err
		}
		if err := realtime(pid); err != nil {
			return nil, err
		}
	}
	h.napi = napi
	// Let the client's connections settle (an XDP attach resets the ring).
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	var rates []float64
	for _, rate := range h.cfg.rates {
		rates = append(rates, rate)
		for i := 1; rate == unpaced && i < h.cfg.repeats; i++ {
			rates = append(rates, rate)
		}
	}
	for _, rate := range rates {
		p, err := h.measure(ctx, m, rate)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "attack: %-11s %5s: offered %6.2f Mpps, received %6.2f, dropped %6.2f, ring full %6.2f, cpu %.2f cores (napi %.2f, ksoftirqd %.2f, servers %.2f; /proc/stat busy %.2f, softirq %.2f, steal %.2f); legit %5.0f tx/s (p50 %s, p99 %s)\n",
			m.name, rateLabel(rate), p.offered/1e6, p.received/1e6, p.dropped/1e6, p.ringFull/1e6, p.protCores,
			p.napiCores, p.softdCores, p.servCores, p.cpuBusy, p.softirq, p.steal, p.legitTPS, ms(p.p50), ms(p.p99))
		pts = append(pts, p)
		if err := sleep(ctx, 300*time.Millisecond); err != nil { // let queues drain
			return nil, err
		}
	}
	return pts, nil
}

// measure floods at rate (0: no attack) for the warm-up and the window and
// returns the window's rates.
func (h *harness) measure(ctx context.Context, m *method, rate float64) (point, error) {
	var genErr chan error
	if rate != 0 {
		pps := max(rate, 0)
		// Count-limited as well as time-limited: never more than the
		// window's worth at the rate asked for (50 Mpps when unpaced).
		span := (h.cfg.warm + h.cfg.window + time.Second).Seconds()
		if err := h.gen.setRate(pps, uint64(span*max(pps, 50e6)*1.5)); err != nil {
			return point{}, err
		}
		gctx, stop := context.WithTimeout(ctx, h.cfg.warm+h.cfg.window+time.Minute)
		defer stop()
		genErr = make(chan error, 1)
		go func() { genErr <- h.gen.run(gctx, h.lab.gen.Do, outCPU) }()
		defer func() {
			stop()
			if genErr != nil {
				<-genErr
			}
		}()
	}
	if err := sleep(ctx, h.cfg.warm); err != nil {
		return point{}, err
	}
	a, err := h.snapshot(m)
	if err != nil {
		return point{}, err
	}
	if err := sleep(ctx, h.cfg.window); err != nil {
		return point{}, err
	}
	b, err := h.snapshot(m)
	if err != nil {
		return point{}, err
	}
	select {
	case err := <-genErr: // nil channel when there is no attack: never ready
		genErr = nil
		return point{}, fmt.Errorf("generator stopped before the window ended: %v", err)
	default:
	}
	return diff(m.name, rate, a, b), nil
}

// snapshot reads every counter, the fast-moving ones first and together.
func (h *harness) snapshot(m *method) (sample, error) {
	var s sample
	var err error
	s.at = time.Now()
	if s.sent, err = h.gen.Sent(); err != nil {
		return s, err
	}
	if s.rx, s.ringFull, err = h.lab.linkStats(); err != nil {
		return s, err
	}
	for _, pid := range h.napi {
		d, err := taskCPU(pid, pid)
		if err != nil {
			return s, fmt.Errorf("read the NAPI thread's CPU time: %w", err)
		}
		s.napi += d
	}
	if s.softirqd, err = taskCPU(h.softd, h.softd); err != nil {
		return s, err
	}
	if s.server, err = processCPU(h.server.pid()); err != nil {
		return s, fmt.Errorf("read the server's CPU time: %w", err)
	}
	if s.ticks, err = readCPUTicks(protCPU); err != nil {
		return s, err
	}
	if s.dropped, err = m.dropped(); err != nil {
		return s, err
	}
	if s.client, err = h.client.stats(); err != nil {
		return s, err
	}
	return s, nil
}

// helper is a running helper process (attack serve or attack client).
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	lines chan string
}

// startHelper runs this binary with args inside the named namespace,
// pinned to cpu, optionally at a higher priority.
func startHelper(ns string, cpu int, urgent bool, args ...string) (*helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{"netns", "exec", ns, "taskset", "-c", strconv.Itoa(cpu)}
	if urgent {
		argv = append(argv, "nice", "-n", "-10")
	}
	argv = append(append(argv, exe), args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	// Dies with the harness, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h := &helper{cmd: cmd, lines: make(chan string)}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h, nil
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

func (h *helper) readLine(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-h.lines:
		if !ok {
			return "", errors.New("helper exited")
		}
		return line, nil
	case <-time.After(timeout):
		return "", errors.New("helper did not answer")
	}
}

// stats asks the client for its running totals.
func (h *helper) stats() (clientStats, error) {
	var s clientStats
	if _, err := io.WriteString(h.stdin, "\n"); err != nil {
		return s, fmt.Errorf("ask the client: %w", err)
	}
	line, err := h.readLine(5 * time.Second)
	if err != nil {
		return s, fmt.Errorf("client: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return s, fmt.Errorf("client said %q: %w", line, err)
	}
	return s, nil
}

// stop closes the helper's stdin (its signal to exit) and kills it if it
// has not exited within a few seconds.
func (h *helper) stop() error {
	h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostState is what the host's own network namespace and bpffs hold, as
// text, to show nothing was added there.
func hostState() map[string]string {
	st := map[string]string{}
	for name, argv := range map[string][]string{
		"nft ruleset":       {"nft", "list", "ruleset"},
		"iptables raw":      {"iptables", "-t", "raw", "-S"},
		"ip6tables raw":     {"ip6tables", "-t", "raw", "-S"},
		"ipset sets":        {"ipset", "list", "-n"},
		"network namespace": {"ip", "netns", "list"},
		"bpffs":             {"ls", "/sys/fs/bpf"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			out = append(out, []byte(err.Error())...)
		}
		// Only our own names count for namespaces and bpffs: others'
		// tests may come and go meanwhile.
		if name == "network namespace" || name == "bpffs" {
			var mine []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, fmt.Sprintf("%s%d", labPrefix, os.Getpid())) ||
					strings.HasPrefix(line, fmt.Sprintf("%s-%d", labPrefix, os.Getpid())) {
					mine = append(mine, line)
				}
			}
			out = []byte(strings.Join(mine, "\n"))
		}
		st[name] = string(out)
	}
	return st
}

// checkClean compares the host's state with before: this run's
// namespaces and pins must be gone; changes to the host's rules are
// reported (another engineer may have made them).
func checkClean(before map[string]string) error {
	after := hostState()
	var left []string
	for name, was := range before {
		if after[name] == was {
			continue
		}
		if name == "network namespace" || name == "bpffs" {
			left = append(left, fmt.Sprintf("%s: %s", name, after[name]))
			continue
		}
		fmt.Fprintf(os.Stderr, "attack: warning: the host's %s changed during the run (the harness only works inside its namespaces; someone else?)\n", name)
	}
	if len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, "; "))
	}
	fmt.Fprintln(os.Stderr, "attack: cleaned up: no namespace, pin, nft, iptables or ipset state left (checked)")
	return nil
}
