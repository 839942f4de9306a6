package daemon

import (
	"bytes"
	"encoding/csv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/cmd/enforcer/config"
	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
	"github.com/mailgate/enforcer/l7/proxy"
	"github.com/mailgate/enforcer/l7/transform"
	"github.com/mailgate/enforcer/l7/transform/attach"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "anything", true},
		{"android", "Android", true},
		{"droid", "Android", true}, // no wildcard: contains
		{"android*", "AndroidPhone", true},
		{"android*", "MyAndroid", false},
		{"*@example.com", "jane@example.com", true},
		{"*@example.com", "jane@example.org", false},
		{"i?hone", "iPhone", true},
		{"i?hone", "iPhones", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"*", "", true},
	} {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := strings.Repeat("ab", 20)
	if tok, err := readToken(write("good", good+"\n", 0o600)); err != nil || string(tok) != good {
		t.Errorf("good token: %q, %v", tok, err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"short", "abc\n", "at least 32 characters"},
		{"two lines", good + "\n" + good + "\n", "one line"},
	} {
		if _, err := readToken(write(tc.name, tc.content, 0o600)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := readToken(write("open", good, 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token: %v", err)
	}
	if _, err := readToken(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestDiscoveredCSV(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ds := []device.Discovered{
		{DeviceID: "Z9", User: "=cmd|' /C calc'!A0", DeviceType: "iPhone", LastCommand: eas.Sync, ProtocolVersion: eas.V140,
			SourceIP: netip.MustParseAddr("198.51.100.7"), FirstSeen: now, LastSeen: now, Requests: 3},
		{DeviceID: "A1", FirstSeen: now, LastSeen: now},
	}
	var b bytes.Buffer
	if err := writeDiscoveredCSV(&b, ds); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1][0] != "A1" || rows[2][0] != "Z9" {
		t.Fatalf("rows not sorted by device id: %q", rows)
	}
	if got := rows[2][1]; got != "'=cmd|' /C calc'!A0" {
		t.Errorf("formula not defused: %q", got)
	}
	if rows[2][4] != "Sync" || rows[2][5] != "14.0" || rows[2][6] != "198.51.100.7" || rows[2][9] != "3" {
		t.Errorf("row: %q", rows[2])
	}
}

// TestProxyLimitsMapping: the file's DoS limits reach the proxy; absent
// they take the proxy's defaults, and 0 turns them off.
func TestProxyLimitsMapping(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       proxy.Config
	}{
		{"defaults", "", proxy.Config{MaxConnsPerSource: proxy.DefaultMaxConnsPerSource, HTTP2MaxStreams: proxy.DefaultHTTP2MaxStreams,
			MaxUpstreamConns: proxy.DefaultMaxConns, MinBodyRate: proxy.DefaultMinBodyRate,
			BodyRateWindow: proxy.DefaultBodyRateWindow, BodyTimeout: proxy.DefaultBodyTimeout}},
		{"set", ", max_conns_per_source: 2000, http2_max_streams: 100, max_upstream_conns: 9000, min_body_rate: 512, body_rate_window: 1m, body_timeout: 1h",
			proxy.Config{MaxConnsPerSource: 2000, HTTP2MaxStreams: 100, MaxUpstreamConns: 9000, MinBodyRate: 512,
				BodyRateWindow: time.Minute, BodyTimeout: time.Hour}},
		{"off", ", max_conns_per_source: 0, max_upstream_conns: 0, min_body_rate: 0, body_timeout: 0s",
			proxy.Config{MaxConnsPerSource: -1, HTTP2MaxStreams: proxy.DefaultHTTP2MaxStreams, MaxUpstreamConns: -1, MinBodyRate: -1,
				BodyRateWindow: proxy.DefaultBodyRateWindow, BodyTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("enforcer.yaml", []byte("interfaces: [eth0]\nproxy: {upstream: https://mail, plain_http: true"+tc.yaml+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Proxy.Config.WithDefaults()
			got := proxy.Config{MaxConnsPerSource: c.MaxConnsPerSource, HTTP2MaxStreams: c.HTTP2MaxStreams, MaxUpstreamConns: c.MaxUpstreamConns,
				MinBodyRate: c.MinBodyRate, BodyRateWindow: c.BodyRateWindow, BodyTimeout: c.BodyTimeout}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAttachmentPolicyCSV(t *testing.T) {
	var b bytes.Buffer
	tr := transform.Config{Enabled: true, Attachments: &transform.AttachmentRules{Policy: attach.Policy{
		Managed:   attach.RuleSet{Default: attach.Allow, Rules: []attach.Rule{{Extensions: []string{"exe", "js"}, Action: attach.Block}, {ContentTypes: []string{"application/pdf"}, Action: attach.Encrypt}}},
		Unmanaged: attach.RuleSet{Default: attach.Block}}}}
	if err := writeAttachmentPolicyCSV(&b, tr); err != nil {
		t.Fatal(err)
	}
	want := "devices,order,extensions,content_types,action\nmanaged,1,exe js,,block\nmanaged,2,,application/pdf,encrypt\nmanaged,default,*,*,allow\nunmanaged,default,*,*,block\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// formulaPrefixes are the cell starts every export defuses: OWASP's list
// (with line feed) and NUL.
var formulaPrefixes = []string{"=", "+", "-", "@", "\t", "\r", "\n", "\x00"}

func mustCSVRows(t *testing.T, b *bytes.Buffer) [][]string {
	t.Helper()
	r := csv.NewReader(b)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func checkDefused(t *testing.T, export string, rows [][]string, cols ...int) {
	t.Helper()
	if len(rows) < 2 {
		t.Fatalf("%s: no rows", export)
	}
	for _, row := range rows[1:] {
		for _, c := range cols {
			if row[c] == "" || row[c][0] != '\'' {
				t.Errorf("%s: column %s cell %q is not defused", export, rows[0][c], row[c])
			}
		}
	}
}

// TestExportsFormulaPrefixes: the daemon's CSV exports defuse every
// formula start with the one escaper. Before, a cell starting with a line
// feed or NUL went out bare.
func TestExportsFormulaPrefixes(t *testing.T) {
	now := time.Now()
	var ds []device.Discovered
	st := device.NewStore(device.StoreOptions{MaxDiscovered: 100})
	for i, p := range formulaPrefixes {
		id := p + "dev" + string(rune('a'+i))
		ds = append(ds, device.Discovered{DeviceID: id, User: p + "user", DeviceType: p + "type", UserAgent: p + "agent", FirstSeen: now, LastSeen: now})
		if err := st.Upsert(device.Record{DeviceID: id, User: p + "user" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := writeDiscoveredCSV(&b, ds); err != nil {
		t.Fatal(err)
	}
	checkDefused(t, "discovered.csv", mustCSVRows(t, &b), 0, 1, 2, 3)

	b.Reset()
	if err := writeAccountsCSV(&b, &gateway{store: st}); err != nil {
		t.Fatal(err)
	}
	checkDefused(t, "accounts.csv", mustCSVRows(t, &b), 0, 2)

	b.Reset()
	var rules []attach.Rule
	for _, p := range formulaPrefixes {
		rules = append(rules, attach.Rule{Extensions: []string{p + "exe"}, ContentTypes: []string{p + "application/x"}, Action: attach.Block})
	}
	tr := transform.Config{Enabled: true, Attachments: &transform.AttachmentRules{Policy: attach.Policy{Managed: attach.RuleSet{Default: attach.Allow, Rules: rules}}}}
	if err := writeAttachmentPolicyCSV(&b, tr); err != nil {
		t.Fatal(err)
	}
	rows := mustCSVRows(t, &b)
	checkDefused(t, "attachments.csv", rows[:len(rows)-2], 2, 3) // less the two default rows
}
