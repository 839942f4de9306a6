package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/test/testenv"
)

// testDaemon is a real daemon run in-process: the datapath loaded and
// pinned, its one interface absent (nothing is attached, nothing is
// enforced), the admin socket in a temporary directory.
type testDaemon struct {
	sock, config, dbDir string
	yaml                string // the config file as written
}

// mustDaemon starts a testDaemon whose GeoIP database (GeoLite2-Country
// in dbDir) holds entries, built at build, with extra appended to its
// config file; it is stopped and its pins removed when t ends.
func mustDaemon(t *testing.T, entries []geoiptest.Entry, build time.Time, extra string) *testDaemon {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	d := &testDaemon{sock: filepath.Join(dir, "admin.sock"), config: filepath.Join(dir, "enforcer.yaml"), dbDir: filepath.Join(dir, "geoip")}
	if err := os.Mkdir(d.dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	geoiptest.Write(t, filepath.Join(d.dbDir, "GeoLite2-Country.mmdb"), entries, geoiptest.Options{BuildTime: build})
	pinDir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("enforcer-cli-test-%d-%d", os.Getpid(), daemonSeq.Add(1)))
	t.Cleanup(func() {
		if err := loader.Remove(pinDir); err != nil {
			t.Errorf("remove pinned state: %v", err)
		}
	})
	d.yaml = fmt.Sprintf(`interfaces: [{name: %s}]
state_dir: %s
bpffs_dir: %s
geoip:
  database: %s
admin:
  socket: %s
  listen: ""
metrics:
  listen: ""
services:
  - name: imap
    countries: [DE]
`, "enfabsent"+strconv.Itoa(os.Getpid()%100000), strconv.Quote(filepath.Join(dir, "state")), strconv.Quote(pinDir),
		strconv.Quote(filepath.Join(d.dbDir, "GeoLite2-Country.mmdb")), strconv.Quote(d.sock)) + extra
	if err := os.WriteFile(d.config, []byte(d.yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Through the CLI's own `enforcer run` (run.go), the one way the CLI
	// links the daemon in.
	go func() {
		done <- dispatch(ctx, &env{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, lookupEnv: os.LookupEnv}, []string{"run", "--config", d.config})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("enforcer run: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := d.status(t)
		if err == nil {
			return d
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the daemon exited before it answered: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not answer `enforcer status`: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

var daemonSeq atomic.Int32

func (d *testDaemon) status(t *testing.T) (adminapi.Status, error) {
	var st adminapi.Status
	out, errOut, code := cli(t, nil, "status", "--json", "--socket", d.sock)
	if code != 0 {
		return st, fmt.Errorf("status %d: %s", code, errOut)
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// TestGeoIPUpdateReloadsDespiteInvalidConfig runs a real daemon in-process
// (the datapath loaded and pinned; its one interface absent, so nothing is
// attached) and breaks its config file; `enforcer geoip update` then
// installs a newer database, and the daemon puts it in force. Before, the
// update asked for a full reload, which re-read the broken file and failed.
func TestGeoIPUpdateReloadsDespiteInvalidConfig(t *testing.T) {
	entries := []geoiptest.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")}}
	oldBuild := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	newBuild := time.Date(2024, 6, 7, 0, 0, 0, 0, time.UTC)
	d := mustDaemon(t, entries, oldBuild, "")
	if st, err := d.status(t); err != nil || !st.GeoIP.BuildTime.Equal(oldBuild) {
		t.Fatalf("daemon up with GeoIP %+v (%v), want the database built %v", st.GeoIP, err, oldBuild)
	}

	// The operator is half-way through an edit.
	if err := os.WriteFile(d.config, []byte("interfaces: [\n  - name: {{{ not yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "new.mmdb")
	geoiptest.Write(t, path, entries, geoiptest.Options{BuildTime: newBuild})
	newDB, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(&updateServer{db: newDB})
	t.Cleanup(ts.Close)
	conf := filepath.Join(t.TempDir(), "GeoIP.conf")
	if err := os.WriteFile(conf, []byte("AccountID 42\nLicenseKey secret\nEditionIDs GeoLite2-Country\nRetryFor 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, map[string]string{"GEOIPUPDATE_HOST": ts.URL}, "geoip", "update", "-f", conf, "-d", d.dbDir, "--socket", d.sock)
	if code != 0 || errOut != "" {
		t.Fatalf("geoip update with the config file broken: status %d, stderr %q; want 0 and silence", code, errOut)
	}
	st, err := d.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if !st.GeoIP.BuildTime.Equal(newBuild) || st.GeoIP.Error != "" {
		t.Errorf("after geoip update: GeoIP %+v; want the new database, built %v, in force", st.GeoIP, newBuild)
	}

	// A database the daemon cannot read is refused; the one in force stays.
	if err := os.WriteFile(filepath.Join(d.dbDir, "GeoLite2-Country.mmdb"), []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = adminapi.NewClient(d.sock).Do(context.Background(), http.MethodPost, adminapi.PathGeoIPReload, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "the database loaded before stays in force") {
		t.Errorf("GeoIP reload of a broken database: %v; want an error saying the loaded database stays", err)
	}
	if st, err := d.status(t); err != nil || !st.GeoIP.BuildTime.Equal(newBuild) {
		t.Errorf("after the refused GeoIP reload: GeoIP %+v (%v); want the database built %v still in force", st.GeoIP, err, newBuild)
	}
}

// lockedBuffer is the daemon's log, written from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestReloadRefusesRestartOnlySettings: a reload whose file changes a
// setting only a restart applies is refused as a whole, whichever part of
// the daemon owns the setting, and the running configuration stays (the
// deny entry added in the same edit is not applied). Before, the gateway's
// settings (proxy, devices.*) only drew a warning and the rest of the file
// was applied.
func TestReloadRefusesRestartOnlySettings(t *testing.T) {
	d := mustDaemon(t, []geoiptest.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")}},
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), "")
	tests := []struct {
		name, edit, want, setting string
	}{
		{"daemon setting", "metrics:\n  listen: \"\"\n", "metrics:\n  listen: 127.0.0.1:19740\n", "metrics.listen"},
		{"gateway setting", "services:", "devices:\n  allow_mail_if_no_policy: true\nservices:", "devices.allow_mail_if_no_policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edited := strings.Replace(d.yaml, tc.edit, tc.want, 1) + "deny: [198.51.100.7/32]\n"
			if edited == d.yaml+"deny: [198.51.100.7/32]\n" {
				t.Fatalf("the edit %q changed nothing", tc.edit)
			}
			if err := os.WriteFile(d.config, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(d.config, []byte(d.yaml), 0o600) })
			_, errOut, code := cli(t, nil, "reload", "--socket", d.sock)
			if code != 1 || !strings.Contains(errOut, tc.setting) || !strings.Contains(errOut, "take effect only on restart") ||
				!strings.Contains(errOut, "the previous configuration stays in force") {
				t.Errorf("reload: status %d, stderr %q; want 1, naming %s, and the previous configuration kept", code, errOut, tc.setting)
			}
			out, errOut, code := cli(t, nil, "deny", "list", "--json", "--socket", d.sock)
			if code != 0 || strings.Contains(out, "198.51.100.7") {
				t.Errorf("deny list after the refused reload: status %d, %s %s; want the entry of the edit not in force", code, out, errOut)
			}
		})
	}
}
