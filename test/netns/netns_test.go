package netns_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// TestLab builds two namespaces joined by a veth pair and sends UDP both
// ways over IPv4 and IPv6, right after the addresses are added (nodad).
func TestLab(t *testing.T) {
	testenv.RequireRoot(t)
	a := netns.MustNew(t, "a")
	b := netns.MustNew(t, "b")
	netns.MustVeth(t, a, "a0", b, "b0")
	a.MustAddr(t, "a0", netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8::1/64"))
	b.MustAddr(t, "b0", netip.MustParsePrefix("192.0.2.2/24"), netip.MustParsePrefix("2001:db8::2/64"))
	// A routed address on b, reached from a through b's link address.
	b.MustAddr(t, "lo", netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:7::7/128"))
	a.MustRoute(t, netip.MustParsePrefix("198.51.100.0/24"), netip.MustParseAddr("192.0.2.2"))
	a.MustRoute(t, netip.MustParsePrefix("2001:db8:7::/48"), netip.MustParseAddr("2001:db8::2"))

	tests := []struct {
		name     string
		from, to *netns.NS
		src, dst string
	}{
		{"ipv4 a to b", a, b, "192.0.2.1", "192.0.2.2"},
		{"ipv4 b to a", b, a, "192.0.2.2", "192.0.2.1"},
		{"ipv6 a to b", a, b, "2001:db8::1", "2001:db8::2"},
		{"ipv6 b to a", b, a, "2001:db8::2", "2001:db8::1"},
		{"ipv4 routed", a, b, "192.0.2.1", "198.51.100.7"},
		{"ipv6 routed", a, b, "2001:db8::1", "2001:db8:7::7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
			var pc *net.UDPConn
			if err := tc.to.Do(func() (err error) {
				pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pc.Close() })
			to := pc.LocalAddr().(*net.UDPAddr).AddrPort()
			if err := tc.from.Do(func() error {
				c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(to))
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte("ping"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if got := string(buf[:n]); got != "ping" || from.Addr().Unmap() != src {
				t.Errorf("received %q from %v, want %q from %v", got, from, "ping", src)
			}
		})
	}
}

// TestDoRestoresThread runs many Do calls, then checks that the threads
// the runtime hands out afterwards are all in the test's own namespace.
func TestDoRestoresThread(t *testing.T) {
	testenv.RequireRoot(t)
	ns := netns.MustNew(t, "do")
	want := netnsInode(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := ns.Do(func() error {
				if got := netnsInode(t); got == want {
					return errors.New("Do ran in the caller's namespace")
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 64 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got := netnsInode(t); got != want {
				t.Errorf("a thread reused after Do is in namespace %s, want %s", got, want)
			}
		})
	}
	wg.Wait()
}

func TestDoErrors(t *testing.T) {
	testenv.RequireRoot(t)
	ns := netns.MustNew(t, "err")
	sentinel := errors.New("sentinel")
	tests := []struct {
		name string
		f    func() error
		want func(error) bool
	}{
		{"error returned", func() error { return sentinel }, func(err error) bool { return errors.Is(err, sentinel) }},
		{"goexit", func() error { runtime.Goexit(); return nil }, func(err error) bool { return err != nil }},
		{"success", func() error { return nil }, func(err error) bool { return err == nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ns.Do(tc.f); !tc.want(err) {
				t.Errorf("Do() = %v", err)
			}
		})
	}
}

// TestCleanup checks that a test's namespace and veth are gone when it
// ends. They are removed by tb.Cleanup, which testing runs whether the test
// passed, failed or stopped early.
func TestCleanup(t *testing.T) {
	testenv.RequireRoot(t)
	host := netns.MustNew(t, "host")
	var name string
	t.Run("build", func(t *testing.T) {
		ns := netns.MustNew(t, "gone")
		name = ns.Name()
		netns.MustVeth(t, host, "h0", ns, "g0")
		if _, err := os.Stat(ns.Path()); err != nil {
			t.Errorf("namespace not named while its test runs: %v", err)
		}
	})
	if _, err := os.Stat(filepath.Join(netns.NamedDir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still named after its test ended (stat: %v)", name, err)
	}
	if _, err := host.Netlink().LinkByName("h0"); err == nil {
		t.Errorf("veth h0 still exists after its test ended")
	}
}

func netnsInode(t *testing.T) string {
	// The caller's thread, not the process: /proc/thread-self.
	s, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Errorf("read thread namespace: %v", err)
	}
	return s
}
