package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// The mail server behind the gateway (issue 10, item 3): a third namespace
// the gateway routes to, so a client can try to go around the proxy.
var (
	gwInner  = netip.MustParsePrefix("10.66.0.1/24") // the gateway's address towards the mail server
	mailAddr = netip.MustParseAddr("10.66.0.10")
	mailPort = uint16(8081)
)

// mustMailNS adds the mail server's namespace behind the lab's server
// (here the gateway), routed from the client namespace through it.
func mustMailNS(t *testing.T, l *lab) *netns.NS {
	t.Helper()
	mail := netns.MustNew(t, "mail")
	netns.MustVeth(t, l.server, "int0", mail, "lan0")
	l.server.MustAddr(t, "int0", gwInner)
	mail.MustAddr(t, "lan0", netip.PrefixFrom(mailAddr, gwInner.Bits()))
	mail.MustRoute(t, netip.MustParsePrefix("0.0.0.0/0"), gwInner.Addr())
	l.client.MustRoute(t, gwInner.Masked(), families[0].server)
	if err := l.server.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	return mail
}

// dial is a probe: a TCP connection from src in the client namespace to
// dst is established within timeout.
func (l *lab) dial(src netip.Addr, dst netip.AddrPort, timeout time.Duration) error {
	return l.client.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err := d.Dial("tcp", dst.String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// dialDropped is a probe: the connection times out, its SYN dropped.
func (l *lab) dialDropped(src netip.Addr, dst netip.AddrPort) error {
	err := l.dial(src, dst, dropTimeout)
	switch {
	case err == nil:
		return fmt.Errorf("a connection from %v to %v was established", src, dst)
	case isTimeout(err):
		return nil
	}
	return err
}

// TestUpstreamBypassDropped: with the proxy on, a client in an allowed
// country that connects to the mail server's address and port directly,
// through the gateway, is dropped (counted under the derived "upstream"
// service), while its ActiveSync through the proxy reaches the mail
// server; proxy.upstream_allow and `allow add --service upstream` let
// chosen sources through.
func TestUpstreamBypassDropped(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	mailNS := mustMailNS(t, l)
	upstream := netip.AddrPortFrom(mailAddr, mailPort)
	mail := mustMailServerOn(t, mailNS, upstream.String())
	a := mustAppliance(t, l, applianceOptions{extra: gatewayConfigTo(t, "http://"+upstream.String(),
		"  upstream_allow: [{cidr: 203.0.113.0/24, comment: the lab's relay}]\n")})
	a.start(t, a.bin)
	de := sourceNamed(t, "allowed-country").v4
	relay := sourceNamed(t, "allowlisted").v4
	other := sourceNamed(t, "other-country").v4

	t.Run("run --check has no warning", func(t *testing.T) {
		r := runCLI(t, a.bin, "run", "--check", "--config", a.config)
		if r.err != nil || strings.Contains(r.stderr, "warning") {
			t.Errorf("run --check: %v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
		}
	})

	t.Run("run --check warns when protection is off", func(t *testing.T) {
		b, err := os.ReadFile(a.config)
		if err != nil {
			t.Fatal(err)
		}
		off := strings.Replace(string(b), "  upstream_allow: [{cidr: 203.0.113.0/24, comment: the lab's relay}]\n", "  protect_upstream: false\n", 1)
		path := filepath.Join(t.TempDir(), "off.yaml")
		if err := os.WriteFile(path, []byte(off), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, a.bin, "run", "--check", "--config", path)
		want := fmt.Sprintf("enforcer: warning: tcp %v is proxy.upstream, and no service protects it", upstream)
		if r.err != nil || !strings.Contains(r.stderr, want) {
			t.Errorf("run --check with protect_upstream: false: %v\nstderr: %s\nwant a warning %q", r.err, r.stderr, want)
		}
	})

	t.Run("direct connection dropped", func(t *testing.T) {
		before := a.stats(t)
		for _, src := range []netip.Addr{de, other} {
			if err := l.dialDropped(src, upstream); err != nil {
				t.Errorf("from %v straight to the mail server %v: %v", src, upstream, err)
			}
		}
		a.waitStats(t, upstreamService, before, map[statKey]uint64{{upstreamService, "drop", "not-in-set"}: 2})
	})

	t.Run("the same client syncs through the proxy", func(t *testing.T) {
		l.push(t, http.MethodPut, "/v1/devices/GOODPHONE", map[string]any{
			"device_id": "GOODPHONE", "user": "jane@example.com", "managed": true,
			"compromised": "no", "encrypted": "yes", "platform": "Apple", "model": "iPhone 15", "os_version": "17.4",
		})
		res, err := l.easSync(de, "GOODPHONE", "jane@example.com", passTimeout)
		if err != nil || res.status != http.StatusOK || res.easStatus != "1" {
			t.Fatalf("Sync through the proxy from %v: %+v, %v; want 200 with Status 1", de, res, err)
		}
		if n := mail.count("GOODPHONE"); n != 1 {
			t.Errorf("the mail server saw %d Syncs of GOODPHONE, want 1", n)
		}
	})

	t.Run("upstream_allow reaches the mail server directly", func(t *testing.T) {
		if err := l.dial(relay, upstream, passTimeout); err != nil {
			t.Errorf("from the allowlisted %v to %v: %v", relay, upstream, err)
		}
	})

	t.Run("explained by service show and check", func(t *testing.T) {
		var v adminapi.ServiceView
		a.cliJSON(t, &v, "service", "show", upstreamService)
		if v.Derived != "proxy.upstream" || v.Geofenced || len(v.Ports) != 1 || v.Ports[0] != mailPort ||
			len(v.Destinations) != 1 || v.Destinations[0] != mailAddr.String()+"/32" || len(v.Allow) != 1 {
			t.Errorf("service show upstream: %+v", v)
		}
		out := a.mustCLI(t, "service", "show", upstreamService)
		if !strings.Contains(out, "derived from proxy.upstream") {
			t.Errorf("service show upstream:\n%s\nwant it to say where it comes from", out)
		}
		var c adminapi.CheckResult
		a.cliJSON(t, &c, "check", de.String(), "--service", upstreamService)
		if c.Verdict != "drop" || c.Service != upstreamService || !strings.Contains(c.Rule, "admits only its allowlist") {
			t.Errorf("check %v --service upstream: %+v", de, c)
		}
	})

	t.Run("allow add --service upstream", func(t *testing.T) {
		a.mustCLI(t, "allow", "add", de.String(), "--service", upstreamService, "--comment", "lab host")
		inForceWithin(t, "the added source reaches the mail server", time.Now(), func() error { return l.dial(de, upstream, probeTimeout) })
	})
}

// upstreamService is config.ServiceUpstream, spelled out: the name
// operators type.
const upstreamService = "upstream"
