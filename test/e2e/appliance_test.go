package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/test/testenv"
)

// The appliance tests run the real `enforcer` binary, built once per test
// binary: `enforcer run` inside the lab's server namespace, configured by a
// YAML file and a GeoIP database the test writes, and the CLI against its
// admin socket. They use the lab of lab_test.go; the config below makes
// the same verdicts as labPolicy, so its sources table says what to expect.
//
// The daemon is started with `nsenter --net=`, not `ip netns exec`: the
// latter gives the process a private mount namespace (with its own /sys),
// whose bpffs, and the pins on it, would die with the process.

const (
	// effectLimit is how soon a CLI change must be in force in the
	// datapath once the command returned (issue 4: "within a second").
	effectLimit = time.Second
	// probeTimeout bounds one connection attempt of a probe polling for a
	// change: a dropped SYN is retried well before effectLimit.
	probeTimeout = 200 * time.Millisecond
	// daemonTimeout bounds the daemon's start (load, verify, compile,
	// attach) and its exit after a signal.
	daemonTimeout = 20 * time.Second
	// cliTimeout bounds one CLI command.
	cliTimeout = 20 * time.Second
)

// TestMain removes the directory the enforcer binaries were built into.
func TestMain(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// builds are the enforcer binaries built by this test binary, by version.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]func() (string, error)
}

// enforcerBinary builds ./cmd/enforcer with main.version set to version,
// once per test binary, and returns its path.
func enforcerBinary(tb testing.TB, version string) string {
	tb.Helper()
	builds.mu.Lock()
	build, ok := builds.bins[version]
	if !ok {
		if builds.bins == nil {
			builds.bins = map[string]func() (string, error){}
		}
		build = sync.OnceValues(func() (string, error) { return buildEnforcer(version) })
		builds.bins[version] = build
	}
	builds.mu.Unlock()
	path, err := build()
	if err != nil {
		tb.Fatalf("build the enforcer binary: %v", err)
	}
	return path
}

func buildEnforcer(version string) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "enforcer-e2e-bin-")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = dir
	}
	out := filepath.Join(builds.dir, "enforcer-"+version)
	builds.mu.Unlock()
	// go test puts its own toolchain first on PATH.
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, "./cmd/enforcer")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/enforcer in %s: %w\n%s", root, err, msg)
	}
	return out, nil
}

// appliance is one enforcer installation on the lab's server: its config
// file, GeoIP database, state and pin directories, admin socket, and the
// daemon process while it runs.
type appliance struct {
	lab      *lab
	bin      string // the binary the CLI commands run
	config   string
	socket   string
	pinDir   string
	stateDir string
	logPath  string // every daemon run's output, appended
	proc     *daemonProc
}

// daemonProc is a running `enforcer run`.
type daemonProc struct {
	bin  string
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's, once done
}

// applianceOptions vary the lab configuration.
type applianceOptions struct {
	imapPorts []uint16 // the imap service's ports; default tcp 993 (the lab's tcpProtected)
	metrics   string   // metrics.listen inside the server namespace; "" for none
	// extra is appended to the file, right after the smtp service: more
	// services (indented list entries), then top-level sections.
	extra string
}

// mustAppliance writes the configuration and the GeoIP database for l and
// returns the appliance, not yet started. The daemon is killed and the pins
// removed when t ends, and a failed test prints the daemon's log.
func mustAppliance(t *testing.T, l *lab, opts applianceOptions) *appliance {
	t.Helper()
	dir := t.TempDir()
	a := &appliance{
		lab:      l,
		bin:      enforcerBinary(t, "e2e-1"),
		config:   filepath.Join(dir, "enforcer.yaml"),
		socket:   filepath.Join(dir, "admin", "enforcer.sock"),
		pinDir:   mustPinDir(t),
		stateDir: filepath.Join(dir, "state"),
		logPath:  filepath.Join(dir, "daemon.log"),
	}
	geoDB := filepath.Join(dir, "countries.mmdb")
	geoiptest.Write(t, geoDB, labGeoIP(), geoiptest.Options{})
	if len(opts.imapPorts) == 0 {
		opts.imapPorts = []uint16{tcpProtected}
	}
	if err := os.WriteFile(a.config, []byte(a.configYAML(geoDB, opts)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Registered after mustPinDir's cleanup, so it runs before it: the
	// daemon is gone before its pins are removed.
	t.Cleanup(func() {
		if p := a.proc; p != nil {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(a.logPath); err == nil {
				t.Logf("daemon log %s:\n%s", a.logPath, b)
			}
		}
	})
	return a
}

// labGeoIP places each source of the lab in its country: the IPv4 address
// and the IPv6 /48 around it, as labPolicy's country table does.
func labGeoIP() []geoiptest.Entry {
	var es []geoiptest.Entry
	for _, s := range sources {
		if s.country == "" {
			continue
		}
		es = append(es,
			geoiptest.Entry{Prefix: netip.PrefixFrom(s.v4, 32), Record: geoiptest.CountryRecord(s.country)},
			geoiptest.Entry{Prefix: netip.PrefixFrom(s.v6, 48).Masked(), Record: geoiptest.CountryRecord(s.country)})
	}
	return es
}

// configYAML is labPolicy as an enforcer configuration file: imap (tcp/993)
// and quic (udp/443 to the server's main addresses), geofenced to AT, CH
// and DE with the same allowlist; the same deny list. admin (allowlist
// only) and smtp (never filtered) are there for the CLI's refusals.
func (a *appliance) configYAML(geoDB string, opts applianceOptions) string {
	q := strconv.Quote
	ports := make([]string, len(opts.imapPorts))
	for i, p := range opts.imapPorts {
		ports[i] = strconv.Itoa(int(p))
	}
	return fmt.Sprintf(`# written by %s
interfaces:
  - name: %s
    xdp_mode: native
state_dir: %s
bpffs_dir: %s
geoip:
  database: %s
  required: true
log:
  format: text
  level: info
admin:
  socket: %s
  listen: ""
metrics:
  listen: %s
deny:
  - 198.51.100.40/32
  - cidr: "2001:db8:50::/48"
    comment: lab deny list
services:
  - name: imap
    ports: [%s]
    countries: [AT, CH, DE]
    allow: &lab
      - cidr: 203.0.113.0/24
        comment: lab allowlist
      - "2001:db8:10::/48"
  - name: quic
    protocols: [udp]
    ports: [%d]
    destinations: [192.0.2.1/32, "2001:db8::1/128"]
    countries: [AT, CH, DE]
    allow: *lab
  - name: admin
    allow: [203.0.113.0/24]
  - name: smtp
%s`, "test/e2e/appliance_test.go", serverIface, q(a.stateDir), q(a.pinDir), q(geoDB), q(a.socket), q(opts.metrics),
		strings.Join(ports, ", "), udpProtected, opts.extra)
}

// start runs `enforcer run` from bin inside the server namespace and waits
// until it answers on its admin socket with the interface attached.
func (a *appliance) start(t *testing.T, bin string) adminapi.Status {
	t.Helper()
	return a.startVia(t, []string{"nsenter", "--net=" + a.lab.server.Path()}, bin)
}

// startVia is start with the daemon run under via (the command that puts
// it in the server namespace).
func (a *appliance) startVia(t *testing.T, via []string, bin string) adminapi.Status {
	t.Helper()
	if a.proc != nil {
		t.Fatal("start: the daemon is already running")
	}
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== %s: %s run --config %s\n", time.Now().Format(time.StampMicro), bin, a.config)
	cmd := exec.Command(via[0], append(via[1:], bin, "run", "--config", a.config)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the daemon: %v", err)
	}
	p := &daemonProc{bin: bin, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	a.proc = p

	deadline := time.Now().Add(daemonTimeout)
	for {
		st, err := a.status(t)
		if err == nil {
			if len(st.Interfaces) != 1 || st.Interfaces[0].Error != "" || st.Interfaces[0].Mode != "native" {
				t.Fatalf("daemon up, but the interfaces are %+v; want %s attached native", st.Interfaces, serverIface)
			}
			return st
		}
		select {
		case <-p.done:
			a.proc = nil
			t.Fatalf("the daemon exited before it was ready: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not answer `enforcer status` within %v: %v", daemonTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// stop sends sig to the daemon and waits for it to exit: with SIGTERM it
// must exit cleanly, with SIGKILL it dies of it.
func (a *appliance) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p := a.proc
	if p == nil {
		t.Fatal("stop: the daemon is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal the daemon: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(daemonTimeout):
		t.Fatalf("the daemon did not exit within %v of %v", daemonTimeout, sig)
	}
	a.proc = nil
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case sig == syscall.SIGKILL && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL):
		t.Errorf("daemon after SIGKILL: %v, want killed by it", p.cmd.ProcessState)
	case sig != syscall.SIGKILL && !p.cmd.ProcessState.Success():
		t.Errorf("daemon after %v: %v, want a clean exit", sig, p.cmd.ProcessState)
	}
}

// cliResult is what one CLI command did.
type cliResult struct {
	stdout, stderr string
	err            error // nil for exit status 0
}

// runCLI runs the enforcer binary bin with args, from the host's network
// namespace: the admin socket is a file, reachable from anywhere.
func runCLI(t *testing.T, bin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliResult{stdout.String(), stderr.String(), err}
}

// cli runs the CLI against this appliance (--config and --socket added).
func (a *appliance) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, a.bin, append(slices.Clone(args), "--config", a.config, "--socket", a.socket)...)
}

// mustCLI is cli for commands that must succeed; it returns stdout.
func (a *appliance) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	r := a.cli(t, args...)
	if r.err != nil {
		t.Fatalf("enforcer %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r.stdout
}

// cliJSON runs a read command with --json and decodes its output into v.
func (a *appliance) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := a.mustCLI(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("enforcer %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// status asks the daemon through `enforcer status --json`.
func (a *appliance) status(t *testing.T) (adminapi.Status, error) {
	t.Helper()
	var st adminapi.Status
	r := a.cli(t, "status", "--json")
	if r.err != nil {
		return st, fmt.Errorf("%v: %s", r.err, strings.TrimSpace(r.stderr))
	}
	return st, json.Unmarshal([]byte(r.stdout), &st)
}

func (a *appliance) mustStatus(t *testing.T) adminapi.Status {
	t.Helper()
	st, err := a.status(t)
	if err != nil {
		t.Fatalf("enforcer status: %v", err)
	}
	return st
}

// statKey is one row of `enforcer stats`.
type statKey struct{ service, verdict, reason string }

// stats reads the datapath counters through `enforcer stats --json`.
func (a *appliance) stats(t *testing.T) map[statKey]uint64 {
	t.Helper()
	var s adminapi.Stats
	a.cliJSON(t, &s, "stats")
	m := map[statKey]uint64{}
	for _, r := range s.Rows {
		m[statKey{r.Service, r.Verdict, r.Reason}] = r.Packets
	}
	return m
}

// waitStats polls the counters until those of service have grown by at
// least want since before, and returns service's growth.
func (a *appliance) waitStats(t *testing.T, service string, before, want map[statKey]uint64) map[statKey]uint64 {
	t.Helper()
	var got map[statKey]uint64
	waitFor(t, "the datapath counts the packets", func() error {
		now := a.stats(t)
		got = map[statKey]uint64{}
		for k, v := range now {
			if k.service == service && v != before[k] {
				got[k] = v - before[k]
			}
		}
		for k, w := range want {
			if got[k] < w {
				return fmt.Errorf("%s %s/%s: %d packets counted, want %d", k.service, k.verdict, k.reason, got[k], w)
			}
		}
		return nil
	})
	return got
}

// sourceNamed is the lab source called name.
func sourceNamed(tb testing.TB, name string) source {
	tb.Helper()
	for _, s := range sources {
		if s.name == name {
			return s
		}
	}
	tb.Fatalf("no lab source %q", name)
	return source{}
}

// tcpPasses is a probe: one exchange with dst from src completes.
func (l *lab) tcpPasses(src netip.Addr, dst netip.AddrPort) error {
	return l.tcpExchange(src, dst, probeTimeout)
}

// tcpDropped is a probe: a connection from src to dst times out, its SYN
// dropped (in the lab nothing else loses packets).
func (l *lab) tcpDropped(src netip.Addr, dst netip.AddrPort) error {
	err := l.tcpExchange(src, dst, dropTimeout)
	switch {
	case err == nil:
		return fmt.Errorf("a connection from %v to %v completed", src, dst)
	case isTimeout(err):
		return nil
	}
	return err
}

// inForceWithin polls probe from the moment a CLI command returned (since)
// until it holds, and fails unless the attempt that succeeded started
// within effectLimit of since. It returns that delay.
func inForceWithin(t *testing.T, what string, since time.Time, probe func() error) time.Duration {
	t.Helper()
	for {
		sent := time.Now()
		err := probe()
		if err == nil {
			took := sent.Sub(since)
			if took > effectLimit {
				t.Errorf("%s: in force %v after the command returned, want within %v", what, took, effectLimit)
			}
			return took
		}
		if time.Since(since) > waitTimeout {
			t.Fatalf("%s: not in force %v after the command returned: %v", what, waitTimeout, err)
		}
	}
}

// TestApplianceVerdicts runs the daemon on the lab configuration and shows
// that the file's policy is what the datapath enforces (traffic, stats,
// metrics and `check` agree), that `allow add`, `country add` and `deny
// add` are in force within a second of the command returning, that an
// allowlist entry added with --expires goes within a second of its expiry,
// and that
// they survive a restart of the daemon (SIGTERM, start again).
func TestApplianceVerdicts(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter", "curl")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{metrics: "127.0.0.1:9740"})
	st := a.start(t, a.bin)
	if st.Version != "e2e-1" || st.GeoIP.Error != "" || st.Table.Services != 3 {
		t.Errorf("status: version %q, geoip %+v, %d services; want e2e-1, the lab database, 3 enforced services (imap, quic, admin)", st.Version, st.GeoIP, st.Table.Services)
	}
	if x := l.xdp(t); x == nil || x.ProgId != st.Program.ID || x.AttachMode != xdpAttachedDrv {
		t.Fatalf("%s has XDP %+v; status says program %d: want it attached natively", serverIface, x, st.Program.ID)
	}

	t.Run("config", func(t *testing.T) {
		const datagrams = 3
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				before := a.stats(t)
				arrived := l.udpRound(t, f, datagrams)
				want := map[statKey]uint64{}
				for _, s := range sources {
					want[statKey{"quic", s.action.String(), s.reason.String()}] += datagrams
				}
				got := a.waitStats(t, "quic", before, want)
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(statKey{})); diff != "" {
					t.Errorf("quic counters (-want +got):\n%s", diff)
				}
				checkNoneArrived(t, "datagrams", f, arrived, l.udp.received.snapshot())

				before = a.stats(t)
				accepted := l.tcpRound(t, f, 1, 1)
				want = map[statKey]uint64{}
				for _, s := range sources {
					if !s.pass() {
						want[statKey{"imap", s.action.String(), s.reason.String()}]++
					}
				}
				a.waitStats(t, "imap", before, want)
				checkNoneArrived(t, "connections", f, accepted, l.tcp.accepted.snapshot())

				// Unprotected ports and destinations are open to every source.
				l.openRound(t, f, datagrams)
			})
		}
		t.Run("check", func(t *testing.T) {
			for _, f := range families {
				for _, s := range sources {
					var res adminapi.CheckResult
					a.cliJSON(t, &res, "check", s.addr(f).String(), "--service", "imap")
					if res.Verdict != s.action.String() || res.Reason != s.reason.String() || res.Service != "imap" {
						t.Errorf("check %v (%s): %s/%s on %q (%s), want %v/%v on imap", s.addr(f), s.name, res.Verdict, res.Reason, res.Service, res.Rule, s.action, s.reason)
					}
				}
			}
		})
		t.Run("metrics", func(t *testing.T) {
			// The scrape and `enforcer stats` read the same counters.
			stats := a.stats(t)
			out, err := exec.Command("nsenter", "--net="+l.server.Path(), "curl", "-sS", "--max-time", "5", "http://127.0.0.1:9740/metrics").Output()
			if err != nil {
				t.Fatalf("scrape the metrics: %v", err)
			}
			for _, s := range sources {
				k := statKey{"quic", s.action.String(), s.reason.String()}
				line := fmt.Sprintf("enforcer_packets_total{reason=%q,service=%q,verdict=%q} %d", k.reason, k.service, k.verdict, stats[k])
				if !strings.Contains(string(out), line+"\n") {
					t.Errorf("metrics lack %q", line)
				}
			}
			if !strings.Contains(string(out), "enforcer_geoip_build_timestamp_seconds ") {
				t.Errorf("metrics lack the GeoIP build time")
			}
		})
	})
	if t.Failed() {
		return
	}

	v4 := families[0]
	imap := netip.AddrPortFrom(v4.server, tcpProtected)
	quic := netip.AddrPortFrom(v4.server, udpProtected)
	noCountry := sourceNamed(t, "no-country").v4    // dropped: no country
	brazil := sourceNamed(t, "other-country").v4    // dropped: BR not in the set
	germany := sourceNamed(t, "allowed-country").v4 // passes: DE
	t.Run("changes", func(t *testing.T) {
		t.Run("allow add", func(t *testing.T) {
			if err := l.tcpDropped(noCountry, imap); err != nil {
				t.Fatalf("before: %v", err)
			}
			a.mustCLI(t, "allow", "add", "198.51.100.30/32", "--service", "imap", "--comment", "e2e allow")
			took := inForceWithin(t, "allow add", time.Now(), func() error { return l.tcpPasses(noCountry, imap) })
			t.Logf("in force %v after the command returned", took)
		})
		t.Run("allow add --expires", func(t *testing.T) {
			// In force at once, then dropped again when it expires, with
			// no command: the daemon's expiry timer re-applies the policy.
			if err := l.tcpDropped(brazil, imap); err != nil {
				t.Fatalf("before: %v", err)
			}
			const ttl = 3 * time.Second
			a.mustCLI(t, "allow", "add", brazil.String()+"-"+brazil.String(), "--service", "imap", "--expires", ttl.String(), "--comment", "e2e temporary")
			added := time.Now()
			inForceWithin(t, "allow add --expires", added, func() error { return l.tcpPasses(brazil, imap) })
			// Wait for the daemon's verdict to turn (it turns after the
			// datapath's), not with connections: one opened just before
			// the switch hangs rather than fails, and says nothing.
			expiry := added.Add(ttl)
			for {
				var res adminapi.CheckResult
				a.cliJSON(t, &res, "check", brazil.String(), "--service", "imap")
				if res.Verdict == "drop" {
					break
				}
				if time.Since(expiry) > waitTimeout {
					t.Fatalf("%v after the expiry, check says %+v; want drop", time.Since(expiry), res)
				}
				time.Sleep(20 * time.Millisecond) // poll interval
			}
			took := time.Since(expiry)
			switch {
			case took < -time.Second:
				t.Errorf("the entry was removed %v before its expiry", -took)
			case took > effectLimit:
				t.Errorf("the entry was removed %v after its expiry, want within %v", took, effectLimit)
			}
			t.Logf("removed %v after the expiry", took)
			if err := l.tcpDropped(brazil, imap); err != nil {
				t.Errorf("after the expiry: %v", err)
			}
			var allow []adminapi.Entry
			a.cliJSON(t, &allow, "allow", "list", "--service", "imap")
			if hasEntry(allow, netip.PrefixFrom(brazil, 32).String(), "cli", "e2e temporary") {
				t.Errorf("allow list after the expiry still has %v: %+v", brazil, allow)
			}
		})
		t.Run("country add", func(t *testing.T) {
			if err := l.tcpDropped(brazil, imap); err != nil {
				t.Fatalf("before: %v", err)
			}
			a.mustCLI(t, "country", "add", "BR", "--service", "imap")
			took := inForceWithin(t, "country add", time.Now(), func() error { return l.tcpPasses(brazil, imap) })
			t.Logf("in force %v after the command returned", took)
		})
		t.Run("deny add", func(t *testing.T) {
			if err := l.tcpPasses(germany, imap); err != nil {
				t.Fatalf("before: %v", err)
			}
			a.mustCLI(t, "deny", "add", "198.51.100.10", "--comment", "e2e deny")
			took := inForceWithin(t, "deny add", time.Now(), func() error { return l.tcpDropped(germany, imap) })
			t.Logf("in force %v after the command returned", took)
			// The deny list applies to every protected service.
			const datagrams = 5
			before, arrived := a.stats(t), l.udp.received.snapshot()
			if err := l.sendUDP(germany, quic, datagrams); err != nil {
				t.Fatal(err)
			}
			a.waitStats(t, "quic", before, map[statKey]uint64{{"quic", "drop", "deny"}: datagrams})
			if n := l.udp.received.snapshot()[germany] - arrived[germany]; n != 0 {
				t.Errorf("%d datagrams from the denied %v reached udp/%d, want none", n, germany, udpProtected)
			}
		})
	})
	if t.Failed() {
		return
	}

	t.Run("restart", func(t *testing.T) {
		before := a.mustStatus(t)
		a.stop(t, syscall.SIGTERM)
		if x := l.xdp(t); x == nil || x.ProgId != before.Program.ID {
			t.Errorf("with the daemon stopped, %s has XDP %+v; want program %d still attached", serverIface, x, before.Program.ID)
		}
		after := a.start(t, a.bin)
		if after.Revision != before.Revision || after.Program.ID == before.Program.ID {
			t.Errorf("after the restart: state revision %d, program %d; want revision %d and a new program (was %d)", after.Revision, after.Program.ID, before.Revision, before.Program.ID)
		}

		var allow, deny []adminapi.Entry
		a.cliJSON(t, &allow, "allow", "list", "--service", "imap")
		a.cliJSON(t, &deny, "deny", "list")
		var countries []string
		a.cliJSON(t, &countries, "country", "list", "--service", "imap")
		if !hasEntry(allow, "198.51.100.30/32", "cli", "e2e allow") || !hasEntry(allow, "203.0.113.0/24", "config", "lab allowlist") {
			t.Errorf("allow list --service imap after the restart: %+v; want the config's 203.0.113.0/24 and the CLI's 198.51.100.30/32", allow)
		}
		if !hasEntry(deny, "198.51.100.10/32", "cli", "e2e deny") || !hasEntry(deny, "198.51.100.40/32", "config", "") {
			t.Errorf("deny list after the restart: %+v; want the config's 198.51.100.40/32 and the CLI's 198.51.100.10/32", deny)
		}
		slices.Sort(countries)
		if want := []string{"AT", "BR", "CH", "DE"}; !slices.Equal(countries, want) {
			t.Errorf("country list --service imap after the restart: %v, want %v", countries, want)
		}

		// The restarted daemon compiled its table afresh from the file
		// and the state store: the changes are in it.
		for _, c := range []struct {
			src             netip.Addr
			verdict, reason string
		}{{noCountry, "pass", "allowlist"}, {brazil, "pass", "country"}, {germany, "drop", "deny"}} {
			var res adminapi.CheckResult
			a.cliJSON(t, &res, "check", c.src.String(), "--service", "imap")
			if res.Verdict != c.verdict || res.Reason != c.reason {
				t.Errorf("check %v after the restart: %s/%s (%s), want %s/%s", c.src, res.Verdict, res.Reason, res.Rule, c.verdict, c.reason)
			}
		}
		for _, src := range []netip.Addr{noCountry, brazil} {
			if err := l.tcpPasses(src, imap); err != nil {
				t.Errorf("after the restart, %v to tcp/%d: %v", src, tcpProtected, err)
			}
		}
		if err := l.tcpDropped(germany, imap); err != nil {
			t.Errorf("after the restart, the denied %v: %v", germany, err)
		}
	})
}

func hasEntry(es []adminapi.Entry, cidr, source, comment string) bool {
	return slices.ContainsFunc(es, func(e adminapi.Entry) bool {
		return e.CIDR == cidr && e.Source == source && e.Comment == comment
	})
}

// udpStream sends one datagram from each of its sources to udp/443 of the
// server every millisecond, until halted.
type udpStream struct {
	srcs []netip.Addr
	sent []atomic.Int64
	stop chan struct{}
	done chan struct{}
	halt func() // idempotent; waits for the sender
	err  error  // the sender's, after halt
}

func (l *lab) startUDPStream(t *testing.T, srcs ...netip.Addr) *udpStream {
	t.Helper()
	s := &udpStream{srcs: srcs, sent: make([]atomic.Int64, len(srcs)), stop: make(chan struct{}), done: make(chan struct{})}
	conns := make([]*net.UDPConn, len(srcs))
	// Sockets keep the namespace they were opened in.
	err := l.client.Do(func() error {
		for i, src := range srcs {
			dst := families[0].server
			if src.Is6() {
				dst = families[1].server
			}
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, udpProtected)))
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		t.Fatalf("open the stream's sockets: %v", err)
	}
	go func() {
		defer close(s.done)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		msg := make([]byte, udpPayload)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			for i, c := range conns {
				if _, err := c.Write(msg); err != nil {
					s.err = fmt.Errorf("send from %v: %w", srcs[i], err)
					return
				}
				s.sent[i].Add(1)
			}
		}
	}()
	s.halt = sync.OnceFunc(func() { close(s.stop); <-s.done })
	t.Cleanup(s.halt)
	return s
}

// mustGrowReadBuffer gives the lab's udp/443 server a receive buffer that
// holds seconds of a stream: after native XDP on veth each small datagram
// costs a page of buffer, so the default (rmem_default, ~50 of them) could
// overflow while the reader waits for a core, and a datagram lost there
// would look like one the datapath dropped.
func (l *lab) mustGrowReadBuffer(t *testing.T) {
	t.Helper()
	rc, err := l.udp.pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	}); err != nil || serr != nil {
		t.Fatalf("grow the udp/%d server's receive buffer: %v %v", udpProtected, err, serr)
	}
}

// between is how many samples were taken from start to end.
func (w *xdpWatch) between(start, end time.Time) int {
	n := 0
	for _, at := range w.times {
		if !at.Before(start) && !at.After(end) {
			n++
		}
	}
	return n
}

// counts is how many datagrams each source sent so far.
func (s *udpStream) counts() map[netip.Addr]int {
	m := map[netip.Addr]int{}
	for i, a := range s.srcs {
		m[a] = int(s.sent[i].Load())
	}
	return m
}

// TestApplianceSurvivesSIGKILL kills the daemon with SIGKILL while a
// stream of datagrams from allowed and disallowed sources flows: while no
// daemon runs, and after it is back, the allowed datagrams keep arriving
// and not one disallowed datagram reaches the server.
func TestApplianceSurvivesSIGKILL(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	st := a.start(t, a.bin)

	de, br, none := sourceNamed(t, "allowed-country"), sourceNamed(t, "other-country"), sourceNamed(t, "no-country")
	allowed := []netip.Addr{de.v4, de.v6}
	disallowed := []netip.Addr{br.v4, none.v6}
	l.mustGrowReadBuffer(t)
	statsBefore, recvBefore := a.stats(t), l.udp.received.snapshot()
	stream := l.startUDPStream(t, append(slices.Clone(allowed), disallowed...)...)

	// arrivedSince is how many datagrams from src the server received
	// since the snapshot then.
	arrivedSince := func(src netip.Addr, then map[netip.Addr]int) int {
		return l.udp.received.snapshot()[src] - then[src]
	}
	waitFor(t, "the stream flows", func() error {
		for _, src := range allowed {
			if n := arrivedSince(src, recvBefore); n < 20 {
				return fmt.Errorf("%d datagrams from %v arrived", n, src)
			}
		}
		return nil
	})

	a.stop(t, syscall.SIGKILL)
	recvAtKill, sentAtKill := l.udp.received.snapshot(), stream.counts()

	t.Run("no daemon", func(t *testing.T) {
		r := a.cli(t, "status")
		if r.err == nil || !strings.Contains(r.stderr, "not running") {
			t.Errorf("status with the daemon killed: %v, %q; want a failure saying it is not running", r.err, r.stderr)
		}
		if x := l.xdp(t); x == nil || x.ProgId != st.Program.ID {
			t.Errorf("with the daemon killed, %s has XDP %+v; want program %d", serverIface, x, st.Program.ID)
		}
		// Both kinds of traffic go on while no daemon runs.
		waitFor(t, "datagrams flow with no daemon", func() error {
			sent := stream.counts()
			for _, src := range allowed {
				if n := arrivedSince(src, recvAtKill); n < 100 {
					return fmt.Errorf("%d datagrams from %v arrived since the kill", n, src)
				}
			}
			for _, src := range disallowed {
				if n := sent[src] - sentAtKill[src]; n < 100 {
					return fmt.Errorf("%d datagrams sent from %v since the kill", n, src)
				}
			}
			return nil
		})
		imap := netip.AddrPortFrom(families[0].server, tcpProtected)
		if err := l.tcpPasses(de.v4, imap); err != nil {
			t.Errorf("allowed %v to tcp/%d with no daemon: %v", de.v4, tcpProtected, err)
		}
		if err := l.tcpDropped(br.v4, imap); err != nil {
			t.Errorf("disallowed %v to tcp/%d with no daemon: %v", br.v4, tcpProtected, err)
		}
		for _, src := range disallowed {
			if n := arrivedSince(src, recvBefore); n != 0 {
				t.Errorf("%d datagrams from the disallowed %v reached the server", n, src)
			}
		}
	})

	sentAtRestart := stream.counts()
	a.start(t, a.bin)
	recvAtRestart := l.udp.received.snapshot()
	waitFor(t, "datagrams flow after the restart", func() error {
		for _, src := range allowed {
			if n := arrivedSince(src, recvAtRestart); n < 50 {
				return fmt.Errorf("%d datagrams from %v arrived since the restart", n, src)
			}
		}
		return nil
	})
	stream.halt()
	if stream.err != nil {
		t.Fatal(stream.err)
	}
	sent := stream.counts()
	var window []string
	for _, src := range disallowed {
		window = append(window, fmt.Sprintf("%v: %d", src, sentAtRestart[src]-sentAtKill[src]))
	}
	t.Logf("disallowed datagrams sent while no daemon ran: %s", strings.Join(window, ", "))

	// Every datagram has been judged once all the allowed ones arrived
	// and the counters hold every disallowed one: none can arrive later.
	waitFor(t, "every allowed datagram arrives", func() error {
		for _, src := range allowed {
			if n := arrivedSince(src, recvBefore); n != sent[src] {
				return fmt.Errorf("%d of %d datagrams from %v arrived", n, sent[src], src)
			}
		}
		return nil
	})
	want := map[statKey]uint64{
		{"quic", "pass", "country"}:    uint64(sent[de.v4] + sent[de.v6]),
		{"quic", "drop", "not-in-set"}: uint64(sent[br.v4]),
		{"quic", "drop", "no-country"}: uint64(sent[none.v6]),
	}
	got := a.waitStats(t, "quic", statsBefore, want)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(statKey{})); diff != "" {
		t.Errorf("quic counters over the kill and restart (-want +got):\n%s", diff)
	}
	for _, src := range disallowed {
		if n := arrivedSince(src, recvBefore); n != 0 {
			t.Errorf("%d of %d datagrams from the disallowed %v reached the server", n, sent[src], src)
		}
	}
}

// xdpWatch samples the XDP program on the server's interface through
// netlink, as fast as it can, until halted.
type xdpWatch struct {
	samples, missing int
	times            []time.Time    // when each sample was taken
	progs            map[uint32]int // samples by program id
	err              error          // netlink's, after halt
	stop, done       chan struct{}
	halt             func() // idempotent; waits for the sampler
}

func (l *lab) watchXDP(t *testing.T) *xdpWatch {
	t.Helper()
	// A handle of our own: netlink handles are not for concurrent use.
	var h *netlink.Handle
	if err := l.server.Do(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w := &xdpWatch{progs: map[uint32]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer h.Close()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			ln, err := h.LinkByName(serverIface)
			if err != nil {
				w.err = err
				return
			}
			w.samples++
			w.times = append(w.times, time.Now())
			if x := ln.Attrs().Xdp; x == nil || !x.Attached {
				w.missing++
			} else {
				w.progs[x.ProgId]++
			}
			time.Sleep(100 * time.Microsecond) // sampling interval, leaves the cores to the daemon
		}
	}()
	w.halt = sync.OnceFunc(func() { close(w.stop); <-w.done })
	t.Cleanup(w.halt)
	return w
}

// TestApplianceUpgradeAndDetach replaces the running daemon with a new
// build of the binary while a disallowed source streams datagrams and
// netlink is sampled throughout: the interface always has a program, not
// one disallowed datagram arrives, and afterwards a new program runs in the
// same pinned link. Then `enforcer detach` removes everything: pins,
// link, programs and maps.
func TestApplianceUpgradeAndDetach(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	newBin := enforcerBinary(t, "e2e-2")
	old := a.start(t, a.bin)
	pins, err := filepath.Glob(filepath.Join(a.pinDir, "link_"+serverIface+"@*"))
	if err != nil || len(pins) != 1 {
		t.Fatalf("pinned links for %s in %s: %v (%v), want one", serverIface, a.pinDir, pins, err)
	}
	linkBefore := pinnedLink(t, pins[0])
	if uint32(linkBefore.Program) != old.Program.ID {
		t.Fatalf("pinned link runs program %d, status says %d", linkBefore.Program, old.Program.ID)
	}

	allowed := sourceNamed(t, "allowlisted").v4
	disallowed := []netip.Addr{sourceNamed(t, "other-country").v4, sourceNamed(t, "deny-listed").v6}
	l.mustGrowReadBuffer(t)
	statsBefore, recvBefore := a.stats(t), l.udp.received.snapshot()
	stream := l.startUDPStream(t, append([]netip.Addr{allowed}, disallowed...)...)
	waitFor(t, "the stream flows", func() error {
		if n := l.udp.received.snapshot()[allowed] - recvBefore[allowed]; n < 20 {
			return fmt.Errorf("%d datagrams from %v arrived", n, allowed)
		}
		return nil
	})

	watch := l.watchXDP(t)
	t0 := time.Now()
	a.stop(t, syscall.SIGTERM)
	stopped := time.Since(t0)
	upgraded := a.start(t, newBin)
	switched := time.Since(t0)
	tReady := t0.Add(switched)
	// Keep watching while the new daemon settles.
	recvUp := l.udp.received.snapshot()
	waitFor(t, "datagrams flow after the upgrade", func() error {
		if n := l.udp.received.snapshot()[allowed] - recvUp[allowed]; n < 50 {
			return fmt.Errorf("%d datagrams from %v arrived since the upgrade", n, allowed)
		}
		return nil
	})
	watch.halt()
	stream.halt()
	if stream.err != nil || watch.err != nil {
		t.Fatalf("stream: %v; netlink watch: %v", stream.err, watch.err)
	}
	inSwitch := watch.between(t0, tReady)
	t.Logf("old daemon stopped after %v, new one ready after %v; %d netlink samples (%d from stop to ready), programs seen %v",
		stopped.Round(time.Millisecond), switched.Round(time.Millisecond), watch.samples, inSwitch, watch.progs)

	t.Run("no window", func(t *testing.T) {
		if watch.missing != 0 {
			t.Errorf("%d of %d netlink samples found no XDP program on %s during the upgrade, want none", watch.missing, watch.samples, serverIface)
		}
		if inSwitch < 20 {
			t.Errorf("only %d netlink samples from the old daemon's stop to the new one's readiness; too few to show there was no gap", inSwitch)
		}
		for id := range watch.progs {
			if id != old.Program.ID && id != upgraded.Program.ID {
				t.Errorf("during the upgrade %s ran program %d, neither the old %d nor the new %d", serverIface, id, old.Program.ID, upgraded.Program.ID)
			}
		}
		sent := stream.counts()
		waitFor(t, "every allowed datagram arrives", func() error {
			if n := l.udp.received.snapshot()[allowed] - recvBefore[allowed]; n != sent[allowed] {
				return fmt.Errorf("%d of %d datagrams from %v arrived", n, sent[allowed], allowed)
			}
			return nil
		})
		a.waitStats(t, "quic", statsBefore, map[statKey]uint64{
			{"quic", "drop", "not-in-set"}: uint64(sent[disallowed[0]]),
			{"quic", "drop", "deny"}:       uint64(sent[disallowed[1]]),
		})
		for _, src := range disallowed {
			if n := l.udp.received.snapshot()[src] - recvBefore[src]; n != 0 {
				t.Errorf("%d of %d datagrams from the disallowed %v reached the server", n, sent[src], src)
			}
		}
	})

	t.Run("new program, same link", func(t *testing.T) {
		if upgraded.Version != "e2e-2" || upgraded.Program.ID == old.Program.ID {
			t.Errorf("after the upgrade: version %q, program %d; want e2e-2 and a program other than %d", upgraded.Version, upgraded.Program.ID, old.Program.ID)
		}
		linkAfter := pinnedLink(t, pins[0])
		if linkAfter.ID != linkBefore.ID || uint32(linkAfter.Program) != upgraded.Program.ID {
			t.Errorf("pinned link after the upgrade: link %d running program %d; want link %d running program %d", linkAfter.ID, linkAfter.Program, linkBefore.ID, upgraded.Program.ID)
		}
		if x := l.xdp(t); x == nil || x.ProgId != upgraded.Program.ID || x.AttachMode != xdpAttachedDrv {
			t.Errorf("%s has XDP %+v, want program %d attached natively", serverIface, x, upgraded.Program.ID)
		}
		waitGone(t, fmt.Sprintf("the old program %d", old.Program.ID), func() error {
			return closeIfOpen(ebpf.NewProgramFromID(ebpf.ProgramID(old.Program.ID)))
		})
	})
	if t.Failed() {
		return
	}

	t.Run("detach", func(t *testing.T) {
		prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(upgraded.Program.ID))
		if err != nil {
			t.Fatalf("open the running program: %v", err)
		}
		info, err := prog.Info()
		prog.Close()
		if err != nil {
			t.Fatal(err)
		}
		mapIDs, _ := info.MapIDs()
		if len(mapIDs) == 0 {
			t.Fatal("the running program reports no maps")
		}

		r := a.cli(t, "detach")
		if r.err == nil || !strings.Contains(r.stderr, "the daemon is running; stop it first") {
			t.Errorf("detach with the daemon running: %v, %q; want it refused", r.err, r.stderr)
		}
		if x := l.xdp(t); x == nil || x.ProgId != upgraded.Program.ID {
			t.Fatalf("a refused detach left %s with XDP %+v", serverIface, x)
		}

		a.stop(t, syscall.SIGTERM)
		if out := a.mustCLI(t, "detach"); !strings.Contains(out, "detached") {
			t.Errorf("detach said %q", out)
		}
		if _, err := os.Stat(a.pinDir); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(a.pinDir)
			t.Errorf("pin directory %s left behind (stat: %v, entries: %v)", a.pinDir, err, entries)
		}
		if x := l.xdp(t); x != nil {
			t.Errorf("after detach %s still has XDP %+v", serverIface, x)
		}
		waitGone(t, fmt.Sprintf("link %d", linkBefore.ID), func() error { return closeIfOpen(link.NewFromID(linkBefore.ID)) })
		waitGone(t, fmt.Sprintf("program %d", upgraded.Program.ID), func() error {
			return closeIfOpen(ebpf.NewProgramFromID(ebpf.ProgramID(upgraded.Program.ID)))
		})
		for _, id := range mapIDs {
			waitGone(t, fmt.Sprintf("map %d", id), func() error { return closeIfOpen(ebpf.NewMapFromID(id)) })
		}
		// Nothing guards the ports any more.
		brazil := sourceNamed(t, "other-country").v4
		if err := l.tcpPasses(brazil, netip.AddrPortFrom(families[0].server, tcpProtected)); err != nil {
			t.Errorf("after detach, %v to tcp/%d: %v; want it open", brazil, tcpProtected, err)
		}
		if r := a.cli(t, "detach"); r.err != nil {
			t.Errorf("a second detach: %v %s; want nothing to do, and success", r.err, r.stderr)
		}
	})
}

// closeIfOpen turns an open-by-id result into "still there" (nil) or the
// error that says it is gone.
func closeIfOpen[T interface{ Close() error }](obj T, err error) error {
	if err != nil {
		return err
	}
	obj.Close()
	return nil
}

// waitGone polls open (nil while the kernel object still exists) until it
// fails with ErrNotExist. The kernel releases a program's maps after an
// RCU grace period, so the last ones go a moment after the detach.
func waitGone(t *testing.T, what string, open func() error) {
	t.Helper()
	waitFor(t, what+" is freed", func() error {
		err := open()
		if err == nil {
			return errors.New("it still exists")
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open by id: %v, want ErrNotExist", err)
		}
		return nil
	})
}

// TestApplianceCLIErrors gives every command bad input against a running
// daemon: each exits non-zero with a message naming the problem, and none
// changes the state.
func TestApplianceCLIErrors(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	before := a.start(t, a.bin)
	missing := filepath.Join(t.TempDir(), "no", "enforcer.sock")

	tests := []struct {
		name string
		args []string
		want string // in stderr
		// raw runs args as given, without this appliance's --config and
		// --socket.
		raw bool
	}{
		{"no command", nil, "no command given; run 'enforcer --help'", true},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, true},
		{"unknown subcommand", []string{"allow", "frobnicate"}, `allow: unknown command "frobnicate"`, true},
		{"unknown flag", []string{"status", "--bogus"}, "unknown flag: --bogus", false},
		{"unknown flag on a group", []string{"allow", "--bogus"}, "unknown flag --bogus", true},
		{"allow add unknown service", []string{"allow", "add", "192.0.2.0/24", "--service", "nosuch"}, `no service "nosuch"; the services are: imap, quic, admin, smtp`, false},
		{"allow add bad CIDR", []string{"allow", "add", "10.0.0.300/8", "--service", "imap"}, `"10.0.0.300/8" is not a CIDR prefix`, false},
		{"allow add host bits", []string{"allow", "add", "10.0.0.1/8", "--service", "imap"}, `"10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`, false},
		{"allow add second argument bad", []string{"allow", "add", "192.0.2.0/24", "nonsense", "--service", "imap"}, `argument 2: "nonsense" is not a CIDR prefix`, false},
		{"allow add missing service", []string{"allow", "add", "192.0.2.0/24"}, "--service is required", false},
		{"allow add no args", []string{"allow", "add", "--service", "imap"}, "give at least one CIDR", false},
		{"allow add smtp", []string{"allow", "add", "192.0.2.0/24", "--service", "smtp"}, `service "smtp" is never enforced`, false},
		{"allow remove config entry", []string{"allow", "remove", "203.0.113.0/24", "--service", "imap"}, "203.0.113.0/24 comes from " + a.config + "; remove it there", false},
		{"allow list missing service", []string{"allow", "list"}, "--service is required", false},
		{"allow list unknown service", []string{"allow", "list", "--service", "nosuch"}, `no service "nosuch"`, false},
		{"deny add bad CIDR", []string{"deny", "add", "not-an-address"}, `"not-an-address" is not a CIDR prefix or address`, false},
		{"deny add host bits", []string{"deny", "add", "2001:db8::1/32"}, "has host bits set; did you mean 2001:db8::/32?", false},
		{"deny add no args", []string{"deny", "add"}, "give at least one CIDR", false},
		{"deny remove config entry", []string{"deny", "remove", "198.51.100.40/32"}, "198.51.100.40/32 comes from " + a.config, false},
		{"country add bad code", []string{"country", "add", "GER", "--service", "imap"}, `"GER" is not a country code`, false},
		{"country add digits", []string{"country", "add", "D1", "--service", "imap"}, `"D1" is not a country code`, false},
		{"country add missing service", []string{"country", "add", "DE"}, "--service is required", false},
		{"country add unknown service", []string{"country", "add", "DE", "--service", "nosuch"}, `no service "nosuch"`, false},
		{"country add not geofenced", []string{"country", "add", "DE", "--service", "admin"}, `service "admin" is not geofenced`, false},
		{"country add no args", []string{"country", "add", "--service", "imap"}, "give at least one country code", false},
		{"country list missing service", []string{"country", "list"}, "--service is required", false},
		{"service show unknown", []string{"service", "show", "nosuch"}, `no service "nosuch"`, false},
		{"service show no name", []string{"service", "show"}, "give one service name", false},
		{"check bad IP", []string{"check", "192.0.2.300", "--service", "imap"}, `"192.0.2.300" is not an IP address`, false},
		{"check no IP", []string{"check", "--service", "imap"}, "give one IP address", false},
		{"check nothing to check", []string{"check", "192.0.2.7"}, "say what to check: --service NAME, or --port N", false},
		{"check unknown service", []string{"check", "192.0.2.7", "--service", "nosuch"}, `no enforced service "nosuch"`, false},
		{"check bad port", []string{"check", "192.0.2.7", "--port", "70000"}, `--port "70000": want a port number 1-65535`, false},
		{"check bad proto", []string{"check", "192.0.2.7", "--port", "993", "--proto", "sctp"}, `--proto "sctp": want tcp or udp`, false},
		{"stats bad interval", []string{"stats", "--interval", "soon"}, `invalid argument "soon" for "--interval"`, false},
		{"run unexpected argument", []string{"run", "now"}, `run: unexpected argument "now"`, true},
		{"run --check missing config", []string{"run", "--check", "--config", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml: no such file or directory", true},
		{"daemon not running", []string{"status", "--socket", missing}, "the enforcer daemon is not running (no socket at " + missing + "); start it with `enforcer run`", true},
		{"allow add, daemon not running", []string{"allow", "add", "192.0.2.0/24", "--service", "imap", "--socket", missing}, "start it with `enforcer run`", true},
		{"detach while running", []string{"detach"}, "the daemon is running; stop it first", false},
		{"country add UK", []string{"country", "add", "UK", "--service", "imap"}, "the ISO 3166-1 code of the United Kingdom is GB", false},
		{"country add unassigned", []string{"country", "add", "ZZ", "--service", "imap"}, "not an assigned ISO 3166-1 alpha-2 code", false},
		{"allow add config entry", []string{"allow", "add", "203.0.113.0/24", "--service", "imap"}, "203.0.113.0/24 is already in " + a.config + "; nothing to add", false},
		{"deny add config entry", []string{"deny", "add", "198.51.100.40/32"}, "198.51.100.40/32 is already in " + a.config, false},
		{"detach with a broken named config", []string{"detach", "--config", filepath.Join(t.TempDir(), "typo.yaml")}, "typo.yaml: no such file or directory", true},
		{"status with a broken named config", []string{"status", "--config", filepath.Join(t.TempDir(), "typo.yaml")}, "typo.yaml: no such file or directory", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r cliResult
			if tc.raw {
				r = runCLI(t, a.bin, tc.args...)
			} else {
				r = a.cli(t, tc.args...)
			}
			var exit *exec.ExitError
			if !errors.As(r.err, &exit) || exit.ExitCode() == 0 {
				t.Errorf("enforcer %s: %v, want a non-zero exit status\nstdout: %s", strings.Join(tc.args, " "), r.err, r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("enforcer %s: stderr %q, want it to say %q", strings.Join(tc.args, " "), r.stderr, tc.want)
			}
			if !strings.HasPrefix(r.stderr, "enforcer: ") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line starting with \"enforcer: \"", r.stderr)
			}
		})
	}

	after := a.mustStatus(t)
	if after.Revision != before.Revision || after.Table != before.Table || after.Program.ID != before.Program.ID {
		t.Errorf("after the bad commands: revision %d, table %+v, program %d; want them unchanged: %d, %+v, %d",
			after.Revision, after.Table, after.Program.ID, before.Revision, before.Table, before.Program.ID)
	}
	if _, err := os.Stat(a.pinDir); err != nil {
		t.Errorf("after a refused detach: %v", err)
	}
	if x := l.xdp(t); x == nil || x.ProgId != before.Program.ID {
		t.Errorf("after a refused detach %s has XDP %+v, want program %d", serverIface, x, before.Program.ID)
	}
}
