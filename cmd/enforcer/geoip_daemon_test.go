package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/daemon"
	"github.com/mailgate/enforcer/geoip/geoiptest"
	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/test/testenv"
)

// TestGeoIPUpdateReloadsDespiteInvalidConfig runs a real daemon in-process
// (the datapath loaded and pinned; its one interface absent, so nothing is
// attached) and breaks its config file; `enforcer geoip update` then
// installs a newer database, and the daemon puts it in force. Before, the
// update asked for a full reload, which re-read the broken file and failed.
func TestGeoIPUpdateReloadsDespiteInvalidConfig(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	dbDir := filepath.Join(dir, "geoip")
	if err := os.Mkdir(dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries := []geoiptest.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Record: geoiptest.CountryRecord("DE")}}
	oldBuild := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	newBuild := time.Date(2024, 6, 7, 0, 0, 0, 0, time.UTC)
	geoiptest.Write(t, filepath.Join(dbDir, "GeoLite2-Country.mmdb"), entries, geoiptest.Options{BuildTime: oldBuild})

	pinDir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("enforcer-cli-test-%d", os.Getpid()))
	t.Cleanup(func() {
		if err := loader.Remove(pinDir); err != nil {
			t.Errorf("remove pinned state: %v", err)
		}
	})
	sock := filepath.Join(dir, "admin.sock")
	cfgPath := filepath.Join(dir, "enforcer.yaml")
	cfg := fmt.Sprintf(`interfaces: [{name: %s}]
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
		strconv.Quote(filepath.Join(dbDir, "GeoLite2-Country.mmdb")), strconv.Quote(sock))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, daemon.Options{ConfigPath: cfgPath, Version: "test", Log: &logs}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	status := func() (daemon.Status, error) {
		var st daemon.Status
		out, errOut, code := cli(t, nil, "status", "--json", "--socket", sock)
		if code != 0 {
			return st, fmt.Errorf("status %d: %s", code, errOut)
		}
		return st, json.Unmarshal([]byte(out), &st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := status()
		if err == nil {
			if !st.GeoIP.BuildTime.Equal(oldBuild) {
				t.Fatalf("daemon up with the GeoIP database built %v, want %v", st.GeoIP.BuildTime, oldBuild)
			}
			break
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

	// The operator is half-way through an edit.
	if err := os.WriteFile(cfgPath, []byte("interfaces: [\n  - name: {{{ not yaml\n"), 0o600); err != nil {
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
	conf := filepath.Join(dir, "GeoIP.conf")
	if err := os.WriteFile(conf, []byte("AccountID 42\nLicenseKey secret\nEditionIDs GeoLite2-Country\nRetryFor 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, map[string]string{"GEOIPUPDATE_HOST": ts.URL}, "geoip", "update", "-f", conf, "-d", dbDir, "--socket", sock)
	if code != 0 || errOut != "" {
		t.Fatalf("geoip update with the config file broken: status %d, stderr %q; want 0 and silence", code, errOut)
	}
	st, err := status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.GeoIP.BuildTime.Equal(newBuild) || st.GeoIP.Error != "" {
		t.Errorf("after geoip update: GeoIP %+v; want the new database, built %v, in force", st.GeoIP, newBuild)
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
