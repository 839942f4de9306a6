package e2e_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/netns"
)

const (
	serverIface = "srv0"
	clientIface = "cli0"

	tcpService   = 1 // imaps on tcp/993
	udpService   = 2 // udp/443, limited to the server's main addresses
	tcpProtected = 993
	udpProtected = 443
	tcpOpen      = 8080
	udpOpen      = 8443

	udpPayload = 32 // bytes per test datagram

	// dropTimeout bounds a connection attempt expected to be dropped. It is
	// below the 1 s initial SYN retransmission timeout (RFC 6298 sec. 2), so
	// each attempt sends one SYN.
	dropTimeout = 300 * time.Millisecond
	// passTimeout bounds an exchange expected to succeed.
	passTimeout = 3 * time.Second
	// waitTimeout bounds polling for counters and arrivals.
	waitTimeout = 5 * time.Second
)

// family is one IP version's addressing in the lab.
type family struct {
	name      string
	server    netip.Addr // the protected address on srv0
	serverAlt netip.Addr // a second address on srv0, outside udpService's destinations
	client    netip.Addr // cli0's link address, the server's gateway
	bits      int        // link prefix length
	ipHeader  int        // bytes of IP header in our packets
}

var families = []family{
	{"ipv4", addr("192.0.2.1"), addr("192.0.2.100"), addr("192.0.2.2"), 24, 20},
	{"ipv6", addr("2001:db8::1"), addr("2001:db8::100"), addr("2001:db8::2"), 64, 40},
}

// udpFrame is the Ethernet frame length of one test datagram: what the
// datapath counts as bytes.
func (f family) udpFrame() uint64 { return uint64(14 + f.ipHeader + 8 + udpPayload) }

// source is one client address and what the policy does with it.
type source struct {
	name    string
	v4, v6  netip.Addr
	country string // in the lab's country table; "" for none
	action  policy.Action
	reason  policy.Reason
}

func (s source) addr(f family) netip.Addr {
	if f.server.Is4() {
		return s.v4
	}
	return s.v6
}

func (s source) pass() bool { return s.action == policy.Pass }

// sources has one address per verdict of a geofenced service. The
// allowlisted source sits in a country outside the set and the deny-listed
// one in a country inside it, so the order of the checks shows.
var sources = []source{
	{"allowlisted", addr("203.0.113.10"), addr("2001:db8:10::10"), "US", policy.Pass, policy.ReasonAllowlist},
	{"allowed-country", addr("198.51.100.10"), addr("2001:db8:20::10"), "DE", policy.Pass, policy.ReasonCountry},
	{"other-country", addr("198.51.100.20"), addr("2001:db8:30::10"), "BR", policy.Drop, policy.ReasonNotInSet},
	{"no-country", addr("198.51.100.30"), addr("2001:db8:40::10"), "", policy.Drop, policy.ReasonNoCountry},
	{"deny-listed", addr("198.51.100.40"), addr("2001:db8:50::10"), "DE", policy.Drop, policy.ReasonDeny},
}

// labPolicy protects tcp/993 and udp/443 (the latter only to the server's
// main addresses) for the allowlist and DE, AT and CH, with a hand-written
// country table covering the sources.
func labPolicy() *policy.Policy {
	allow := []netip.Prefix{prefix("203.0.113.0/24"), prefix("2001:db8:10::/48")}
	countries := []string{"AT", "CH", "DE"}
	p := &policy.Policy{
		Services: []policy.Service{
			{ID: tcpService, Name: "imaps", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{tcpProtected},
				Allow: allow, Countries: countries, Geofenced: true},
			{ID: udpService, Name: "quic", Protocols: []policy.Proto{policy.UDP}, Ports: []uint16{udpProtected},
				Destinations: []netip.Prefix{prefix("192.0.2.1/32"), prefix("2001:db8::1/128")},
				Allow:        allow, Countries: countries, Geofenced: true},
		},
		Deny: []netip.Prefix{prefix("198.51.100.40/32"), prefix("2001:db8:50::/48")},
	}
	for _, s := range sources {
		if s.country == "" {
			continue
		}
		p.Networks = append(p.Networks,
			policy.Network{Prefix: netip.PrefixFrom(s.v4, 32), Country: s.country},
			policy.Network{Prefix: netip.PrefixFrom(s.v6, 48).Masked(), Country: s.country})
	}
	return p
}

// lab is the client and server namespaces with the servers running.
type lab struct {
	client, server *netns.NS
	tcp, tcpOpen   *tcpServer
	udp, udpOpen   *udpServer
}

func mustLab(tb testing.TB) *lab {
	tb.Helper()
	l := &lab{client: netns.MustNew(tb, "client"), server: netns.MustNew(tb, "server")}
	netns.MustVeth(tb, l.server, serverIface, l.client, clientIface)
	for _, f := range families {
		l.server.MustAddr(tb, serverIface, netip.PrefixFrom(f.server, f.bits), netip.PrefixFrom(f.serverAlt, f.bits))
		l.client.MustAddr(tb, clientIface, netip.PrefixFrom(f.client, f.bits))
		for _, s := range sources {
			a := s.addr(f)
			l.client.MustAddr(tb, clientIface, netip.PrefixFrom(a, a.BitLen()))
		}
		l.server.MustRoute(tb, netip.PrefixFrom(f.client, 0).Masked(), f.client)
	}
	l.tcp = mustTCPServer(tb, l.server, tcpProtected)
	l.tcpOpen = mustTCPServer(tb, l.server, tcpOpen)
	l.udp = mustUDPServer(tb, l.server, udpProtected)
	l.udpOpen = mustUDPServer(tb, l.server, udpOpen)
	return l
}

// xdp is what the kernel reports about the XDP program on the server's
// interface.
func (l *lab) xdp(tb testing.TB) *netlink.LinkXdp {
	tb.Helper()
	ln, err := l.server.Netlink().LinkByName(serverIface)
	if err != nil {
		tb.Fatalf("query %s: %v", serverIface, err)
	}
	if x := ln.Attrs().Xdp; x != nil && x.Attached {
		return x
	}
	return nil
}

// tcpExchange connects from src to dst inside the client namespace, sends a
// line and expects the server's answer and end of stream.
func (l *lab) tcpExchange(src netip.Addr, dst netip.AddrPort, timeout time.Duration) error {
	return l.client.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err := d.Dial("tcp", dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(passTimeout))
		line := "hello from " + src.String() + "\n"
		if _, err := io.WriteString(c, line); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if want := "ok " + line; string(got) != want {
			return fmt.Errorf("server answered %q, want %q", got, want)
		}
		return nil
	})
}

// sendUDP sends n datagrams of udpPayload bytes from src to dst inside the
// client namespace.
func (l *lab) sendUDP(src netip.Addr, dst netip.AddrPort, n int) error {
	return l.client.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		msg := []byte(strings.Repeat("x", udpPayload))
		for range n {
			if _, err := c.Write(msg); err != nil {
				return fmt.Errorf("send to %v: %w", dst, err)
			}
		}
		return nil
	})
}

// tally counts events by source address.
type tally struct {
	mu sync.Mutex
	m  map[netip.Addr]int
}

func (t *tally) add(a netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[netip.Addr]int{}
	}
	t.m[a.Unmap()]++
}

func (t *tally) snapshot() map[netip.Addr]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.m)
}

// tcpServer answers one line per connection with "ok " and the line, then
// closes; it counts accepted connections by source.
type tcpServer struct {
	ln       net.Listener
	accepted tally
	wg       sync.WaitGroup
}

func mustTCPServer(tb testing.TB, ns *netns.NS, port uint16) *tcpServer {
	tb.Helper()
	s := &tcpServer{}
	// Dual-stack wildcard: IPv4 peers appear as IPv4-mapped addresses.
	if err := ns.Do(func() (err error) {
		s.ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		tb.Fatalf("listen on tcp/%d: %v", port, err)
	}
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted.add(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr())
			s.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(passTimeout))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(c, "ok "+line)
			})
		}
	})
	tb.Cleanup(func() {
		s.ln.Close()
		s.wg.Wait()
	})
	return s
}

// udpServer counts datagrams by source.
type udpServer struct {
	pc       *net.UDPConn
	received tally
	wg       sync.WaitGroup
}

func mustUDPServer(tb testing.TB, ns *netns.NS, port uint16) *udpServer {
	tb.Helper()
	s := &udpServer{}
	if err := ns.Do(func() (err error) {
		s.pc, err = net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
		return err
	}); err != nil {
		tb.Fatalf("listen on udp/%d: %v", port, err)
	}
	s.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := s.pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.received.add(from.Addr())
		}
	})
	tb.Cleanup(func() {
		s.pc.Close()
		s.wg.Wait()
	})
	return s
}

var pinSeq atomic.Uint64

// mustPinDir names a fresh bpffs directory for a datapath's pins and removes
// whatever is pinned there (detaching its XDP links) when tb ends.
func mustPinDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("enforcer-e2e-%d-%d", os.Getpid(), pinSeq.Add(1)))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("pin directory %s already exists (stat: %v)", dir, err)
	}
	tb.Cleanup(func() {
		if err := loader.Remove(dir); err != nil {
			tb.Errorf("remove pinned state: %v", err)
		}
	})
	return dir
}

// mustLoad loads the datapath with its pins in pinDir; the process's handles
// are closed when tb ends (the pins are mustPinDir's to remove).
func mustLoad(tb testing.TB, pinDir string) *loader.Datapath {
	tb.Helper()
	d, err := loader.Load(loader.Options{PinDir: pinDir})
	if err != nil {
		tb.Fatalf("load datapath: %+v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// attach attaches d to the server's interface from inside its namespace.
func (l *lab) attach(d *loader.Datapath, mode loader.Mode) (loader.Mode, error) {
	var got loader.Mode
	err := l.server.Do(func() (err error) {
		got, err = d.Attach(serverIface, mode)
		return err
	})
	return got, err
}

func progID(tb testing.TB, d *loader.Datapath) uint32 {
	tb.Helper()
	info, err := d.Program().Info()
	if err != nil {
		tb.Fatalf("program info: %v", err)
	}
	id, ok := info.ID()
	if !ok {
		tb.Fatal("program info: no id")
	}
	return uint32(id)
}

// waitFor polls cond until it returns nil or waitTimeout passes.
func waitFor(tb testing.TB, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still not so after %v: %v", what, waitTimeout, err)
		}
		<-tick.C
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
