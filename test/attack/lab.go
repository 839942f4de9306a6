package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/test/netns"
)

// The lab: three network namespaces, all named enfatk<pid>-<role>.
//
//	gen ─ atk0 ══ veth ══ pro0 ─ pro (the protected host: filter + servers)
//	 │ br0
//	gcl0 ══ veth ══ cli0 ─ cli (the legitimate client)
//
// The generator host doubles as the upstream switch: its bridge joins the
// client's link to the protected link, so legitimate and attack packets
// share pro0's receive ring, as they share a gateway NIC's. The generator
// transmits straight into atk0, never through the bridge. Every address is
// in the benchmarking ranges (RFC 2544's 198.18.0.0/15, RFC 5180's
// 2001:2::/48) or a spoofed source inside a frame; the protected host's
// default route is a blackhole, so even its replies to spoofed sources stay
// in the lab.
const (
	genIface  = "atk0"
	bridge    = "br0"
	genClient = "gcl0"
	cliIface  = "cli0"
	linkBits4 = 24
	linkBits6 = 64
)

var (
	proAddr4 = netip.MustParseAddr("198.18.0.1")
	cliAddr4 = netip.MustParseAddr("198.18.0.2")
	proAddr6 = netip.MustParseAddr("2001:2::1")
	cliAddr6 = netip.MustParseAddr("2001:2::2")
	// labAllow is the client's link, allowlisted.
	labAllow = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("2001:2::/64")}
)

// labPrefix names everything the harness creates, so a run's leftovers
// after a crash name their (dead) owner and the next run removes them.
const labPrefix = "enfatk"

// lab is the namespaces and what runs in them. Close undoes everything,
// in reverse order, once.
type lab struct {
	gen, cli, pro *netns.NS
	proIface      string // the protected veth, named per run: its NAPI thread is "napi/<name>-<id>"
	proMAC        net.HardwareAddr
	genMAC        net.HardwareAddr
	genIndex      int
	pinDir        string // bpffs directory for enforcer's pinned state

	mu       sync.Mutex
	cleanups []func() error
	closed   bool
}

func (l *lab) onClose(f func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

// Close runs the cleanups, newest first, and reports every failure. It is
// safe to call more than once and from a signal handler's goroutine.
func (l *lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		if err := l.cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newLab builds the lab. On failure it removes what it built.
func newLab(geoClient netip.Addr) (l *lab, err error) {
	pid := os.Getpid()
	l = &lab{
		proIface: fmt.Sprintf("pro%d", pid%100000),
		pinDir:   fmt.Sprintf("/sys/fs/bpf/%s-%d", labPrefix, pid),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	l.onClose(func() error { return loader.Remove(l.pinDir) })
	for _, role := range []struct {
		ns   **netns.NS
		name string
	}{{&l.gen, "gen"}, {&l.cli, "cli"}, {&l.pro, "pro"}} {
		ns, err := netns.New(fmt.Sprintf("%s%d-%s", labPrefix, pid, role.name))
		if err != nil {
			return nil, err
		}
		*role.ns = ns
		l.onClose(ns.Delete)
	}
	if err := netns.Veth(l.gen, genIface, l.pro, l.proIface); err != nil {
		return nil, err
	}
	if err := netns.Veth(l.gen, genClient, l.cli, cliIface); err != nil {
		return nil, err
	}
	nl := l.gen.Netlink()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridge}}
	if err := nl.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("create bridge: %w", err)
	}
	for _, port := range []string{genIface, genClient} {
		p, err := nl.LinkByName(port)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", port, err)
		}
		if err := nl.LinkSetMasterByIndex(p, br.Index); err != nil {
			return nil, fmt.Errorf("add %s to the bridge: %w", port, err)
		}
	}
	if err := l.gen.SetUp(bridge); err != nil {
		return nil, err
	}

	if err := l.pro.Addr(l.proIface, netip.PrefixFrom(proAddr4, linkBits4), netip.PrefixFrom(proAddr6, linkBits6)); err != nil {
		return nil, err
	}
	if err := l.cli.Addr(cliIface, netip.PrefixFrom(cliAddr4, linkBits4), netip.PrefixFrom(cliAddr6, linkBits6),
		netip.PrefixFrom(geoClient, 32)); err != nil {
		return nil, err
	}
	if err := l.pro.Route(netip.PrefixFrom(geoClient, 32), cliAddr4); err != nil {
		return nil, err
	}
	// Replies to spoofed sources end here (no route leaves the lab).
	for _, dst := range []string{"0.0.0.0/0", "::/0"} {
		_, n, _ := net.ParseCIDR(dst)
		if err := l.pro.Netlink().RouteAdd(&netlink.Route{Dst: n, Type: unix.RTN_BLACKHOLE}); err != nil {
			return nil, fmt.Errorf("add blackhole route %s: %w", dst, err)
		}
	}
	// rp_filter would silently drop unroutable spoofed sources in the
	// unfiltered baseline; SYN cookies are what a host under a SYN flood
	// relies on.
	for key, val := range map[string]string{
		"net/ipv4/conf/all/rp_filter":                "0",
		"net/ipv4/conf/default/rp_filter":            "0",
		"net/ipv4/conf/" + l.proIface + "/rp_filter": "0",
		"net/ipv4/tcp_syncookies":                    "1",
	} {
		if err := l.pro.Sysctl(key, val); err != nil {
			return nil, err
		}
	}
	pl, err := l.pro.Netlink().LinkByName(l.proIface)
	if err != nil {
		return nil, err
	}
	gl, err := l.gen.Netlink().LinkByName(genIface)
	if err != nil {
		return nil, err
	}
	l.proMAC, l.genMAC, l.genIndex = pl.Attrs().HardwareAddr, gl.Attrs().HardwareAddr, gl.Attrs().Index
	if err := l.prepareLinks(); err != nil {
		return nil, err
	}
	return l, nil
}

// prepareLinks gives the protected veth a NAPI receive ring served by a
// kernel thread of its own, as a NIC queue has, and lets the generator's
// frames into it:
//   - GRO on pro0 turns on veth's NAPI mode (a ring of 256 frames polled
//     by NAPI, the mode XDP native uses too) for every enforcer, and is
//     what receives the generator's XDP frames at all (ndo_xdp_xmit needs
//     the peer's NAPI);
//   - threaded NAPI moves the polling from the sender's softirq into
//     "napi/<iface>-<id>", which is pinned to the protected CPU, so the
//     receive path's CPU time is measured on its own;
//   - TSO off on atk0 lets the bridged client's skbs into the same ring
//     (veth only queues TSO-capable senders' skbs there with XDP on).
//
// Attaching or detaching native XDP changes atk0's features, so this runs
// again before every method.
func (l *lab) prepareLinks() error {
	for _, c := range [][]string{
		{l.pro.Name(), "ethtool", "-K", l.proIface, "gro", "on"},
		{l.gen.Name(), "ethtool", "-K", genIface, "tso", "off"},
		{l.pro.Name(), "sh", "-c", "echo 1 > /sys/class/net/" + l.proIface + "/threaded"},
	} {
		if err := nsRun(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// nsRun runs a command inside the named namespace.
func nsRun(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nsOutput runs a command inside the named namespace and returns its
// standard output.
func nsOutput(ns string, args ...string) (string, error) {
	var stderr strings.Builder
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// linkStats reads pro0's counters: frames the generator and the bridge
// put into its ring, and frames refused because the ring was full.
func (l *lab) linkStats() (rx, ringFull uint64, err error) {
	pl, err := l.pro.Netlink().LinkByName(l.proIface)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s counters: %w", l.proIface, err)
	}
	s := pl.Attrs().Statistics
	if s == nil {
		return 0, 0, fmt.Errorf("read %s counters: none reported", l.proIface)
	}
	return s.RxPackets, s.RxDropped, nil
}

// genTxDropped reads the frames the generator's veth refused to hand to its
// peer (a full receive queue on the protected side is counted here too).
func (l *lab) genTxDropped() (uint64, error) {
	gl, err := l.gen.Netlink().LinkByName(genIface)
	if err != nil {
		return 0, fmt.Errorf("read %s counters: %w", genIface, err)
	}
	if s := gl.Attrs().Statistics; s != nil {
		return s.TxDropped, nil
	}
	return 0, fmt.Errorf("read %s counters: none reported", genIface)
}

// alive reports whether process pid exists and is not a zombie (a killed
// run whose parent has not reaped it). A thread's id is not a process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	leader, zombie := false, false
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			leader = strings.TrimSpace(v) == strconv.Itoa(pid)
		}
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			zombie = strings.HasPrefix(strings.TrimSpace(v), "Z")
		}
	}
	return leader && !zombie
}

var staleName = regexp.MustCompile(`^` + labPrefix + `(\d+)(-(gen|cli|pro))?$`)

// removeStale deletes namespaces and pinned state left by earlier runs
// whose process is gone (killed before it could clean up).
func removeStale() error {
	var errs []error
	dead := func(name string) bool {
		m := staleName.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, _ := strconv.Atoi(m[1])
		return pid != os.Getpid() && !alive(pid)
	}
	if ents, err := os.ReadDir(netns.NamedDir); err == nil {
		for _, e := range ents {
			if dead(e.Name()) {
				fmt.Fprintf(os.Stderr, "attack: removing namespace %s left by a dead run\n", e.Name())
				if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("delete stale namespace %s: %w: %s", e.Name(), err, out))
				}
			}
		}
	}
	if ents, err := os.ReadDir("/sys/fs/bpf"); err == nil {
		for _, e := range ents {
			if dead(e.Name()) {
				fmt.Fprintf(os.Stderr, "attack: removing /sys/fs/bpf/%s left by a dead run\n", e.Name())
				errs = append(errs, loader.Remove(filepath.Join("/sys/fs/bpf", e.Name())))
			}
		}
	}
	return errors.Join(errs...)
}
