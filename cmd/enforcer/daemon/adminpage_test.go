package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
)

// TestAdminPageHostAllowlist drives the real admin page server: only
// Host values it is reached by directly (loopback or localhost with its
// port) or listed in admin.hosts are answered. Before, any Host was: a
// DNS-rebound page (Host: attacker.example, resolved to 127.0.0.1) could
// read device data through the operator's browser.
func TestAdminPageHostAllowlist(t *testing.T) {
	d := &Daemon{cfg: &config.Config{Admin: config.Admin{Listen: "127.0.0.1:0", Hosts: []string{"localhost:8080", "gw-admin.internal"}}},
		servers: newServers(slog.New(slog.DiscardHandler))}
	if err := d.serveAdminPage(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.servers.Close() })
	_, port, _ := net.SplitHostPort(d.adminAddr.String())
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(host string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+d.adminAddr.String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"[::1]:" + port, true},
		{"localhost:" + port, true},
		{"LOCALHOST:" + port, true},
		{"127.0.0.2:" + port, true},
		{"localhost:8080", true},            // admin.hosts, with its port
		{"gw-admin.internal:" + port, true}, // admin.hosts, any port
		{"gw-admin.internal:1234", true},    // admin.hosts, any port
		{"attacker.example:" + port, false}, // DNS rebinding
		{"attacker.example", false},         // DNS rebinding, port 80
		{"localhost:8081", false},           // another port, not listed
		{"127.0.0.1", false},                // port 80
		{"localhost.attacker.example:" + port, false},
	} {
		status, body := get(tc.host)
		if tc.ok && (status != http.StatusOK || !strings.Contains(body, "enforcer")) {
			t.Errorf("Host %q: %d, want the page", tc.host, status)
		}
		if !tc.ok && status != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d, want 421", tc.host, status)
		}
	}
}
